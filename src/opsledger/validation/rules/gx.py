"""Each rule's expectations on its frame, as batches for great-expectations.

GX sees a row id and the columns the expectations read, each named ``<frame>__<column>``; frames
smaller than :data:`SMALL_FRAME_ROWS` are validated together in one batch (fewer GX round trips,
which cost more than the rows), larger ones in a batch of their own. String columns compared as a
pair are handed over as 52-bit hashes (:data:`HASH_MASK`), so a million rows of Python strings never
reach pandas. A large frame is handed over as soon as it is built; when its expectations judge each
row by its own values, GX sees its distinct value combinations only (see :func:`run`). Where and how
GX runs (a worker process importing it while the frames are built, or this process; its result
formats) is :mod:`opsledger.validation.gxworker`: it returns the row ids of the failing rows, and the rows
themselves are looked up here."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from opsledger.errors import DeclarationError
from opsledger.validation.gxworker import Refused, Verdict, engine
from opsledger.validation.rules.base import COLUMN_KWARGS, COLUMN_LIST_KWARGS, Expectation, Rule

SMALL_FRAME_ROWS = 50_000

PAIR_TYPES = ("expect_column_pair_values_to_be_equal", "expect_column_pair_values_a_to_be_greater_than_b")


@dataclass
class Result:
    rule: Rule
    expectation: Expectation
    success: bool
    failing: pl.DataFrame  # the failing rows of the frame (all its columns)
    error: str | None = None  # the expectation could not run


def _renamed(kwargs: dict, frame: str) -> dict:
    out = {**kwargs}
    for k in COLUMN_KWARGS:
        if k in out:
            out[k] = f"{frame}__{out[k]}"
    for k in COLUMN_LIST_KWARGS:
        if k in out:
            out[k] = [f"{frame}__{c}" for c in out[k]]
    return out


def _parameter_names(obj) -> list[str]:
    """Names of the ``{"$PARAMETER": name}`` references anywhere in ``obj``."""
    if isinstance(obj, dict):
        if "$PARAMETER" in obj:
            return [obj["$PARAMETER"]]
        return [n for v in obj.values() for n in _parameter_names(v)]
    if isinstance(obj, list):
        return [n for v in obj for n in _parameter_names(v)]
    return []


#: string pairs are compared as hashes masked to 52 bits: exact in pandas' float64 (nulls become NaN),
#: and a collision (two different strings, one hash) has odds of about 1 in 4.5e15 per row
HASH_MASK = (1 << 52) - 1


def compact_pairs(df: pl.DataFrame, pairs: list[tuple[str, str]]) -> pl.DataFrame:
    """String columns compared as pairs, as 52-bit hashes (equal strings give equal hashes; null
    stays null), so a million rows of Python strings never reach pandas."""
    cols = {c for a, b in pairs for c in (a, b) if df.schema.get(a) == pl.Utf8 and df.schema.get(b) == pl.Utf8}
    return df.with_columns(
        pl.when(pl.col(c).is_not_null()).then((pl.col(c).hash(seed=0) & HASH_MASK).cast(pl.Int64)).alias(c)
        for c in cols)


#: expectations that see the nulls of other frames' rows in a shared batch as data
NULL_SENSITIVE = ("expect_column_values_to_not_be_null",)

#: the ``ignore_row_if`` under which a column-pair or multicolumn expectation judges a row whose
#: columns are all null (the defaults, ``both_values_are_missing`` and ``all_values_are_missing``, skip it)
_JUDGES_ALL_NULL = {"neither", "never"}


def null_sensitive(e: Expectation) -> bool:
    """Whether ``e`` would judge the rows of other frames in a shared batch (all null in its columns):
    such an expectation gets a batch of its frame's own. In a shared batch it would fail on every other
    frame's row (those rows are dropped afterwards, so the findings would be the same), and GX would
    then list each of them, one row at a time: 4 s for 30,000 rows."""
    return e.type in NULL_SENSITIVE or e.kwargs.get("ignore_row_if") in _JUDGES_ALL_NULL

#: expectations whose verdict on a row depends on that row's values alone (so GX needs to see each
#: distinct combination of values once); not so a uniqueness expectation, nor any with ``mostly``
ROW_WISE = (*PAIR_TYPES, "expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set",
            "expect_column_values_to_be_between", "expect_column_values_to_not_be_null",
            "expect_column_values_to_be_null")


def _row_wise(exps: list[tuple[Rule, Expectation]]) -> bool:
    return all(e.type in ROW_WISE and "mostly" not in e.kwargs for _, e in exps)


def _spread(result: Result, frame: pl.DataFrame) -> Result:
    """A result found on the distinct rows of ``frame``, for all its rows: every row with the values
    of a failing row (in the expectation's columns) fails as that row does."""
    if result.success or result.failing.is_empty():
        return result
    cols = result.expectation.columns()
    failing = frame.join(result.failing.select(cols).unique(), on=cols, how="semi", nulls_equal=True)
    return Result(result.rule, result.expectation, result.success, failing, result.error)


def run(rules: list[Rule], frame_of: Callable[[str], pl.DataFrame], parameters: dict) -> list[Result]:
    """Run every expectation of ``rules`` on its frame (``frame_of(name)`` builds it); one
    :class:`Result` per expectation, in the order of ``rules``.

    Batches go to the engine of this validation (:func:`opsledger.validation.gxworker.engine`: a worker process
    that imports great-expectations while the frames are built, or this process). A large frame is
    handed over as soon as it is built; the answer for it is taken before the next large one is handed
    over, so at most two large frames are held at a time. When all its expectations judge a row by
    its own values (:data:`ROW_WISE`), GX sees each distinct combination of the values they read
    once, and the verdict on it holds for every row that has it. Small frames go together, in a batch
    handed over once they hold :data:`SMALL_FRAME_ROWS` rows (and at the end)."""
    if not rules:
        return []
    used = set(_parameter_names([e.kwargs for r in rules for e in r.expectations]))
    missing = used - set(parameters)
    if missing:
        r = next(r for r in rules for e in r.expectations if set(_parameter_names(e.kwargs)) & missing)
        raise DeclarationError(f"{r.origin}: rule {r.name}: unknown parameter(s) {', '.join(sorted(missing))} "
                               f"(known: {', '.join(sorted(parameters))})")
    params = {k: v.to_list() if isinstance(v, pl.Series) else v for k, v in parameters.items() if k in used}
    by_frame: dict[str, list[tuple[Rule, Expectation]]] = defaultdict(list)
    for r in rules:
        for e in r.expectations:
            by_frame[r.frame_name].append((r, e))
    order = {id(e): i for i, e in enumerate(e for r in rules for e in r.expectations)}
    small: list[tuple[str, pl.DataFrame]] = []
    kept: dict[str, pl.DataFrame] = {}
    spread: set[str] = set()  # the small frames the batch holds the distinct rows of
    out: list[Result] = []
    with engine() as eng:
        eng.set_params(params)
        waiting: list[_Batch] = []
        for name, exps in by_frame.items():
            frame = frame_of(name)
            cols = sorted({c for _, e in exps for c in e.columns()})
            pairs = [(e.kwargs["column_A"], e.kwargs["column_B"]) for _, e in exps if e.type in PAIR_TYPES]
            narrow = compact_pairs(frame.select(cols), pairs).select(
                pl.col(c).alias(f"{name}__{c}") for c in cols).with_row_index("_row").with_columns(
                pl.lit(name).alias("_frame"))
            large = narrow.height >= SMALL_FRAME_ROWS  # (a large frame is not kept until the end)
            distinct = _row_wise(exps)
            if distinct:
                narrow = narrow.unique(subset=[f"{name}__{c}" for c in cols], keep="any", maintain_order=False)
            if large or any(null_sensitive(e) for _, e in exps):
                if large and any(b.large for b in waiting):
                    out += [res for b in waiting for res in b.results(eng)]  # the answer for the large one before
                    waiting = []
                waiting.append(_Batch.submit(eng, narrow, exps, {name: frame}, {name} if distinct else set(), large))
            else:
                small.append((name, narrow))
                kept[name] = frame
                if distinct:
                    spread.add(name)
            del frame, narrow
            if sum(df.height for _, df in small) >= SMALL_FRAME_ROWS:  # enough small frames for a batch
                waiting.append(_small_batch(eng, small, by_frame, kept, spread))
                small, kept, spread = [], {}, set()
            while waiting and waiting[0].ready(eng):  # answered: keep the failing rows only
                out += waiting.pop(0).results(eng)
        if small:
            waiting.append(_small_batch(eng, small, by_frame, kept, spread))
        out += [res for b in waiting for res in b.results(eng)]
    return sorted(out, key=lambda res: order[id(res.expectation)])


def _small_batch(eng, small: list[tuple[str, pl.DataFrame]], by_frame: dict[str, list[tuple[Rule, Expectation]]],
                 kept: dict[str, pl.DataFrame], spread: set[str]) -> _Batch:
    """Small frames handed over together, as one batch."""
    exps = [x for name, _ in small for x in by_frame[name]]
    return _Batch.submit(eng, pl.concat([df for _, df in small], how="diagonal"), exps, kept, spread)


def _arrow(df: pl.DataFrame):
    """An Arrow table with the types polars gives pandas: the worker needs neither polars nor a copy."""
    return df.to_arrow(compat_level=pl.CompatLevel.oldest())


def _pair_groups(full: pl.DataFrame, exps: list[tuple[Rule, Expectation]]) -> list[list[int]]:
    """The row-wise column-pair expectations of a batch (by position in ``exps``) that GX can decide
    as one: same type and arguments but for the two columns, whose types agree; groups of two or
    more only."""
    groups: dict[tuple, list[int]] = {}
    for i, (r, e) in enumerate(exps):
        if e.type in PAIR_TYPES and "mostly" not in e.kwargs:
            a, b = f"{r.frame_name}__{e.kwargs['column_A']}", f"{r.frame_name}__{e.kwargs['column_B']}"
            rest = {k: v for k, v in e.kwargs.items() if k not in ("column_A", "column_B")}
            key = (e.type, json.dumps(rest, sort_keys=True, default=str), str(full.schema[a]), str(full.schema[b]))
            groups.setdefault(key, []).append(i)
    return [g for g in groups.values() if len(g) > 1]


def _stacked_pairs(full: pl.DataFrame, exps: list[tuple[Rule, Expectation]], groups: list[list[int]]
                   ) -> tuple[pl.DataFrame, list[tuple[str, dict]]]:
    """One batch for the grouped pair expectations: for group ``g``, the rows of each member's frame
    with its two columns stacked as ``pairs<g>__A`` and ``pairs<g>__B`` (``_member``: the member's
    position in ``exps``; ``_src``: the row's ``_rid`` in ``full``), and one expectation per group
    on the stacked columns, with the members' own arguments. A row is judged on its own two values,
    so each member's rows fail or pass as they would alone."""
    pieces, specs = [], []
    for g, members in enumerate(groups):
        for i in members:
            r, e = exps[i]
            pieces.append(full.filter(pl.col("_frame") == r.frame_name).select(
                pl.col("_rid").alias("_src"), pl.lit(i, pl.UInt32).alias("_member"),
                pl.col(f"{r.frame_name}__{e.kwargs['column_A']}").alias(f"pairs{g}__A"),
                pl.col(f"{r.frame_name}__{e.kwargs['column_B']}").alias(f"pairs{g}__B")))
        first = exps[members[0]][1]
        specs.append((first.type, {**first.kwargs, "column_A": f"pairs{g}__A", "column_B": f"pairs{g}__B"}))
    return pl.concat(pieces, how="diagonal").with_row_index("_rid"), specs


@dataclass
class _Batch:
    """A batch handed to the engine, and what is needed to turn its answer into results. Its
    column-pair expectations that GX can decide together (:func:`_pair_groups`) go over as a second
    batch, one expectation per group (about 15 ms of GX's own work saved per expectation merged)."""

    #: (ticket, the expectations each of its specs decides, the grouped pairs' batch or None)
    tickets: list[tuple[int, list[list[int]], pl.DataFrame | None]]
    full: pl.DataFrame  # the batch with its ``_rid`` (row id in the batch), ``_frame`` and ``_row``
    exps: list[tuple[Rule, Expectation]]
    frames: dict[str, pl.DataFrame]  # each frame of the batch, by name, as built
    distinct: set[str]  # the frames the batch holds the distinct rows of (see _spread)
    large: bool  # made of one large frame

    @classmethod
    def submit(cls, eng, df: pl.DataFrame, exps: list[tuple[Rule, Expectation]], frames: dict[str, pl.DataFrame],
               distinct: set[str], large: bool = False) -> _Batch:
        full = df.with_row_index("_rid")
        groups = _pair_groups(full, exps)
        grouped = {i for g in groups for i in g}
        alone = [i for i in range(len(exps)) if i not in grouped]
        tickets: list[tuple[int, list[list[int]], pl.DataFrame | None]] = []
        if alone:
            specs = [(exps[i][1].type, _renamed(exps[i][1].kwargs, exps[i][0].frame_name)) for i in alone]
            tickets.append((eng.submit(_arrow(full.drop("_frame", "_row")), specs), [[i] for i in alone], None))
        if groups:
            stacked, specs = _stacked_pairs(full, exps, groups)
            tickets.append((eng.submit(_arrow(stacked.drop("_member", "_src")), specs), groups, stacked))
        return cls(tickets, full, exps, frames, distinct, large)

    def ready(self, eng) -> bool:
        return all(eng.ready(t) for t, _, _ in self.tickets)

    def _verdicts(self, eng) -> dict[int, Verdict]:
        """GX's verdict on each expectation of the batch, by position in ``exps``."""
        out: dict[int, Verdict] = {}
        for ticket, owners, stacked in self.tickets:
            try:
                got = eng.result(ticket)
            except Refused as exc:
                rule = self.exps[owners[exc.index][0]][0]
                raise DeclarationError(f"{rule.origin}: rule {rule.name}: {exc.reason}") from None
            for members, v in zip(owners, got):
                if stacked is None:
                    out[members[0]] = v
                    continue
                bad = stacked.filter(pl.col("_rid").is_in(list(v.rids))) if v.rids else stacked.clear()
                for i in members:
                    rids = tuple(bad.filter(pl.col("_member") == i).get_column("_src").to_list())
                    out[i] = Verdict(v.error is None and not rids, rids, v.error)
        return out

    def results(self, eng) -> list[Result]:
        verdicts = self._verdicts(eng)
        out = []
        for n, (r, e) in enumerate(self.exps):
            v = verdicts[n]
            frame = self.frames[r.frame_name]
            if v.rids:
                rows = self.full.filter(pl.col("_rid").is_in(list(v.rids)) & (pl.col("_frame") == r.frame_name))
                failing = frame.with_row_index("_row").join(rows.select("_row"), on="_row").drop("_row")
            else:  # (most expectations: no row of a whole frame numbered for nothing)
                failing = frame.clear()
            res = Result(r, e, v.success, failing, v.error)
            out.append(_spread(res, frame) if r.frame_name in self.distinct else res)
        return out
