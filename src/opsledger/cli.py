"""The ``opsledger`` command: thin typer wrappers over the library functions."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    help="opsledger: validate, release and correct the dataset of operations against online child sexual exploitation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
correction_app = typer.Typer(help="Check, apply and revert change sets (corrections/).", no_args_is_help=True)
app.add_typer(correction_app, name="correction")
privacy_app = typer.Typer(help="Manage the hashed blocklist of person names.", no_args_is_help=True)
app.add_typer(privacy_app, name="privacy")
sources_app = typer.Typer(help="Re-verify sources: fetch their pages into a private local cache.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")


class Format(str, Enum):
    text = "text"
    json = "json"


def _default_sources() -> Path | None:
    from opsledger.metadata import repo_root

    p = repo_root().parent / "shared" / "sources"
    return p if p.is_dir() else None


def _fail(msg: str, code: int) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def _read_names(path: Path | None) -> list[str] | None:
    if path is None:
        return None
    try:
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError as exc:
        _fail(f"{path}: cannot read names ({exc.strerror})", 2)


@app.command()
def validate(
    data_dir: Annotated[Optional[Path], typer.Argument(help="Directory holding the tables (default: datasets/).")] = None,
    sources: Annotated[Optional[Path], typer.Option(help="Source archive for grounding (e.g. ../shared/sources).")] = None,
    names: Annotated[Optional[Path], typer.Option(help="File of person names, one a line, for the privacy rule.")] = None,
    acknowledgements: Annotated[Optional[Path], typer.Option(help="Acknowledgements file (default: checks/acknowledgements.toml).")] = None,
    format: Annotated[Format, typer.Option("--format", help="text or json.")] = Format.text,
    report: Annotated[Optional[Path], typer.Option(help="Also write an offline HTML report here.")] = None,
    schema_only: Annotated[bool, typer.Option(help="Run the schema stage only.")] = False,
) -> None:
    """Validate every table: schemas first, then the cross-source expectations. Exit 0 clean, 1 failed, 2 unusable."""
    from opsledger.validate import validate as run

    if acknowledgements is not None and not acknowledgements.is_file():
        _fail(f"{acknowledgements}: no such acknowledgements file", 2)
    rep = run(data_dir, sources=sources, names=_read_names(names), acknowledgements=acknowledgements,
              cross=not schema_only)
    if report is not None and not rep.unusable:
        from opsledger.report_html import write_html

        write_html(rep, report)
    if format is Format.json:
        typer.echo(rep.to_json())
    elif rep.unusable:
        typer.echo(f"error: {rep.unusable}", err=True)
    else:
        typer.echo(rep.text())
    raise typer.Exit(rep.exit_code)


@app.command()
def reconcile(
    data_dir: Annotated[Optional[Path], typer.Argument(help="Directory holding the tables (default: datasets/).")] = None,
    sources: Annotated[Optional[Path], typer.Option(help="Source archive (default: ../shared/sources if present).")] = None,
    write: Annotated[bool, typer.Option(help="Store the re-derived columns (old tables kept in .backup/).")] = False,
) -> None:
    """Recompute every derived column (after a change to the phrase or reconciliation rules)."""
    from opsledger.io import UnusableInput
    from opsledger.publish import diff_text
    from opsledger.reconcile import rederive

    try:
        changes = rederive(data_dir, sources or _default_sources(), write=write)
    except UnusableInput as exc:
        _fail(str(exc), 2)
    typer.echo(diff_text(changes))
    if not write and any(c["changed"] for c in changes.values()):
        typer.echo("(dry run: nothing written; add --write to store)")


@app.command()
def show(
    path: Annotated[Path, typer.Argument(help="A Parquet file.")],
) -> None:
    """Print a Parquet table as text, one row a line (use as git's diff text converter)."""
    from opsledger.io import show as run

    try:
        sys.stdout.write(run(path))
    except Exception as exc:  # any unreadable file
        _fail(f"{path}: cannot read ({exc})", 2)


@app.command()
def dictionary(
    write: Annotated[Optional[Path], typer.Option(help="Write to this file instead of printing.")] = None,
) -> None:
    """Print (or write) the data dictionary generated from schemas/, with the coverage of datasets/."""
    from opsledger.io import read_tables
    from opsledger.metadata import data_dictionary

    text = data_dictionary(read_tables())
    if write:
        from opsledger.util import write_text_atomic

        write_text_atomic(write, text)
    else:
        typer.echo(text)


@app.command()
def release(
    version: Annotated[str, typer.Argument(help="Semantic version, e.g. 0.1.0.")],
    to: Annotated[Optional[str], typer.Option("--to", help="Store: a directory or fsspec URL (default: releases/).")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Tables to release (default: datasets/).")] = None,
    sources: Annotated[Optional[Path], typer.Option(help="Source archive (default: ../shared/sources if present).")] = None,
    date: Annotated[Optional[str], typer.Option(help="Release date (default: today).")] = None,
    allow_ungrounded: Annotated[bool, typer.Option(help="Release without the source archive (recorded in the release).")] = False,
) -> None:
    """Publish an immutable, checksummed release (refused unless validation passes)."""
    from opsledger.publish import ReleaseError, release as run

    try:
        res = run(version, to, data_dir, sources or _default_sources(), date=date, allow_ungrounded=allow_ungrounded)
    except ReleaseError as exc:
        _fail(str(exc), 1)
    typer.echo(f"released {res.version} to {res.path} ({res.bump} change)")


@app.command()
def versions(
    store: Annotated[Optional[str], typer.Option("--store", help="Store (default: releases/).")] = None,
) -> None:
    """List the versions a store holds."""
    from opsledger.publish import versions as run

    rows = run(store)
    if not rows:
        typer.echo("no releases")
    for v in rows:
        mark = "latest" if v["latest"] else ""
        typer.echo(f"{v['version']}\t{v['date']}\t{v['manifest_sha256'][:12]}\t{mark}".rstrip())


@app.command()
def diff(
    old: Annotated[str, typer.Argument(help="A version, `latest`, or a directory of tables.")],
    new: Annotated[str, typer.Argument(help="A version, `latest`, or a directory of tables (e.g. datasets).")],
    store: Annotated[Optional[str], typer.Option("--store", help="Store (default: releases/).")] = None,
) -> None:
    """Print the row-level changes between two releases (or a release and working data)."""
    from opsledger.io import UnusableInput
    from opsledger.publish import ChecksumError, ReleaseError, diff_tables, diff_text, resolve

    try:
        typer.echo(diff_text(diff_tables(resolve(old, store), resolve(new, store))))
    except (ReleaseError, ChecksumError, UnusableInput) as exc:
        _fail(str(exc), 2)


@correction_app.command("check")
def correction_check(
    files: Annotated[list[Path], typer.Argument(help="Change-set files.")],
    data_dir: Annotated[Optional[Path], typer.Option(help="Tables to apply to (default: datasets/).")] = None,
    sources: Annotated[Optional[Path], typer.Option(help="Source archive (default: ../shared/sources if present).")] = None,
    format: Annotated[Format, typer.Option("--format")] = Format.text,
) -> None:
    """Apply change sets in memory, validate the result and print the row-level diff. Writes nothing."""
    from opsledger.corrections import CorrectionError, check

    worst = 0
    out = []
    for f in files:
        try:
            res = check(f, data_dir, sources or _default_sources())
        except CorrectionError as exc:
            typer.echo(f"error: {exc}", err=True)
            worst = max(worst, 2)
            continue
        except FileNotFoundError as exc:
            typer.echo(f"error: {exc}", err=True)
            worst = max(worst, 2)
            continue
        worst = max(worst, res.report.exit_code)
        out.append(res)
        if format is Format.text:
            typer.echo(f"# {f}: {len(res.diff)} change(s); validation exit {res.report.exit_code}")
            typer.echo(res.diff_text())
            if res.report.exit_code:
                typer.echo(res.report.text(limit=30))
    if format is Format.json:
        typer.echo(json.dumps([r.as_dict() for r in out], indent=2, ensure_ascii=False, default=str))
    raise typer.Exit(worst)


@correction_app.command("apply")
def correction_apply(
    file: Annotated[Path, typer.Argument(help="A change-set file under corrections/.")],
    data_dir: Annotated[Optional[Path], typer.Option(help="Tables to change (default: datasets/).")] = None,
    sources: Annotated[Optional[Path], typer.Option(help="Source archive (default: ../shared/sources if present).")] = None,
) -> None:
    """Check, then write the tables atomically, log every change and move the file to corrections/applied/."""
    from opsledger.corrections import CorrectionError, apply

    try:
        res = apply(file, data_dir, sources or _default_sources())
    except (CorrectionError, FileNotFoundError) as exc:
        _fail(str(exc), 1 if "would not validate" in str(exc) else 2)
    typer.echo(f"applied {res.correction_id}: {len(res.log)} change(s) logged")
    typer.echo(res.diff_text())


@correction_app.command("revert")
def correction_revert(
    correction_id: Annotated[str, typer.Argument(help="The id of an applied change set.")],
    data_dir: Annotated[Optional[Path], typer.Option(help="Tables (default: datasets/).")] = None,
    sources: Annotated[Optional[Path], typer.Option(help="Source archive (default: ../shared/sources if present).")] = None,
    corrections_dir: Annotated[Optional[Path], typer.Option(help="Where to write the revert file (default: corrections/).")] = None,
) -> None:
    """Write and apply a new change set that restores the values an applied one changed."""
    from opsledger.corrections import CorrectionError, revert

    try:
        res = revert(correction_id, data_dir, sources or _default_sources(), corrections_dir)
    except (CorrectionError, FileNotFoundError) as exc:
        _fail(str(exc), 1 if "would not validate" in str(exc) else 2)
    typer.echo(f"reverted {correction_id} with {res.correction_id}: {len(res.log)} change(s) logged")


@correction_app.command("schema")
def correction_schema() -> None:
    """Print the JSON Schema of a change-set file."""
    from opsledger.corrections import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


@privacy_app.command("hash")
def privacy_hash(names: Annotated[list[str], typer.Argument(help="Names to hash.")]) -> None:
    """Print the blocklist line (SHA-256 of the normalised name) for each name."""
    from opsledger.expectations import name_hash

    for n in names:
        typer.echo(name_hash(n))


@sources_app.command("fetch")
def sources_fetch(
    cache_dir: Annotated[Path, typer.Argument(help="Cache directory (never inside datasets/ or a release; never redistribute it).")],
    data_dir: Annotated[Optional[Path], typer.Option(help="Directory holding the tables (default: datasets/).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for one page.")] = 20.0,
    delay: Annotated[float, typer.Option(help="Seconds between two requests to the same host.")] = 5.0,
    contact: Annotated[Optional[str], typer.Option(help="Address or URL added to the User-Agent (default: $OPSLEDGER_CONTACT).")] = None,
    format: Annotated[Format, typer.Option("--format", help="text or json.")] = Format.text,
) -> None:
    """Fetch every source's address and report for every claim whether its quotation is still on the
    page (found / changed / gone). Exit 0 all found, 1 some changed or gone, 2 unusable input."""
    from opsledger.io import UnusableInput
    from opsledger.sources import UnusableCache, fetch

    try:
        res = fetch(cache_dir, data_dir, timeout=timeout, delay=delay, contact=contact)
    except (UnusableCache, UnusableInput) as exc:
        _fail(str(exc), 2)
    typer.echo(json.dumps(res.as_dict(), indent=2, ensure_ascii=False) if format is Format.json else res.text())
    c = res.counts()
    raise typer.Exit(1 if c["changed"] or c["gone"] else 0)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
