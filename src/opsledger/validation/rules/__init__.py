"""The rules, and the cross-source stage: every rule family, declared once and decided by great-expectations.

One family per module of this package, each declaring its :class:`~opsledger.validation.rules.base.Rule`
objects (``RULES``) and its :class:`~opsledger.validation.rules.base.Family`; the registry
(:mod:`opsledger.validation.rules.registry`) collects them and checks them at load, and the
catalogue (``opsledger rules``, ``docs/rules.md``) is generated from it. Library use::

    from opsledger.validation.rules import evaluate
    evaluate(tables, ["meaning.parts_within_total"])   # {rule: {row_key, ...}} of failing rows
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

from opsledger.data import fmt
from opsledger.validation.findings import Finding, Report, RuleRun
from opsledger.validation.rules.acks import NOT_STALE, load_acknowledgements
from opsledger.validation.rules.base import Frame, Inputs, Rule, TableCheck, check_columns
from opsledger.validation.rules.gx import Result, run
from opsledger.validation.rules.registry import families, rules as all_rules

__all__ = ["FAMILIES", "Inputs", "all_rules", "catalogue", "catalogue_markdown", "evaluate", "load_acknowledgements",
           "load_rules", "run_cross_checks"]

#: The cross-source families, in the order they run and report.
FAMILIES = tuple(f for f in families() if f not in ("schema", "acknowledgements"))


def load_rules() -> list[Rule]:
    """The cross-source rules great-expectations decides, each on its frame, in order (checked: see
    :mod:`opsledger.validation.rules.registry`)."""
    return [r for r in all_rules() if r.stage == "cross" and r.frame is not None]


def _prepare(x: Inputs, rules: list[Rule], timings: dict[str, float] | None = None, chosen: set[str] | None = None
             ) -> tuple[list[Rule], dict[str, str], Callable[[str], pl.DataFrame], dict]:
    """(rules to run, skipped rule -> why, a builder of each rule's frame, parameters). The builder
    checks the rule's columns against the frame it built, adds the time each family's frames took to
    ``timings`` (``cross.<family>``; shared computations count where first needed), and lets go of
    the re-derived tables once the last frame that reads them is built."""
    fams = families()
    family_skip: dict[str, str | None] = {fam: fams[fam].skip(x) for fam in dict.fromkeys(r.family for r in rules)}
    skip: dict[str, str] = {}
    for r in rules:
        if chosen is not None and r.name not in chosen:
            skip[r.name] = "skipped: not selected (--rule)"
        elif why := family_skip[r.family]:
            skip[r.name] = why
    todo = [r for r in rules if r.name not in skip]
    specs: dict[str, tuple[Frame, str]] = {r.frame_name: (r.frame, r.family) for r in todo if r.frame is not None}
    params: dict = {}
    for fam in dict.fromkeys(r.family for r in todo):
        params.update(fams[fam].parameters(x))
    pending = {name for name, (_f, fam) in specs.items() if fam == "reconciliation"}

    def frame_of(name: str) -> pl.DataFrame:
        t0 = time.perf_counter()
        df = specs[name][0](x)
        for r in todo:
            if r.frame_name == name:
                check_columns(r, df)
        pending.discard(name)
        if not pending:
            x.__dict__.pop("_derived", None)  # the re-derived tables: only reconciliation reads them
        if timings is not None:
            key = f"cross.{specs[name][1]}"
            timings[key] = timings.get(key, 0.0) + time.perf_counter() - t0
        return df

    return todo, skip, frame_of, params


def _rows(x: Inputs, res: Result) -> pl.DataFrame:
    """The failing rows of a result as (row_key, table, sources, detail)."""
    spec = res.rule.frame
    assert spec is not None
    f = res.failing
    if spec.explain is not None:
        return spec.explain(x, f)
    rd = res.rule.detail
    detail = rd() if callable(rd) else (pl.col("detail") if "detail" in f.columns else pl.lit(None, pl.Utf8))
    if spec.sources == "target":
        srcs = x.target_sources(f.get_column("row_key")).rename({"target_id": "row_key"})
        f = f.join(srcs, on="row_key", how="left")
        sources = pl.col("sources")
    elif spec.sources:
        sources = pl.col(spec.sources)
    else:
        sources = pl.lit("")
    return f.select(pl.col("row_key").cast(pl.Utf8), pl.col("table"), sources.cast(pl.Utf8).fill_null("").alias("sources"),
                    detail.cast(pl.Utf8).alias("detail"))


def _decided_by(r: Rule) -> str:
    """How a rule is decided, in words (for the catalogue)."""
    if r.expectations:
        return "; ".join(f"`{e.type}` on {', '.join(f'`{c}`' for c in e.columns())}" for e in r.expectations)
    if r.stage == "schema":
        if isinstance(r.decision, str):
            return f"pandera: {r.decision}"
        shows = r.decision.shows if isinstance(r.decision, TableCheck) else ()
        return f"pandera: a row-wise check of {', '.join(f'`{c}`' for c in shows)} (a table's `checks` in `schemas/`)"
    return "counted, not a finding per row" if r.count else "after every other rule, on their findings"


def catalogue() -> list[dict]:
    """Every registered rule, at any stage, as declared: stage, family, rule, severity, description,
    the frame it runs on (cross-source rules) and how it is decided (the great-expectations
    expectations: type and columns)."""
    out = []
    for r in all_rules():
        out.append({"stage": r.stage, "family": r.family, "rule": r.name, "severity": r.severity,
                    "description": r.description, "frame": r.frame_name or None,
                    "frame_doc": r.frame.doc if r.frame is not None else "", "decided_by": _decided_by(r),
                    "expectations": [{"type": e.type, "columns": e.columns()} for e in r.expectations]})
    return out


def catalogue_markdown() -> str:
    """The rule catalogue as Markdown (``docs/rules.md``, written by ``opsledger rules --write``)."""
    lines = ["# Rules", "",
             "Generated from the rule declarations (the `RULES` of each family's module in",
             "`src/opsledger/validation/rules/`) by `opsledger rules --write docs/rules.md` (`make dictionary`);",
             "do not edit by hand. The facts the rules read (types, keys, vocabularies, limits, metric",
             "relations) are in `schemas/` and the data dictionary.", ""]
    by_family: dict[str, list[dict]] = {}
    for r in catalogue():
        by_family.setdefault(r["family"], []).append(r)
    fams = families()
    for fam, rules in by_family.items():
        lines += [f"## {fam}", "", f"{fams[fam].title}.".replace("..", "."), ""]
        if fams[fam].note:
            lines += [fams[fam].note, ""]
        lines += ["| rule | severity | what it checks | decided by |", "|---|---|---|---|"]
        for r in rules:
            how = f"`{r['frame']}`: {r['decided_by']}" if r["frame"] else r["decided_by"]
            desc = r["description"].replace("|", "\\|")
            lines.append(f"| `{r['rule']}` | {r['severity']} | {desc} | {how.replace('|', chr(92) + '|')} |")
        lines.append("")
        docs: dict[str, list[str]] = {}  # frames that share a builder share a line
        for r in rules:
            if r["frame_doc"] and r["frame"] not in docs.setdefault(r["frame_doc"], []):
                docs[r["frame_doc"]].append(r["frame"])
        if docs:
            lines += ["Frames:", ""] + [
                f"- {', '.join(f'`{f}`' for f in names)}: {d.replace('``', '`')}" for d, names in docs.items()] + [""]
    return "\n".join(lines)


def evaluate(tables: dict[str, pl.DataFrame], rules: list[str] | None = None, sources: Path | None = None,
             names: list[str] | None = None) -> dict[str, set[str]]:
    """Run the named rules (all by default) on ``tables``: {rule: keys of its failing rows}, with no
    acknowledgement applied."""
    wanted = [r for r in load_rules() if rules is None or r.name in rules]
    x = Inputs(tables, sources, names)
    todo, _skip, frame_of, params = _prepare(x, wanted)
    out: dict[str, set[str]] = {r.name: set() for r in todo}
    for res in run(todo, frame_of, params):
        if not res.success:
            out[res.rule.name] |= {k for k in _rows(x, res).get_column("row_key").to_list() if k is not None}
    return out


def select(rules: list[Rule], patterns: list[str]) -> set[str]:
    """Names of the rules matching any of ``patterns`` (names or shell patterns, e.g. ``meaning.*``);
    a pattern that matches no rule is a :class:`~opsledger.errors.UsageError`."""
    from fnmatch import fnmatchcase

    from opsledger.errors import UsageError

    out: set[str] = set()
    for p in patterns:
        hit = {r.name for r in rules if fnmatchcase(r.name, p)}
        if not hit:
            raise UsageError(f"--rule {p}: matches no cross-source rule (they are declared in the RULES of "
                             "src/opsledger/validation/rules/<family>.py; `opsledger rules` lists them)")
        out |= hit
    return out


def run_cross_checks(report: Report, t: dict[str, pl.DataFrame], sources: Path | None = None,
                     names: list[str] | None = None, acknowledgements=None, schema_ok: bool = True,
                     only: list[str] | None = None) -> None:
    """Build each family's frames, run its rules, apply the acknowledgements; add rules and findings
    to ``report``. ``only``: run just the rules these names or patterns select (others skipped)."""
    every = all_rules()
    rules = [r for r in every if r.stage == "cross" and r.frame is not None]
    acks = load_acknowledgements(acknowledgements)
    x = Inputs(t, sources, names, acks)
    chosen = select(rules, only) if only else None
    if not schema_ok:
        why = "skipped: the schema stage failed, so cross-table results would mislead"
        _record(report, rules, [], {r.name: why for r in rules}, acks, x)
        return
    g = x.grounding  # counted in every report, whichever rules run
    report.grounding = {k: int((g["grounding"] == k).sum()) for k in ("grounded", "quotation_only", "unsupported")}
    todo, skip, frame_of, params = _prepare(x, rules, report.timings, chosen)
    t0 = time.perf_counter()
    results = run(todo, frame_of, params)
    report.timings["cross.gx"] = time.perf_counter() - t0 - sum(
        v for k, v in report.timings.items() if k.startswith("cross.") and k != "cross.gx")
    _record(report, rules, results, skip, acks, x)
    for fam in FAMILIES if chosen is None else dict.fromkeys(r.family for r in todo):
        for r in (r for r in every if r.family == fam and r.count is not None):
            said = r.count(x)  # type: ignore[misc]
            if said is not None:
                report.rules.append(RuleRun(r.name, "cross", r.severity, r.description, status=said[0], detail=said[1]))


def _record(report: Report, rules: list[Rule], results: list[Result], skip: dict[str, str], acks: list[dict],
            x: Inputs) -> None:
    runs = {r.name: RuleRun(r.name, "cross", r.severity, r.description) for r in rules}
    for rule, why in skip.items():
        runs[rule].status, runs[rule].detail = "skipped", why
    ack_index = {(a["rule"], a.get("table"), a["key"]): a for a in acks}
    used = set()
    seen: set[tuple] = set()
    by_rule: dict[str, list[Finding]] = {}
    for res in results:
        r = res.rule
        if res.error:
            by_rule.setdefault(r.name, []).append(Finding(
                r.name, r.frame_name, None, None, None, f"expectation {res.expectation.type} failed to run: {res.error}",
                r.severity, []))
            continue
        if res.success:
            continue
        for row in _rows(x, res).iter_rows(named=True):
            # one finding per failing row and reason, however many of the rule's expectations it fails
            # (two failing pairs of one running total are two findings; one value below and above its
            # claim's bounds at once is one)
            k = (r.name, row["table"], row["row_key"], row["detail"])
            if k in seen:
                continue
            seen.add(k)
            f = Finding(r.name, str(row["table"] or r.frame_name), row["row_key"], None, None,
                        fmt.expand(row["detail"]) or r.description, r.severity,
                        [s for s in str(row["sources"] or "").split(",") if s])
            a = ack_index.get((f.rule, f.table, f.key))
            if a:
                f.acknowledged, f.reason = True, a["reason"]
                used.add((f.rule, f.table, f.key))
            by_rule.setdefault(r.name, []).append(f)
    for name, findings in by_rule.items():
        report.findings.extend(findings)
        run_ = runs[name]
        sev = findings[0].severity
        run_.status = "acknowledged" if all(f.acknowledged for f in findings) else (
            "failed" if sev == "error" else "warning")
    not_stale = NOT_STALE
    run_stale = RuleRun(not_stale.name, "cross", not_stale.severity, not_stale.description)
    for a in not_stale.decision(acks, used, set(skip)):  # type: ignore[operator]
        run_stale.status = "failed"
        report.findings.append(Finding(
            not_stale.name, "acknowledgements", a["key"], None, a["rule"],
            str(not_stale.detail).format(rule=a["rule"], table=a.get("table"), key=a["key"]),
            not_stale.severity, list(a.get("sources", []))))
    report.rules.extend(runs.values())
    report.rules.append(run_stale)
