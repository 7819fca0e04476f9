"""``opsledger.validate``: the schema stage, then the cross-source stage, in one report."""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl

from opsledger import io as oio
from opsledger.findings import Report
from opsledger.util import display_path


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
    t0 = time.perf_counter()
    try:
        tables = oio.read_tables(data_dir)
    except oio.UnusableInput as exc:
        return Report(display_path(data_dir), unusable=str(exc))
    if cross and tables["claims"].height < PRELOAD_BELOW_CLAIMS:
        _preload_gx()
    report = validate_tables(tables, sources=sources, names=names,
                             acknowledgements=acknowledgements, cross=cross, data_dir=display_path(data_dir))
    report.timings["read"] = time.perf_counter() - t0 - sum(report.timings.values())
    return report


#: Below this many claims the import of great-expectations overlaps the schema stage; above it the
#: import is a small share of the run, and the stages run one after the other to keep peak memory low.
PRELOAD_BELOW_CLAIMS = 200_000


def _preload_gx() -> None:
    """Start importing great-expectations in a background thread while the tables are read and the
    schema stage runs: its import is the largest fixed cost of a run (see benchmarks/)."""
    import importlib
    import sys
    import threading

    if "great_expectations" not in sys.modules:
        threading.Thread(target=importlib.import_module, args=("great_expectations",), daemon=True).start()


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
    _attribute_operations(report, tables)
    return report


def _attribute_operations(report: Report, tables: dict[str, pl.DataFrame]) -> None:
    """Set each finding's ``operation`` from its row (for the per-operation summary of the report).
    A key such as ``pacifier.takedown.date`` (a row and a column) is matched by its longest prefix."""
    from opsledger.metadata import tables as declarations

    op_ids = set(tables["operations"].get_column("operation_id").to_list()) if "operations" in tables else set()
    lookup: dict[str, dict] = {}
    for name, df in tables.items():
        decl = declarations().get(name)
        if decl is not None and decl.key in df.columns and "operation_id" in df.columns:
            lookup[name] = dict(zip(df.get_column(decl.key).to_list(), df.get_column("operation_id").to_list()))
    for f in report.findings:
        if f.operation or f.key is None:
            continue
        parts = str(f.key).split(".")
        for n in range(len(parts), 0, -1):
            prefix = ".".join(parts[:n])
            op = lookup.get(f.table, {}).get(prefix) or (prefix if prefix in op_ids else None)
            if op:
                f.operation = op
                break
