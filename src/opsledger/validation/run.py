"""``opsledger.validate``: the schema stage, then the cross-source stage, in one report.

(This module is ``opsledger.validation.run``, not ``opsledger.validate``: a submodule of that name would
replace the function ``opsledger.validate`` on the package after its first import.)
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from opsledger.errors import OpsledgerError, UsageError, require
from opsledger.validation.findings import Report
from opsledger.data.paths import DEFAULT_ARCHIVE, display_path

if TYPE_CHECKING:
    import polars as pl

# polars, pyarrow and the declarations are imported inside the functions: `validate` first starts
# great-expectations' worker (opsledger.validation.gxworker), which imports it while they load

#: Largest names file read (a names file is a short list typed by a curator).
MAX_NAMES_BYTES = 1 << 20


def read_names(names) -> list[str] | None:
    """Person names for the privacy rule: None; a path (str or PathLike) of a UTF-8 text file with one
    name a line; or an iterable of names (a list, tuple or set of str). A single string is always a
    path, never a list of letters."""
    import os

    from opsledger.data import io as oio

    if names is None:
        return None
    if isinstance(names, (str, os.PathLike)):
        path = oio.path_arg(names, "names")
        if not path.is_file():
            raise UsageError(f"{path}: no such names file (give the path of a file with one name a line, "
                             "or a list of names)")
        from opsledger.data.io import read_text_file

        got = read_text_file(path, "names file", MAX_NAMES_BYTES)  # a PathError is a UsageError
        if got is None:  # removed since the check above
            raise UsageError(f"{path}: no such names file")
        text = got[0]
        return [line.strip() for line in text.splitlines() if line.strip()]
    if isinstance(names, (bytes, dict)) or not hasattr(names, "__iter__"):
        raise UsageError(f"names must be a path or an iterable of str, not {type(names).__name__}")
    out = list(names)
    bad = [n for n in out if not isinstance(n, str)]
    if bad:
        raise UsageError(f"names must hold strings only, not {bad[0]!r}")
    return [n.strip() for n in out if n.strip()]


def acknowledgements_path(acknowledgements) -> Path | None:
    """The acknowledgements file given (None: the default ``checks/acknowledgements.toml``); a file
    given but missing is an error (library and command line alike)."""
    from opsledger.data import io as oio

    path = oio.path_arg(acknowledgements, "acknowledgements")
    if path is not None and not path.is_file():
        raise UsageError(f"{path}: no such acknowledgements file")
    return path


def validate(
    data_dir: Path | str | None = None,
    sources: Path | str | None = DEFAULT_ARCHIVE,
    names=None,
    acknowledgements: Path | str | None = None,
    cross: bool = True,
    rules: list[str] | None = None,
) -> Report:
    """Validate a data directory (default, when ``None``: the repo's ``datasets/``).

    ``sources`` is the source archive (default: ``../shared/sources`` when present, as on the command
    line; None: no archive, and grounding is skipped and says so); ``names`` the
    person names the privacy rule looks for besides the hashed blocklist in ``checks/``: a list of
    names, or the path (str or PathLike) of a text file with one name a line (see :func:`read_names`);
    ``acknowledgements`` overrides ``checks/acknowledgements.toml`` (a missing file is an error);
    ``rules`` (names or shell patterns such as ``"meaning.*"``) runs only those cross-source rules,
    the others reported as skipped (a pattern that matches no rule is an error). Raises :class:`~opsledger.errors.UsageError` for a bad argument (e.g. ``validate({})`` or
    ``validate("")``); never raises for bad data: the report's ``exit_code`` is 0 (clean), 1 (a rule
    failed) or 2 (unusable input, with ``report.unusable`` saying why).
    """
    from opsledger.validation.gxworker import engine

    t0 = time.perf_counter()
    # great-expectations is imported (in a worker, see opsledger.validation.gxworker) while the arguments are
    # checked and the tables read, schema-checked and turned into frames
    with engine() if cross else nullcontext():
        from opsledger.data import io as oio

        given = oio.path_arg(data_dir, "data_dir")
        data_dir = given if given is not None else oio.default_data_dir()
        sources = oio.source_archive(sources)
        names = read_names(names)
        acknowledgements = acknowledgements_path(acknowledgements)
        require("validate")
        try:
            tables = oio.read_tables(data_dir)
        except oio.UnusableInput as exc:
            return Report(display_path(data_dir), unusable=str(exc))
        try:
            report = validate_tables(tables, sources=sources, names=names, acknowledgements=acknowledgements,
                                     cross=cross, data_dir=display_path(data_dir), rules=rules)
        except OpsledgerError as exc:  # e.g. an archive path outside the archive, a malformed acknowledgements file
            return Report(display_path(data_dir), unusable=str(exc))
    stages = sum(v for k, v in report.timings.items() if "." not in k)  # "cross.gx" etc. are inside "cross"
    report.timings["read"] = time.perf_counter() - t0 - stages
    return report


def validate_tables(
    tables: dict[str, pl.DataFrame],
    sources: Path | str | None = None,
    names: list[str] | None = None,
    acknowledgements: Path | str | None = None,
    cross: bool = True,
    data_dir: str = "<memory>",
    rules: list[str] | None = None,
) -> Report:
    """Validate frames already in memory (used by corrections and tests)."""
    from opsledger.validation.schema_stage import check_schemas, rule_catalogue

    report = Report(data_dir)
    t0 = time.perf_counter()
    findings = check_schemas(tables)
    catalogue = rule_catalogue()
    failed = {f.rule for f in findings}
    for r in catalogue:
        if r.rule in failed:
            r.status = "failed"
    extra = sorted(failed - {r.rule for r in catalogue})
    for rule in extra:  # e.g. a wrong column order reported by pandera
        from opsledger.validation.findings import RuleRun

        catalogue.append(RuleRun(rule, "schema", "error", "pandera schema check", status="failed"))
    report.rules.extend(catalogue)
    report.findings.extend(findings)
    report.timings["schema"] = time.perf_counter() - t0
    if cross:
        from opsledger.validation.rules import run_cross_checks

        t1 = time.perf_counter()
        run_cross_checks(report, tables, sources=Path(sources) if sources else None,
                         names=names, acknowledgements=acknowledgements,
                         schema_ok=not findings, only=rules)
        report.timings["cross"] = time.perf_counter() - t1
    _attribute_operations(report, tables)
    return report


def _attribute_operations(report: Report, tables: dict[str, pl.DataFrame]) -> None:
    """Set each finding's ``operation`` from its row (for the per-operation summary of the report).
    A key such as ``pacifier.takedown.date`` (a row and a column) is matched by its longest prefix."""
    import polars as pl

    from opsledger.declarations import tables as declarations

    # each finding without an operation, with every prefix of its key, longest first
    pending = []
    for f in report.findings:
        if not f.operation and f.key is not None:
            parts = str(f.key).split(".")
            pending.append((f, [".".join(parts[:n]) for n in range(len(parts), 0, -1)]))
    if not pending:
        return
    prefixes: dict[str, set[str]] = {}  # table -> every prefix of its findings' keys
    for f, keys in pending:
        prefixes.setdefault(f.table, set()).update(keys)
    every = set().union(*prefixes.values())
    op_ids = set(tables["operations"].filter(pl.col("operation_id").is_in(list(every)))
                 .get_column("operation_id").to_list()) if "operations" in tables else set()
    lookup: dict[str, dict] = {}  # only the rows a finding names: a million-row table is not turned into a dict
    for name, wanted in prefixes.items():
        df, decl = tables.get(name), declarations().get(name)
        if df is not None and decl is not None and decl.key in df.columns and "operation_id" in df.columns:
            rows = df.filter(pl.col(decl.key).is_in(list(wanted)))
            lookup[name] = dict(zip(rows.get_column(decl.key).to_list(), rows.get_column("operation_id").to_list()))
    for f, keys in pending:
        for prefix in keys:
            op = lookup.get(f.table, {}).get(prefix) or (prefix if prefix in op_ids else None)
            if op:
                f.operation = op
                break
