"""The cross-source stage: every rule family, declared once and decided by great-expectations.

One family per module of this package and one suite per family (``checks/suites/<family>.json``);
see :mod:`opsledger.validation.rules.base` for how a rule is declared and checked at load. Library use::

    from opsledger.validation.rules import evaluate
    evaluate(tables, ["meaning.parts_within_total"])   # {rule: {row_key, ...}} of failing rows
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

from opsledger.data import fmt
from opsledger.validation.findings import Finding, Report, RuleRun
from opsledger.validation.rules.acks import load_acknowledgements
from opsledger.validation.rules.base import FAMILIES, Inputs, Rule, check_columns, frame_specs, load_rules
from opsledger.validation.rules.gx import Result, run

__all__ = ["FAMILIES", "Inputs", "catalogue", "catalogue_markdown", "evaluate", "load_acknowledgements", "load_rules",
           "run_cross_checks"]



def _module(family: str):
    return importlib.import_module(f"opsledger.validation.rules.{family}")


def _prepare(x: Inputs, rules: list[Rule], timings: dict[str, float] | None = None, chosen: set[str] | None = None
             ) -> tuple[list[Rule], dict[str, str], Callable[[str], pl.DataFrame], dict]:
    """(rules to run, skipped rule -> why, a builder of each rule's frame, parameters). The builder
    checks the rule's columns against the frame it built, adds the time each family's frames took to
    ``timings`` (``cross.<family>``; shared computations count where first needed), and lets go of
    the re-derived tables once the last frame that reads them is built."""
    family_skip: dict[str, str | None] = {fam: getattr(_module(fam), "skip", lambda _x: None)(x) for fam in dict.fromkeys(r.family for r in rules)}
    skip: dict[str, str] = {}
    for r in rules:
        if chosen is not None and r.name not in chosen:
            skip[r.name] = "skipped: not selected (--rule)"
        elif why := family_skip[r.family]:
            skip[r.name] = why
    todo = [r for r in rules if r.name not in skip]
    specs = frame_specs()
    params: dict = {}
    for fam in dict.fromkeys(r.family for r in todo):
        params.update(getattr(_module(fam), "parameters", lambda _x: {})(x))
    pending = {r.frame for r in todo if specs[r.frame].family == "reconciliation"}

    def frame_of(name: str) -> pl.DataFrame:
        t0 = time.perf_counter()
        df = specs[name].build(x)
        for r in todo:
            if r.frame == name:
                check_columns(r, df)
        pending.discard(name)
        if not pending:
            x.__dict__.pop("_derived", None)  # the re-derived tables: only reconciliation reads them
        if timings is not None:
            key = f"cross.{specs[name].family}"
            timings[key] = timings.get(key, 0.0) + time.perf_counter() - t0
        return df

    return todo, skip, frame_of, params


def _rows(x: Inputs, res: Result) -> pl.DataFrame:
    """The failing rows of a result as (row_key, table, sources, detail)."""
    spec = frame_specs()[res.rule.frame]
    f = res.failing
    if spec.explain is not None:
        return spec.explain(x, f)
    detail = spec.detail() if spec.detail else (pl.col("detail") if "detail" in f.columns else pl.lit(None, pl.Utf8))
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


def catalogue() -> list[dict]:
    """Every cross-source rule as declared: family, rule, severity, description, the frame it runs on
    and the great-expectations expectations that decide it (type and columns)."""
    specs = frame_specs()
    out = []
    for r in load_rules():
        out.append({"family": r.family, "rule": r.name, "severity": r.severity, "description": r.description,
                    "frame": r.frame, "frame_doc": " ".join((specs[r.frame].build.__doc__ or "").split()),
                    "expectations": [{"type": e.type, "columns": e.columns()} for e in r.expectations]})
    return out


def catalogue_markdown() -> str:
    """The rule catalogue as Markdown (``docs/rules.md``, written by ``opsledger rules --write``)."""
    lines = ["# Cross-source rules", "",
             "Generated from `checks/suites/<family>.json` and `src/opsledger/rules/<family>.py` by",
             "`opsledger rules --write docs/rules.md` (`make dictionary`); do not edit by hand. The schema",
             "rules (types, keys, vocabularies, patterns) are in the data dictionary.", ""]
    by_family: dict[str, list[dict]] = {}
    for r in catalogue():
        by_family.setdefault(r["family"], []).append(r)
    for fam, rules in by_family.items():
        lines += [f"## {fam}", "", "| rule | severity | what it checks | decided by (frame: expectation on columns) |",
                  "|---|---|---|---|"]
        for r in rules:
            how = "; ".join(f"`{e['type']}` on {', '.join(f'`{c}`' for c in e['columns'])}" for e in r["expectations"])
            desc = r["description"].replace("|", "\\|")
            lines.append(f"| `{r['rule']}` | {r['severity']} | {desc} | `{r['frame']}`: {how} |")
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
            raise UsageError(f"--rule {p}: matches no cross-source rule (they are declared in checks/suites/<family>.json)")
        out |= hit
    return out


def run_cross_checks(report: Report, t: dict[str, pl.DataFrame], sources: Path | None = None,
                     names: list[str] | None = None, acknowledgements=None, schema_ok: bool = True,
                     only: list[str] | None = None) -> None:
    """Build each family's frames, run its rules, apply the acknowledgements; add rules and findings
    to ``report``. ``only``: run just the rules these names or patterns select (others skipped)."""
    rules = load_rules()
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
        extra = getattr(_module(fam), "extra_rules", None)
        if extra:
            report.rules.extend(extra(x))


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
                r.name, r.frame, None, None, None, f"expectation {res.expectation.type} failed to run: {res.error}",
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
            f = Finding(r.name, str(row["table"] or r.frame), row["row_key"], None, None,
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
    stale = RuleRun("acknowledgements.not_stale", "cross", "error",
                    "Every acknowledgement in checks/acknowledgements.toml still matches a finding.")
    for a in acks:
        if (a["rule"], a.get("table"), a["key"]) in used or a["rule"] in skip:
            continue
        stale.status = "failed"
        report.findings.append(Finding(
            "acknowledgements.not_stale", "acknowledgements", a["key"], None, a["rule"],
            f"acknowledgement of {a['rule']} for {a.get('table')}[{a['key']}] matches no finding any more; remove it",
            "error", list(a.get("sources", []))))
    report.rules.extend(runs.values())
    report.rules.append(stale)
