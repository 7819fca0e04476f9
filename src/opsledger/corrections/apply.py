"""Applying change sets to a data directory: check, then write the tables, the log and the file's move
as one transaction under the data directory's lock (:func:`apply`, :func:`apply_together`); undo one
(:func:`revert`); start a new one (:func:`new_changeset`). Reading and checking a change set is
:mod:`opsledger.corrections.changeset`."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from opsledger.corrections import changeset as _changeset
from opsledger.corrections.changeset import (ChangeSetRefused, CorrectionError, Result,  # noqa: F401
                                             _changeset_path, _correction_id_ok, _dump, apply_file, apply_in_memory, check,
                                             prepare, read_changeset, read_changeset_text)
from opsledger.data import io as oio
from opsledger.declarations import repo_root, table
from opsledger.errors import UsageError, require


def applied_dir_for(path: Path, data_dir: Path) -> Path | None:
    """Where ``apply`` moves a change-set file: ``<root>/corrections/applied/`` of the data root
    (``root`` is the parent of the data directory) when the file is in ``<root>/corrections/``;
    otherwise None: the file stays where it is (it is logged by name either way)."""
    area = (Path(data_dir).resolve().parent / "corrections")
    if path.resolve().parent == area:
        return area / "applied"
    return None


def apply(path: Path | str, data_dir: Path | str | None = None, archive=oio.DEFAULT_ARCHIVE,
          applied_dir: Path | str | None = None, *, max_bytes: int | None = None) -> Result:
    """Check, then write the tables and the log as one atomic transaction (see
    :func:`opsledger.data.io.commit`) and move the file to the data root's ``corrections/applied/``.

    ``applied_dir`` overrides where the file goes; by default a file outside ``corrections/`` beside
    the data directory is not moved (``Result.moved_to`` is None).

    The data directory's write lock is held from reading the tables to writing them, so the change
    set is checked against the tables it is written onto: a second apply on the same directory waits,
    then checks against what the first wrote."""
    path = _changeset_path(path)
    data_dir = _data_dir(data_dir)
    applied_dir = oio.path_arg(applied_dir, "applied_dir")
    with oio.locked(data_dir):
        res = check(path, data_dir, archive, max_bytes=max_bytes)
        if res.report.exit_code != 0:
            raise ChangeSetRefused(
                f"{path}: the data would not validate after this change set; nothing written:\n"
                + res.report.text(limit=20)
            )
        return commit(res, path, data_dir, applied_dir)


def apply_together(paths, data_dir: Path | str | None = None, archive=oio.DEFAULT_ARCHIVE) -> list[Result]:
    """Apply several change sets that are valid only together (each one's result alone would not
    validate, e.g. a rule and the data it needs): in memory one after another in the order given, then
    one validation of the end result, then one transaction that writes the tables, every log row and
    every file's move. Nothing is written unless the end result validates. The lock is held throughout."""
    from opsledger.validation.run import validate_tables

    require("validate")
    if not isinstance(paths, (list, tuple)) or not paths:
        raise UsageError("apply_together needs a non-empty list of change-set files")
    paths = [_changeset_path(p) for p in paths]
    data_dir = _data_dir(data_dir)
    archive = oio.source_archive(archive)
    with oio.locked(data_dir):
        tables, base = oio.read_tables_state(data_dir)
        results = []
        for path in paths:  # each applied to the tables the previous ones left (their log included)
            res = apply_file(path, tables, archive)
            tables = res.tables
            results.append(res)
        report = validate_tables(tables, sources=archive)
        if report.exit_code != 0:
            raise ChangeSetRefused(f"{', '.join(p.name for p in paths)}: the data would not validate after these "
                                   "change sets; nothing written:\n" + report.text(limit=20))
        moves = []
        for path in paths:
            applied = applied_dir_for(path, data_dir)
            if applied is not None:
                if (applied / path.name).exists():
                    raise CorrectionError(f"{applied / path.name} exists already; not overwriting it; nothing written")
                moves.append((path, applied / path.name))

        def unchanged() -> None:
            if oio.tables_state(data_dir) != base:
                raise CorrectionError(f"the tables in {data_dir} changed meanwhile; nothing written")

        oio.write_tables(tables, data_dir, moves=moves, before=unchanged)
        for res, path in zip(results, paths):
            res.report = report
            res.moved_to = dict(moves).get(path)
        return results


def _data_dir(data_dir) -> Path:
    """A data directory argument of a writer: the default, or an existing directory."""
    data_dir = oio.path_arg(data_dir, "data_dir") or oio.default_data_dir()
    if not data_dir.is_dir():
        raise oio.UnusableInput(f"{data_dir}: no such data directory")
    return data_dir


def commit(res: Result, path: Path, data_dir: Path, applied_dir: Path | str | None = None) -> Result:
    """Write a checked result: tables, log and the file's move in one transaction."""
    applied = oio.path_arg(applied_dir, "applied_dir") or applied_dir_for(path, data_dir)
    dest = applied / path.name if applied is not None else None
    if dest is not None and dest.exists():
        raise CorrectionError(f"{dest} exists already; not overwriting it; nothing written")

    def still_unapplied() -> None:  # under the lock: a concurrent apply of the same file loses
        done = oio.read_arrow(data_dir, "corrections").column("correction_id").to_pylist()
        if res.correction_id in done:
            raise CorrectionError(f"{path}: change set {res.correction_id!r} has been applied already "
                                  "(by another run); nothing written")
        if dest is not None and dest.exists():
            raise CorrectionError(f"{dest} exists already; not overwriting it; nothing written")
        if res.base is not None and oio.tables_state(data_dir) != res.base:
            raise CorrectionError(f"{path}: the tables in {data_dir} changed after this change set was checked "
                                  "(another change was written meanwhile); nothing written: check and apply it again")

    moves = [(path, dest)] if dest is not None else []
    oio.write_tables(res.tables, data_dir, moves=moves, before=still_unapplied)
    res.moved_to = dest
    return res


def refresh_dictionary(data_dir: Path | str | None = None) -> Path | None:
    """Rewrite the repository's generated data dictionary (docs/data-dictionary.md, which reports the
    data's coverage) when ``data_dir`` is the repository's own data; return the file written, else None.
    Applying a change set never does this on its own: the command line calls it after an apply or a
    revert and says so."""
    from opsledger.data.txn import write_text_atomic
    from opsledger.declarations import data_dictionary

    data_dir = _data_dir(data_dir)
    if data_dir.resolve() != oio.default_data_dir().resolve():
        return None
    out = repo_root() / "docs" / "data-dictionary.md"
    write_text_atomic(out, data_dictionary(oio.read_tables(data_dir)))
    return out


def revert(correction_id: str, data_dir: Path | str | None = None, archive=oio.DEFAULT_ARCHIVE,
           corrections_dir: Path | str | None = None) -> Result:
    """Write a change set that undoes ``correction_id`` (adds are retired, retirements re-added,
    updates set back, each expecting the value the correction left) and apply it, under the data
    directory's write lock from reading the log to writing."""
    data_dir = _data_dir(data_dir)
    archive = oio.source_archive(archive)
    corrections_dir = oio.path_arg(corrections_dir, "corrections_dir")
    if not isinstance(correction_id, str) or not _correction_id_ok(correction_id):
        raise CorrectionError(f"{correction_id!r} is not a change-set id (a lowercase slug such as 0003-fix-sentence)")
    with oio.locked(data_dir):
        return _revert_locked(correction_id, data_dir, archive, corrections_dir)


def _revert_locked(correction_id: str, data_dir: Path, archive, corrections_dir) -> Result:
    tables = oio.read_tables(data_dir)
    log = tables["corrections"].filter(pl.col("correction_id") == correction_id)
    if log.is_empty():
        raise CorrectionError(f"no applied change set {correction_id!r} in the corrections log")
    changes = []
    for row in reversed(log.rows(named=True)):
        t = table(row["table_name"])
        if row["action"] == "add":
            changes.append({"op": "retire", "table": row["table_name"], "key": row["row_key"],
                            "source": row["source_id"]})
        elif row["action"] == "retire":
            old = json.loads(row["old_value"])
            changes.append({"op": "add", "table": row["table_name"], "source": row["source_id"],
                            "row": {c: old.get(c) for c in t.columns if c in old}})
        else:
            changes.append({"op": "update", "table": row["table_name"], "key": row["row_key"],
                            "source": row["source_id"],
                            "set": {row["column_name"]: _undump(row["old_value"])},
                            "expect": {row["column_name"]: _undump(row["new_value"])}})
    out_dir = corrections_dir or data_dir.resolve().parent / "corrections"
    n = 1
    while (out_dir / f"revert-{correction_id}-{n}.yaml").exists() or \
            (out_dir / "applied" / f"revert-{correction_id}-{n}.yaml").exists():
        n += 1
    path = out_dir / f"revert-{correction_id}-{n}.yaml"
    doc = {"title": f"Revert {correction_id}", "reason": f"Restores the values {correction_id} changed.",
           "contributor": None, "changes": changes}
    from opsledger.data.txn import write_text_atomic

    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    write_text_atomic(path, text)
    try:  # its own file, however large: it undoes what apply accepted
        return apply(path, data_dir, archive, max_bytes=max(_changeset.MAX_FILE_BYTES, len(text.encode("utf-8"))))
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _undump(v: str | None) -> Any:
    return None if v is None else json.loads(v)


def next_number(corrections_dir: Path) -> int:
    """The number the next change set takes: one above the highest ``NNNN-`` prefix among the pending
    and applied files (the ``revert-*`` files are not numbered)."""
    nums = [int(m[1]) for p in [*corrections_dir.glob("*.yaml"), *(corrections_dir / "applied").glob("*.yaml")]
            if (m := re.match(r"([0-9]+)-", p.name))]
    return max(nums, default=0) + 1


TEMPLATE = """\
# Change set {name}: see CONTRIBUTING.md. Every change cites a source; `expect` holds the values an
# update replaces. Do not set derived columns (the tool computes them from the claims).
title: One line saying what changes
contributor: null
reason: Why, in your words.
changes:
  - op: update
    table: claims
    key: <claim_id>
    expect: {{stated: "<the phrase as the data holds it now>"}}
    set: {{stated: "<the phrase exactly as the source writes it>"}}
    source: <source_id>
"""


def new_changeset(slug: str, corrections_dir: Path | str | None = None) -> Path:
    """Create ``corrections/NNNN-slug.yaml`` (the next free number) from a template; return its path."""
    if not isinstance(slug, str) or not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", slug):
        raise UsageError(f"{slug!r}: the name must be a lowercase slug such as fix-blackwrist-sentence")
    out_dir = oio.path_arg(corrections_dir, "corrections_dir") or repo_root() / "corrections"
    if not out_dir.is_dir():
        raise UsageError(f"{out_dir}: no such corrections folder")
    name = f"{next_number(out_dir):04d}-{slug}"
    path = out_dir / f"{name}.yaml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)  # never overwrite
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(TEMPLATE.format(name=name))
    return path


__all__ = ["apply", "apply_together", "applied_dir_for", "commit", "refresh_dictionary", "revert", "next_number",
           "new_changeset"]
