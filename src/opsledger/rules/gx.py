"""The one place great-expectations runs: each rule's expectations on its frame.

GX sees a row id and the columns the expectations read, each named ``<frame>__<column>``; frames
smaller than :data:`SMALL_FRAME_ROWS` are validated together in one batch (fewer GX round trips,
which cost more than the rows), larger ones in a batch of their own. String columns compared as a
pair are handed over as 52-bit hashes (:data:`HASH_MASK`), so a million rows of Python strings never
reach pandas. A large frame is validated as soon as it is built, then dropped; when its expectations
judge each row by its own values, GX sees its distinct value combinations only (see :func:`run`).
great-expectations is imported without two modules no rule needs (:func:`deferred`), and its batches
are not fingerprinted (:func:`unfingerprinted`). Each batch runs with GX's ``BOOLEAN_ONLY`` result
format, and again with ``COMPLETE`` for the expectations that failed: GX returns the row ids of
their failing rows, and the rows themselves are looked up afterwards.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import polars as pl

from opsledger.errors import DeclarationError
from opsledger.rules.base import COLUMN_KWARGS, COLUMN_LIST_KWARGS, Expectation, Rule

SMALL_FRAME_ROWS = 50_000

PAIR_TYPES = ("expect_column_pair_values_to_be_equal", "expect_column_pair_values_a_to_be_greater_than_b")


@dataclass
class Result:
    rule: Rule
    expectation: Expectation
    success: bool
    failing: pl.DataFrame  # the failing rows of the frame (all its columns)
    error: str | None = None  # the expectation could not run


#: modules great-expectations imports when it is imported but uses only inside one statistical
#: expectation (KL divergence) and two metrics that no rule here runs: scipy.stats (1.7 s of a 4.2 s
#: import on the project machine) and altair (0.4 s, its charts)
DEFERRED = ("scipy.stats", "altair")


class _Deferred(types.ModuleType):
    """Stands in for a module while great-expectations is imported; the real module is imported
    the first time one of its attributes is read, so a deferred module still works when used."""

    def __getattr__(self, attr: str):
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        real = importlib.import_module(self.__name__)
        self.__dict__.update(real.__dict__)
        return getattr(real, attr)


@contextmanager
def deferred(names: tuple[str, ...] = DEFERRED) -> Iterator[None]:
    """While inside, an ``import`` of one of ``names`` (not yet imported) binds a :class:`_Deferred`
    stand-in instead of running the module. On the way out the stand-ins leave ``sys.modules``, so
    the rest of the process imports the real modules as usual: only the importer's own names are
    stand-ins, and they import the module on first use.

    (``importlib.util.LazyLoader`` cannot do this on Python 3.11: the import system reads the
    module's ``__spec__``, which makes it load at once.)"""
    mine = {n: _Deferred(n) for n in names if n not in sys.modules}
    sys.modules.update(mine)
    try:
        yield
    finally:
        for n, m in mine.items():
            if sys.modules.get(n) is m:
                del sys.modules[n]


def gx_context():
    """great-expectations, imported here and only here (its import is the largest fixed cost of a
    run), and an ephemeral context that keeps everything in memory: no data docs site, so nothing is
    written anywhere. No process-wide state is touched (environment, tempfile, logging); see
    :func:`deferred` for the modules its import does not run."""
    with deferred():
        import great_expectations as gx
    from great_expectations.data_context.types.base import DataContextConfig, InMemoryStoreBackendDefaults

    config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False))
    ctx = gx.get_context(mode="ephemeral", project_config=config)
    ctx.variables.progress_bars = {"globally": False, "metric_calculations": False}
    return gx, ctx


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
    :class:`Result` per expectation.

    A large frame is validated as soon as it is built and then dropped (only its failing rows are
    kept), so at most one large frame and its pandas copy are in memory at a time. When all its
    expectations judge a row by its own values (:data:`ROW_WISE`), GX sees each distinct combination
    of the values they read once, and the verdict on it holds for every row that has it. Each batch is
    validated twice at most: every expectation with GX's ``BOOLEAN_ONLY`` result format, then only
    the failing ones with ``COMPLETE`` (the ids of their failing rows)."""
    if not rules:
        return []
    used = set(_parameter_names([e.kwargs for r in rules for e in r.expectations]))
    missing = used - set(parameters)
    if missing:
        r = next(r for r in rules for e in r.expectations if set(_parameter_names(e.kwargs)) & missing)
        raise DeclarationError(f"{r.path}: rule {r.name}: unknown parameter(s) {', '.join(sorted(missing))} "
                               f"(known: {', '.join(sorted(parameters))})")
    params = {k: v.to_list() if isinstance(v, pl.Series) else v for k, v in parameters.items() if k in used}
    gx, ctx = gx_context()
    # one asset and one batch definition; each batch is a dataframe handed to it
    batches = ctx.data_sources.add_pandas("opsledger").add_dataframe_asset("frames").add_batch_definition_whole_dataframe(
        "all")
    by_frame: dict[str, list[tuple[Rule, Expectation]]] = defaultdict(list)
    for r in rules:
        for e in r.expectations:
            by_frame[r.frame].append((r, e))
    small: list[tuple[str, pl.DataFrame]] = []
    kept: dict[str, pl.DataFrame] = {}
    out: list[Result] = []
    for name, exps in by_frame.items():
        frame = frame_of(name)
        cols = sorted({c for _, e in exps for c in e.columns()})
        pairs = [(e.kwargs["column_A"], e.kwargs["column_B"]) for _, e in exps if e.type in PAIR_TYPES]
        narrow = compact_pairs(frame.select(cols), pairs).select(
            pl.col(c).alias(f"{name}__{c}") for c in cols).with_row_index("_row").with_columns(
            pl.lit(name).alias("_frame"))
        if narrow.height >= SMALL_FRAME_ROWS and _row_wise(exps):
            distinct = narrow.unique(subset=[f"{name}__{c}" for c in cols], keep="any", maintain_order=False)
            out += [_spread(res, frame) for res in
                    _validate(gx, batches, len(out), distinct, exps, {name: frame}, params)]
        elif narrow.height >= SMALL_FRAME_ROWS or any(e.type in NULL_SENSITIVE for _, e in exps):
            out += _validate(gx, batches, len(out), narrow, exps, {name: frame}, params)
        else:
            small.append((name, narrow))
            kept[name] = frame
        del frame, narrow
    if small:
        exps = [x for name, _ in small for x in by_frame[name]]
        out += _validate(gx, batches, len(out), pl.concat([df for _, df in small], how="diagonal"), exps, kept, params)
    return out


@contextmanager
def unfingerprinted() -> Iterator[None]:
    """While inside, great-expectations does not hash a pandas batch for its ``pandas_data_fingerprint``
    marker (1.3 s at a million claims; nothing here reads the marker). GX has no option for this, only
    its module constant ``HASH_THRESHOLD`` (batches whose memory reaches it are not hashed): it is
    set to 0 while a batch is made and validated (GX makes it again to validate),
    and put back on the way out."""
    from great_expectations.execution_engine import pandas_execution_engine as engine

    if not hasattr(engine, "HASH_THRESHOLD"):  # another GX release: leave it as it is
        yield
        return
    old = engine.HASH_THRESHOLD
    engine.HASH_THRESHOLD = 0
    try:
        yield
    finally:
        engine.HASH_THRESHOLD = old


def _validate(gx, batches, n: int, df: pl.DataFrame, exps: list[tuple[Rule, Expectation]],
              frames: dict[str, pl.DataFrame], params: dict) -> list[Result]:
    full = df.with_row_index("_rid")
    with unfingerprinted():
        verdict = _verdicts(gx, batches, n, full, exps, params)
    out = []
    for i, (r, e) in enumerate(exps):
        gr = verdict[i]
        rids = [int(x["_rid"]) for x in ((gr.result or {}).get("unexpected_index_list") or [])]
        rows = (full.filter(pl.col("_rid").is_in(rids) & (pl.col("_frame") == r.frame)).get_column("_row")
                if rids else pl.Series([], dtype=pl.UInt32))
        failing = frames[r.frame].with_row_index("_row").join(rows.to_frame("_row"), on="_row").drop("_row")
        error = None
        if gr.exception_info and gr.exception_info.get("raised_exception"):
            error = str(gr.exception_info.get("exception_message")).splitlines()[0]
        out.append(Result(r, e, bool(gr.success) and error is None, failing, error))
    return out


def _verdicts(gx, batches, n: int, full: pl.DataFrame, exps: list[tuple[Rule, Expectation]], params: dict) -> dict:
    """GX's result for each expectation (by its position in ``exps``): all of them with
    ``BOOLEAN_ONLY``, then the failing ones again with ``COMPLETE`` (the ids of their failing rows)."""
    batch = batches.get_batch(batch_parameters={"dataframe": full.drop("_frame", "_row").to_pandas()})

    def suite(idx: list[int]):
        try:
            return gx.ExpectationSuite(name=f"batch-{n}-{len(idx)}", expectations=[
                gx.expectations.registry.get_expectation_impl(exps[i][1].type)(
                    **_renamed(exps[i][1].kwargs, exps[i][0].frame), meta={"n": i}) for i in idx])
        except Exception as exc:  # GX refuses an expectation's type or arguments
            bad = _first_bad(gx, exps)
            raise DeclarationError(f"{bad[0].path}: rule {bad[0].name}: {bad[1]}") from exc

    # GX does not keep the suite's order: each result is matched by the number in its meta
    first = batch.validate(suite(list(range(len(exps)))), expectation_parameters=params,
                           result_format={"result_format": "BOOLEAN_ONLY"})
    verdict = {int(r.expectation_config.meta["n"]): r for r in first.results}
    failed = sorted(i for i, r in verdict.items() if not r.success)
    if failed:
        again = batch.validate(suite(failed), expectation_parameters=params, result_format={
            "result_format": "COMPLETE", "unexpected_index_column_names": ["_rid"],
            "partial_unexpected_count": 0, "return_unexpected_index_query": False})
        verdict.update({int(r.expectation_config.meta["n"]): r for r in again.results})
    return verdict


def _first_bad(gx, pairs) -> tuple[Rule, str]:
    for r, e in pairs:
        try:
            gx.expectations.registry.get_expectation_impl(e.type)(**e.kwargs)
        except Exception as exc:  # noqa: BLE001 - GX raises several kinds
            return r, f"{e.type}: {str(exc).splitlines()[0]}"
    return pairs[0][0], "an expectation GX refuses"
