"""``opsledger.validate``: the schema stage, then the cross-source stage, in one report."""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl

from opsledger import io as oio
from opsledger.findings import Report


def validate(
    data_dir: Path | str | None = None,
    sources: Path | str | None = None,
    names: list[str] | None = None,
    acknowledgements: Path | str | None = None,
    cross: bool = True,
) -> Report:
    """Validate a data directory (default: the repo's ``datasets/``).

    ``sources`` is the source archive (grounding is skipped, and says so, without it); ``names`` a list
    of person names the privacy rule looks for (besides the hashed blocklist in ``checks/``);
    ``acknowledgements`` overrides ``checks/acknowledgements.toml``.
    Never raises for bad data: the report's ``exit_code`` is 0 (clean), 1 (a rule failed) or 2
    (unusable input, with ``report.unusable`` saying why).
    """
    data_dir = Path(data_dir) if data_dir else oio.default_data_dir()
    if sources is not None and not Path(sources).is_dir():
        return Report(str(data_dir), unusable=f"{sources}: the source archive directory does not exist")
    t0 = time.perf_counter()
    try:
        tables = oio.read_tables(data_dir)
    except oio.UnusableInput as exc:
        return Report(str(data_dir), unusable=str(exc))
    report = validate_tables(tables, sources=sources, names=names,
                             acknowledgements=acknowledgements, cross=cross, data_dir=str(data_dir))
    report.timings["read"] = time.perf_counter() - t0 - sum(report.timings.values())
    return report


def validate_tables(
    tables: dict[str, pl.DataFrame],
    sources: Path | str | None = None,
    names: list[str] | None = None,
    acknowledgements: Path | str | None = None,
    cross: bool = True,
    data_dir: str = "<memory>",
) -> Report:
    """Validate frames already in memory (used by corrections and tests)."""
    from opsledger.schema import check_schemas, rule_catalogue

    report = Report(data_dir)
    t0 = time.perf_counter()
    findings = check_schemas(tables)
    rules = rule_catalogue()
    failed = {f.rule for f in findings}
    for r in rules:
        if r.rule in failed:
            r.status = "failed"
    extra = sorted(failed - {r.rule for r in rules})
    for rule in extra:  # e.g. a wrong column order reported by pandera
        from opsledger.findings import RuleRun

        rules.append(RuleRun(rule, "schema", "error", "pandera schema check", status="failed"))
    report.rules.extend(rules)
    report.findings.extend(findings)
    report.timings["schema"] = time.perf_counter() - t0
    if cross:
        from opsledger.expectations import run_cross_checks

        t1 = time.perf_counter()
        run_cross_checks(report, tables, sources=Path(sources) if sources else None,
                         names=names, acknowledgements=acknowledgements,
                         schema_ok=not findings)
        report.timings["cross"] = time.perf_counter() - t1
    return report
