"""The ``opsledger`` command: thin typer wrappers over the public functions of :mod:`opsledger`.

Each command calls one public function (``api.validate``, ``api.release`` ...) with the library's own
defaults (no data directory, store or source archive is chosen here) and prints its result; argument
checks live in the library, so a library caller gets the same errors.

Errors: every command runs inside :func:`_handled`, which turns an :class:`~opsledger.errors.OpsledgerError`
into one ``error: ...`` line and the exit code its *type* carries (``UsageError`` 2, ``DataError`` 1),
an ``OSError`` (unreadable or unwritable path) into exit 2, and anything else into a one-line
``internal error`` with exit 3 (set ``OPSLEDGER_DEBUG=1`` for the traceback). Everything printed
goes through :func:`opsledger.terminal.safe`, so control characters from the data never reach the
terminal.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

import opsledger as api
from opsledger.errors import OpsledgerError, UsageError
from opsledger.terminal import one_line, safe

#: Exit code of an unexpected exception (a bug: please report it).
INTERNAL_ERROR = 3


def echo(text: object = "", err: bool = False, nl: bool = True) -> None:
    """Print through the one escaping helper (control characters and bidi overrides made visible);
    nothing, when the stream was closed before the command started."""
    typer.echo(safe(text), err=err, nl=nl)


def _handled(func):
    @functools.wraps(func)
    def run(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except OpsledgerError as exc:
            for line in str(exc).splitlines() or [type(exc).__name__]:
                echo(f"error: {line}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            echo(f"error: {where}{exc.strerror or exc}", err=True)
            raise typer.Exit(2) from None
        except Exception as exc:
            if os.environ.get("OPSLEDGER_DEBUG"):
                raise
            echo(f"internal error: {type(exc).__name__}: {one_line(exc)} (a bug: please report it; "
                 "OPSLEDGER_DEBUG=1 shows the traceback)", err=True)
            raise typer.Exit(INTERNAL_ERROR) from None

    return run


def paragraphs(doc: str | None) -> str | None:
    """A docstring as help text: each paragraph (lines up to a blank line) joined into one line, so the
    terminal's width wraps it, never the docstring's own line breaks; paragraphs stay apart."""
    if not doc:
        return doc
    import inspect

    return "\n\n".join(" ".join(p.split()) for p in inspect.cleandoc(doc).split("\n\n") if p.strip())


def _is_terminal(stream) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


@contextlib.contextmanager
def progress_bar(what: str, console=None):
    """A progress callback ``(done, total, item)`` drawing rich's progress bar on standard error while
    the block runs, when standard error is a terminal (or ``console`` is given); None in a pipe or a
    file, so nothing but the result is printed there. The bar is removed when the block ends."""
    if console is None and not _is_terminal(sys.stderr):
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TextColumn("{task.fields[item]}", markup=False),
                   console=console or Console(stderr=True), transient=True)
    task = bar.add_task(what, total=None, item="")

    def update(done: int, total: int, item: str) -> None:
        bar.update(task, completed=done, total=total, item=safe(one_line(item))[:60])

    with bar:
        yield update


class _Typer(typer.Typer):
    """A Typer whose every command runs inside :func:`_handled`, its help wrapped as paragraphs."""

    def command(self, *args, **kwargs):
        def decorator(func):
            kwargs.setdefault("help", paragraphs(func.__doc__))
            super(_Typer, self).command(*args, **kwargs)(_handled(func))
            return func

        return decorator


app = _Typer(
    help="opsledger: validate, release and correct the dataset of operations against online child sexual exploitation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
correction_app = _Typer(help="Check, apply and revert change sets (corrections/).", no_args_is_help=True)
app.add_typer(correction_app, name="correction")
privacy_app = _Typer(help="Manage the hashed blocklist of person names.", no_args_is_help=True)
app.add_typer(privacy_app, name="privacy")
sources_app = _Typer(help="Re-verify sources: fetch their pages into a private local cache.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")


class Format(str, Enum):
    text = "text"
    json = "json"


# Options shared by several commands: one declaration, one default (the library's).
DataDirOpt = Annotated[Optional[Path], typer.Option(help="Directory holding the tables (default: datasets/).")]
SourcesOpt = Annotated[Optional[Path], typer.Option(
    help="Source archive (default: ../shared/sources if present, as in the library).")]
NoSourcesOpt = Annotated[bool, typer.Option("--no-sources", help="Use no source archive, not even the default one.")]
StoreOpt = Annotated[Optional[str], typer.Option("--store", help="Store: a directory or fsspec URL (default: releases/).")]


def _archive(sources: Path | None, no_sources: bool):
    """The library's ``sources`` argument from the two options: its default unless one is given."""
    if sources is not None and no_sources:
        raise UsageError("--sources and --no-sources exclude each other")
    if no_sources:
        return None
    return api.DEFAULT_ARCHIVE if sources is None else sources


@app.command()
def validate(
    data_dir: Annotated[Optional[Path], typer.Argument(help="Directory holding the tables (default: datasets/).")] = None,
    sources: SourcesOpt = None,
    no_sources: NoSourcesOpt = False,
    names: Annotated[Optional[Path], typer.Option(help="File of person names (UTF-8 text, one a line) for the privacy rule.")] = None,
    acknowledgements: Annotated[Optional[Path], typer.Option(help="Acknowledgements file (default: checks/acknowledgements.toml).")] = None,
    format: Annotated[Format, typer.Option("--format", help="text or json.")] = Format.text,
    report: Annotated[Optional[Path], typer.Option(help="Also write an offline HTML report here.")] = None,
    schema_only: Annotated[bool, typer.Option(help="Run the schema stage only.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also list acknowledged findings with their reasons.")] = False,
    rule: Annotated[Optional[list[str]], typer.Option("--rule", help="Run only these cross-source rules (names or patterns such as 'meaning.*'; repeatable).")] = None,
) -> None:
    """Validate every table: schemas first, then the cross-source expectations. Exit 0 clean, 1 failed, 2 unusable."""
    rep = api.validate(data_dir, sources=_archive(sources, no_sources), names=names,
                       acknowledgements=acknowledgements, cross=not schema_only, rules=rule or None)
    if report is not None and not rep.unusable:
        from opsledger.validation.report import write_html

        write_html(rep, report)
    if format is Format.json:
        echo(rep.to_json())
    elif rep.unusable:
        echo(f"error: {one_line(rep.unusable)}", err=True)
    else:
        echo(rep.text(verbose=verbose))
    raise typer.Exit(rep.exit_code)


@app.command()
def reconcile(
    data_dir: Annotated[Optional[Path], typer.Argument(help="Directory holding the tables (default: datasets/).")] = None,
    sources: SourcesOpt = None,
    no_sources: NoSourcesOpt = False,
    write: Annotated[bool, typer.Option(help="Store the re-derived columns (old tables kept in .backup/).")] = False,
) -> None:
    """Recompute every derived column (after a change to the phrase or reconciliation rules)."""
    changes = api.rederive(data_dir, _archive(sources, no_sources), write=write)
    echo(changes.text())
    if not write and changes.any_changed():
        echo("(dry run: nothing written; add --write to store)")


@app.command()
def show(
    path: Annotated[Path, typer.Argument(help="A Parquet file.")],
) -> None:
    """Print a Parquet table as text, one row a line (use as git's diff text converter)."""
    from opsledger.data.io import show as run

    echo(run(path), nl=False)


@app.command()
def dictionary(
    write: Annotated[Optional[Path], typer.Option(help="Write to this file instead of printing.")] = None,
) -> None:
    """Print (or write) the data dictionary generated from schemas/, with the coverage of datasets/."""
    from opsledger.declarations import data_dictionary

    text = data_dictionary(api.read_tables())
    if write:
        from opsledger.data.txn import write_text_atomic

        write_text_atomic(write, text)
    else:
        echo(text)


@app.command("rules")
def rules_(
    write: Annotated[Optional[Path], typer.Option(help="Write the Markdown catalogue to this file instead of printing.")] = None,
    format: Annotated[Format, typer.Option("--format", help="text (Markdown) or json.")] = Format.text,
) -> None:
    """List every rule, schema stage and cross-source: family, severity, what it checks and what decides it."""
    from opsledger.validation.rules import catalogue, catalogue_markdown

    text = json.dumps(catalogue(), indent=2, ensure_ascii=False) if format is Format.json else catalogue_markdown()
    if write:
        from opsledger.data.txn import write_text_atomic

        write_text_atomic(write, text + "\n")
    else:
        echo(text)


@app.command()
def release(
    version: Annotated[str, typer.Argument(help="Semantic version, e.g. 0.1.0.")],
    to: Annotated[Optional[str], typer.Option("--to", help="Store: a directory or fsspec URL (default: releases/).")] = None,
    data_dir: DataDirOpt = None,
    sources: SourcesOpt = None,
    no_sources: NoSourcesOpt = False,
    date: Annotated[Optional[str], typer.Option(help="Release date, YYYY-MM-DD (default: today).")] = None,
    allow_ungrounded: Annotated[bool, typer.Option(help="Release without the source archive (recorded in the release).")] = False,
) -> None:
    """Publish an immutable, checksummed release (refused unless validation passes)."""
    # the one check the library does not make: a process-lived store is fine for a library caller,
    # but one made by a command vanishes when the command ends (memory://, simplecache::memory:// ...)
    if to is not None:
        from opsledger.publishing.store import lasting_store

        lasting_store(to)
    with progress_bar(f"release {version}") as progress:
        res = api.release(version, to, data_dir, _archive(sources, no_sources), date=date,
                          allow_ungrounded=allow_ungrounded, progress=progress)
    for note in res.notes:
        echo(f"note: {note}")
    echo(f"released {res.version} to {res.path} ({res.bump} change)")


@app.command()
def draft(
    page: Annotated[Path, typer.Argument(help="A page's text (UTF-8), e.g. a file of a source archive.")],
    language: Annotated[str, typer.Option("--language", help="The page's language (ISO 639-1).")] = "en",
    source_id: Annotated[Optional[str], typer.Option("--source-id", help="The source id to give the page.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the draft here (never over a file).")] = None,
) -> None:
    """Propose claims from one page: each figure with its phrase as written, its quotation and place,
    the interval, and guesses (metric, scope, the page's date) for a person to review line by line."""
    from opsledger.derive.draft import draft_file

    text = draft_file(page, language, source_id, out)
    if out is None:
        echo(text, nl=False)
    else:
        echo(f"wrote {out}")


@app.command()
def versions(store: StoreOpt = None) -> None:
    """List the versions a store holds (and any complete version the index does not list yet)."""
    rows = api.versions(store, unlisted=True)
    if not rows:
        echo("no releases")
    for v in rows:
        if "unlisted" in v:
            echo(f"{v['version']}\tnot in index.json: {v['unlisted']}")
            continue
        mark = "latest" if v["latest"] else ""
        echo(f"{v['version']}\t{v['date']}\t{v['manifest_sha256'][:12]}\t{mark}".rstrip())


@app.command()
def diff(
    old: Annotated[str, typer.Argument(help="A version, `latest`, or a directory of tables.")],
    new: Annotated[str, typer.Argument(help="A version, `latest`, or a directory of tables (e.g. datasets).")],
    store: StoreOpt = None,
) -> None:
    """Print the row-level changes between two releases (or a release and working data), then the
    published figures that moved, each as a reader sees it."""
    changes = api.diff(old, new, store)
    echo(changes.text())
    echo(changes.figures_text())


@correction_app.command("check")
def correction_check(
    files: Annotated[list[Path], typer.Argument(help="Change-set files.")],
    data_dir: DataDirOpt = None,
    sources: SourcesOpt = None,
    no_sources: NoSourcesOpt = False,
    format: Annotated[Format, typer.Option("--format")] = Format.text,
) -> None:
    """Apply change sets in memory, validate the result and print the row-level diff and what it does
    to the published figures. Writes nothing."""
    archive = _archive(sources, no_sources)
    worst = 0
    out = []
    for f in files:
        try:
            res = api.correction_check(f, data_dir, archive)
        except OpsledgerError as exc:
            for line in str(exc).splitlines():
                echo(f"error: {line}", err=True)
            worst = max(worst, exc.exit_code)
            continue
        worst = max(worst, res.report.exit_code)
        out.append(res)
        if format is Format.text:
            echo(f"# {f}: {len(res.log)} change(s); validation exit {res.report.exit_code}")
            echo(res.diff.text(rows=True))
            echo(res.diff.figures_text())
            if res.report.exit_code:
                echo(res.report.text(limit=30))
    if format is Format.json:
        echo(json.dumps([r.as_dict() for r in out], indent=2, ensure_ascii=False, default=str))
    raise typer.Exit(worst)


@correction_app.command("apply")
def correction_apply(
    files: Annotated[list[Path], typer.Argument(help="Change-set files under corrections/ (several: applied together).")],
    data_dir: DataDirOpt = None,
    sources: SourcesOpt = None,
    no_sources: NoSourcesOpt = False,
) -> None:
    """Check, then write the tables and the log in one atomic step and move the file to the data root's
    corrections/applied/ (a file outside that area stays where it is). Several files are applied
    together, in the order given: checked once as a whole, written in one step."""
    if len(files) == 1:
        results = [api.correction_apply(files[0], data_dir, _archive(sources, no_sources))]
    else:
        from opsledger.corrections.apply import apply_together

        results = apply_together(files, data_dir, _archive(sources, no_sources))
    for file, res in zip(files, results):
        echo(f"applied {res.correction_id}: {len(res.log)} change(s) logged")
        echo(res.diff.text(rows=True))
        echo(res.diff.figures_text())
        if res.moved_to is None:
            echo(f"note: {file} was left where it is (it is not in the corrections/ folder beside the data)")
    _refresh_dictionary(data_dir)


def _refresh_dictionary(data_dir) -> None:
    from opsledger.corrections.apply import refresh_dictionary

    written = refresh_dictionary(data_dir)
    if written is not None:
        echo(f"updated {written.name} (the data dictionary reports the data's coverage)")


@correction_app.command("revert")
def correction_revert(
    correction_id: Annotated[str, typer.Argument(help="The id of an applied change set.")],
    data_dir: DataDirOpt = None,
    sources: SourcesOpt = None,
    no_sources: NoSourcesOpt = False,
    corrections_dir: Annotated[Optional[Path], typer.Option(help="Where to write the revert file (default: corrections/ beside the data).")] = None,
) -> None:
    """Write and apply a new change set that restores the values an applied one changed."""
    res = api.correction_revert(correction_id, data_dir, _archive(sources, no_sources), corrections_dir)
    echo(f"reverted {correction_id} with {res.correction_id}: {len(res.log)} change(s) logged")
    echo(res.diff.figures_text())
    _refresh_dictionary(data_dir)


@correction_app.command("new")
def correction_new(
    slug: Annotated[str, typer.Argument(help="A short lowercase name, e.g. fix-blackwrist-sentence.")],
    corrections_dir: Annotated[Optional[Path], typer.Option(help="Folder of change sets (default: corrections/).")] = None,
) -> None:
    """Create the next numbered change-set file (NNNN-slug.yaml) from a template and print its path."""
    echo(api.correction_new(slug, corrections_dir))


@correction_app.command("schema")
def correction_schema() -> None:
    """Print the JSON Schema of a change-set file."""
    from opsledger.corrections.changeset import json_schema

    echo(json.dumps(json_schema(), indent=2))


@privacy_app.command("hash")
def privacy_hash(names: Annotated[list[str], typer.Argument(help="Names to hash.")]) -> None:
    """Print the blocklist line (SHA-256 of the normalised name) for each name."""
    from opsledger.validation.rules.privacy import name_hash

    for n in names:
        echo(name_hash(n))


@sources_app.command("fetch")
def sources_fetch(
    cache_dir: Annotated[Path, typer.Argument(help="Cache directory (never inside datasets/ or a release; never redistribute it).")],
    data_dir: Annotated[Optional[Path], typer.Option(help="Directory holding the tables (default: datasets/).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for one connect or read; a whole request may take at most 3 times this.")] = 20.0,
    delay: Annotated[float, typer.Option(help="Seconds between two requests to the same host.")] = 5.0,
    contact: Annotated[Optional[str], typer.Option(help="Your e-mail address or URL, added to the User-Agent so site owners can reach you (default: $OPSLEDGER_CONTACT).")] = None,
    format: Annotated[Format, typer.Option("--format", help="text or json.")] = Format.text,
) -> None:
    """Fetch every source's address and report for every claim whether its quotation is still on the
    page (found / changed / gone).

    Each host's robots.txt is read first (same User-Agent and timeout) and obeyed: an address it
    disallows is not fetched and its claims are reported skipped (robots.txt); a robots.txt that cannot
    be read allows everything, a 401/403 on it disallows the host. The User-Agent is
    opsledger/<version> with --contact (or the declared repository address) so site owners can reach
    whoever runs the fetch. Only http(s) addresses are read, a redirect never goes to a loopback,
    private or link-local address (unless it stays on the origin the data names), and whatever one
    address does becomes its error in the manifest, which is written after every address.
    Exit 0 all found, 1 some changed or gone, 2 unusable input."""
    from opsledger.refetch import fetch

    with progress_bar("fetching") as progress:
        res = fetch(cache_dir, data_dir, timeout=timeout, delay=delay, contact=contact, progress=progress)
    echo(json.dumps(res.as_dict(), indent=2, ensure_ascii=False) if format is Format.json else res.text())
    raise typer.Exit(res.exit_code)


def main() -> None:
    """The ``opsledger`` command (the console script, and ``python -m opsledger.cli``): :data:`app`,
    then leave at once with its exit code. By then a command has written and closed its files
    (every write is atomic) and stopped any worker; the interpreter's teardown (0.3 s after a 3.5 s
    validation on the project machine, unloading pandas, polars and pandera) has nothing left to
    keep, so it is skipped once standard output and standard error are flushed."""
    try:
        app()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    if code is None:
        code = 0
    elif not isinstance(code, int):  # as Python does with SystemExit("message")
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:  # (None when the command was started with the stream closed)
                stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
