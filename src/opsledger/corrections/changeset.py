"""Change sets: the one way curated data changes, with a source and a reason for every change.

A change set is a YAML file under ``corrections/`` (see CONTRIBUTING.md and
``corrections/changeset.schema.json``). :func:`check` applies it in memory and validates the result;
:func:`apply` also writes the tables atomically, logs every change to the ``corrections`` table and
moves the file to ``corrections/applied/``; :func:`revert` writes and applies the inverse change set.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, model_validator

from opsledger.data import io as oio
from opsledger.errors import DataError, UsageError, require
from opsledger.declarations import TABLES, repo_root, table
from opsledger.derive.reconcile import derive_all
from opsledger.derive.tablediff import Diff, diff_tables

#: Largest change-set file read from a contributor (the biggest applied one is ~40 KiB). A revert file
#: the tool writes itself can be larger (it re-adds every row a retirement removed): :func:`revert`
#: reads its own file with its own size as the bound, so whatever apply accepted, revert undoes.
MAX_FILE_BYTES = 1 << 20

def editable() -> list[str]:
    """The tables a change set may edit: every curated table (not derived, not the audit log), read
    from the declarations on each call."""
    return [t for t in TABLES if t != "corrections" and not table(t).is_derived]


class Change(BaseModel):
    """One operation on one row. Every change cites a source."""

    model_config = ConfigDict(extra="forbid")
    op: Literal["add", "update", "retire"]
    table: str
    key: str | None = None
    row: dict[str, Any] | None = None
    set: dict[str, Any] | None = None
    expect: dict[str, Any] | None = None
    source: str
    reason: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> "Change":
        problems = []
        if self.table not in editable():
            problems.append(f"table must be one of {editable()}")
        if self.op == "add":
            if not self.row or self.key or self.set or self.expect:
                problems.append("add takes `row` only (its key is inside the row)")
        elif self.op == "update":
            if not self.key or not self.set or self.expect is None or self.row:
                problems.append("update takes `key`, `set` and `expect` (the values it replaces, "
                                "so that a conflicting correction is caught)")
            elif set(self.expect) != set(self.set):
                problems.append("update: `expect` must name the same columns as `set`")
        elif not self.key or self.row or self.set:
            problems.append("retire takes `key` (and optionally `expect`)")
        if self.table in editable():
            t = table(self.table)
            for c in list(self.set or {}) + list(self.row or {}):
                if c in t.derived:
                    problems.append(f"column {c} of {self.table} is derived (computed from the claims); "
                                    "a change set may not set it: change the claims instead")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class ChangeSet(BaseModel):
    """A reviewable change set: title, reason, optional contributor handle, and its changes."""

    model_config = ConfigDict(extra="forbid")
    title: str
    reason: str
    contributor: str | None = None
    changes: list[Change]
    #: the 1-based line of each change in the file it was read from (set by :func:`load`; for messages)
    _lines: list[int] = PrivateAttr(default_factory=list)


class CorrectionError(UsageError):
    """A change set that cannot be applied (exit 2); the message names file, line, table, key and
    column, one line per problem."""


class ChangeSetRefused(CorrectionError, DataError):
    """A change set that applies, but the data would not validate afterwards (exit 1)."""

    exit_code = 1


@dataclass
class Result:
    """A change set applied (in memory by :func:`check`, on disk by :func:`apply`)."""

    correction_id: str
    tables: dict[str, pl.DataFrame]
    log: pl.DataFrame
    #: every row the change set moves, derived columns (marked) included; the corrections log left out
    diff: Diff = field(default_factory=Diff)
    report: Any = None  # the validation Report of the result, once checked
    moved_to: Path | None = None  # where apply moved the file (None: left in place)
    #: the SHA-256 of each table file the change set was applied to (see ``oio.tables_state``):
    #: :func:`commit` writes only onto these same tables
    base: dict[str, str] | None = None

    def as_dict(self) -> dict:
        return {
            "correction_id": self.correction_id,
            "changes": self.diff.as_dict(),
            "published": [{k: (v if not isinstance(v, dict) else {a: _jsonable(b) for a, b in v.items()})
                           for k, v in d.items()} for d in self.diff.figures()],
            "validation": self.report.as_dict() if self.report else None,
        }


def json_schema() -> dict:
    """JSON Schema of a change-set file (for editors)."""
    schema = ChangeSet.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "opsledger change set"
    return schema


def _line_of_changes(text: str) -> list[int]:
    """1-based line of each item of ``changes`` (for error messages)."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return []
    if not isinstance(node, yaml.MappingNode):
        return []
    for k, v in node.value:
        if k.value == "changes" and isinstance(v, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in v.value]
    return []


#: Deepest nesting a change set may have: a value in a row is 5 levels down (file, changes, change,
#: row, value); anything much deeper is refused before it is built (no RecursionError).
MAX_NESTING = 16
_SURROGATE = re.compile("[\ud800-\udfff]")


class _Loader(yaml.SafeLoader):
    """Safe YAML as a change set needs it, each refusal a YAML error with its line:

    - no aliases: a change set never needs them, and an alias bomb (a few lines expanding to
      gigabytes) is refused before anything is built;
    - no duplicate keys (YAML says a key is unique; PyYAML would silently keep the last one) and no
      merge keys (``<<``, which override keys just as silently);
    - at most :data:`MAX_NESTING` levels of nesting;
    - a scalar that cannot be read as its type (``2021-02-30``, ``!!int abc``) is a YAML error, never
      a Python one, and so is a string holding a surrogate code point (``"\\ud800"``: not text)."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in a change set", event.start_mark)
        if self._depth >= MAX_NESTING:
            raise yaml.composer.ComposerError(
                None, None, f"nested more than {MAX_NESTING} levels deep (a change set needs 5)",
                self.peek_event().start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first = {}  # key -> the line it first appears on
            for key_node, _value in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise yaml.constructor.ConstructorError(
                        None, None, "merge keys (<<) are not allowed in a change set", key_node.start_mark)
                if not isinstance(key_node, yaml.ScalarNode):
                    continue  # a collection as a key: refused as unhashable below
                key = self.construct_object(key_node, deep=True)
                if key in first:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first at line {first[key]}); a key may appear "
                        "once in a mapping", key_node.start_mark)
                first[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)

    def construct_scalar(self, node):
        value = super().construct_scalar(node)
        if isinstance(value, str) and (m := _SURROGATE.search(value)):
            raise yaml.constructor.ConstructorError(
                None, None, f"a string holds the surrogate code point U+{ord(m[0]):04X}, which is not text",
                node.start_mark)
        return value

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError, IndexError) as exc:
            value = node.value if isinstance(node, yaml.ScalarNode) else type(node).__name__
            why = f" ({exc})" if isinstance(exc, (ValueError, OverflowError)) else ""
            raise yaml.constructor.ConstructorError(
                None, None, f"{value!r} cannot be read as {node.tag.rsplit(':', 1)[-1]}{why}",
                node.start_mark) from None


def read_changeset_text(path: Path, max_bytes: int | None = None) -> str:
    """The text of a change-set file: a regular UTF-8 text file of at most ``max_bytes`` (default
    :data:`MAX_FILE_BYTES`)."""
    try:
        got = oio.read_text_file(path, "change set", limit=MAX_FILE_BYTES if max_bytes is None else max_bytes)
    except OSError as exc:
        raise CorrectionError(f"{path}: cannot read ({exc.strerror})") from None
    except UsageError as exc:
        raise CorrectionError(str(exc)) from None
    if got is None:
        raise CorrectionError(f"{path}: no such change-set file")
    return got[0]


def safe_load(text: str):
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def read_changeset(path: Path | str, max_bytes: int | None = None) -> ChangeSet:
    """Parse and check the shape of a change-set file (every problem reported, one line each)."""
    path = _changeset_path(path)
    text = read_changeset_text(path, max_bytes)
    try:
        raw = safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise CorrectionError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(raw, dict):
        raise CorrectionError(f"{path}: a change set is a mapping with title, reason and changes")
    lines = _line_of_changes(text)
    try:
        cs = ChangeSet.model_validate(raw)
    except ValidationError as exc:
        msgs = []
        for err in exc.errors():
            loc = err["loc"]
            where = ""
            if len(loc) >= 2 and loc[0] == "changes" and isinstance(loc[1], int) and loc[1] < len(lines):
                where = f":{lines[loc[1]]}"
            field_ = ".".join(map(str, loc)) or "(file)"
            msgs.append(f"{path}{where}: field {field_}: {err['msg'].removeprefix('Value error, ')}")
        raise CorrectionError("\n".join(msgs)) from None
    cs._lines = lines
    return cs


def _coerce(name: str, column: str, value: Any) -> Any:
    """A YAML value as the column's Python type (dates from ISO strings)."""
    if value is None:
        return None
    ftype = table(name).field(column).type
    if ftype == "date" and isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO date") from None
    if ftype == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if ftype == "integer" and isinstance(value, int) and not isinstance(value, bool):
        if not -(1 << 63) <= value < (1 << 63):
            raise ValueError(f"{value} is out of the range of an integer column")
        return value
    if ftype == "boolean" and isinstance(value, bool):
        return value
    if ftype == "string" and isinstance(value, str):
        return value
    if ftype == "date" and isinstance(value, dt.date):
        return value
    raise ValueError(f"{value!r} is not a {ftype}")


def _jsonable(v: Any) -> Any:
    return v.isoformat() if isinstance(v, dt.date) else v


def _dump(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, dict):
        return json.dumps({k: _jsonable(x) for k, x in v.items() if x is not None},
                          ensure_ascii=False, sort_keys=True)
    return json.dumps(_jsonable(v), ensure_ascii=False)


def _loc(path: Path, lines: list[int], i: int) -> str:
    return f"{path}:{lines[i]}" if i < len(lines) else str(path)


def _default_scope(table_name: str, row: dict, rows: dict) -> None:
    """Rows added by change sets written before the figure model have no scope: an outcome's is the
    one its country implies; a claim's is its target outcome's (worldwide for other targets)."""
    if "scope" not in row or row["scope"] is not None:
        return
    if table_name == "claims":
        target = rows["outcomes"].get(row.get("target_id")) if row.get("target_table") == "outcomes" else None
        if target is not None:
            row.update(scope=target["scope"], country=target["country"], area=target["area"])
            return
    row["scope"] = "country" if row.get("country") else "worldwide"


def apply_in_memory(changeset: ChangeSet, tables: dict[str, pl.DataFrame], path: Path,
                    archive: Path | None = None, applied_at: str | None = None) -> Result:
    """Apply a change set to frames; raise :class:`CorrectionError` naming every problem (file and line
    from ``path`` and the lines :func:`load` recorded; the file is not read again)."""
    rows = {n: {r[table(n).key]: r for r in tables[n].iter_rows(named=True)} for n in editable()}
    added = {c.row.get("source_id") for c in changeset.changes if c.op == "add" and c.table == "sources"}
    sources = set(rows["sources"]) | added
    errors: list[str] = []
    log: list[tuple] = []
    for i, ch in enumerate(changeset.changes):
        where = _loc(path, changeset._lines, i)
        if ch.source not in sources:
            errors.append(f"{where}: table {ch.table}: source {ch.source!r} is neither in sources nor added by this file")
        else:
            errors += {"add": _add, "update": _update, "retire": _retire}[ch.op](ch, rows, log, where)
    if errors:
        raise CorrectionError("\n".join(errors))
    out = {n: pl.DataFrame(list(rows[n].values()), schema={f.name: tables[n].schema[f.name] for f in table(n).fields},
                           orient="row") for n in editable()}
    out = derive_all(out, archive)
    stored = {n: {r[table(n).key]: r for r in out[n].iter_rows(named=True)} for n in editable()}
    errors = _derived_overwrites(changeset, stored, path)
    if errors:
        raise CorrectionError("\n".join(errors))
    log = [(ch, key, col, old, (_dump(stored[ch.table].get(key)) or new) if col == "*" and old is None else new)
           for ch, key, col, old, new in log]
    log_df = _log_frame(changeset, log, path, applied_at, tables["corrections"].schema)
    out["corrections"] = pl.concat([tables["corrections"], log_df])
    from opsledger.derive.reconcile import show_figures

    moved = diff_tables(tables, out, [n for n in TABLES if n != "corrections"])
    return Result(path.stem, out, log_df, show_figures(moved, tables, out))


def _add(ch: Change, rows: dict, log: list, where: str) -> list[str]:
    """An added row, coerced to its columns' types and stored in ``rows``; the problems, if any."""
    t = table(ch.table)
    key = ch.row.get(t.key)
    unknown = [c for c in ch.row if c not in t.columns]
    if unknown:
        return [f"{where}: table {ch.table}, key {key}: unknown column(s) {unknown}"]
    if not isinstance(key, str):
        return [f"{where}: table {ch.table}: the row has no {t.key}"]
    if key in rows[ch.table]:
        return [f"{where}: table {ch.table}, key {key}: a row with this key exists already"]
    new = dict.fromkeys(t.columns)
    for c, v in ch.row.items():
        try:
            new[c] = _coerce(ch.table, c, v)
        except ValueError as exc:
            return [f"{where}: table {ch.table}, key {key}, column {c}: {exc}"]
    _default_scope(ch.table, new, rows)
    rows[ch.table][key] = new
    log.append((ch, key, "*", None, _dump(new)))
    return []


def _expected(ch: Change, rows: dict, where: str) -> list[str]:
    """The problems of an update's or retirement's row: missing, or not holding the values it expects."""
    if ch.key not in rows[ch.table]:
        return [f"{where}: table {ch.table}, key {ch.key}: no such row"]
    current, t, errors = rows[ch.table][ch.key], table(ch.table), []
    for c, expected in (ch.expect or {}).items():
        if c not in t.columns:
            errors.append(f"{where}: table {ch.table}, key {ch.key}: unknown column {c!r}")
            continue
        try:
            exp = _coerce(ch.table, c, expected)
        except ValueError as exc:
            errors.append(f"{where}: table {ch.table}, key {ch.key}, column {c}: {exc}")
            continue
        if current[c] != exp:
            errors.append(f"{where}: table {ch.table}, key {ch.key}, column {c}: expected old value "
                          f"{_dump(exp)} but the data holds {_dump(current[c])} (changed since the file was written?)")
    return errors


def _retire(ch: Change, rows: dict, log: list, where: str) -> list[str]:
    errors = _expected(ch, rows, where)
    if not errors:
        log.append((ch, ch.key, "*", _dump(rows[ch.table].pop(ch.key)), None))
    return errors


def _update(ch: Change, rows: dict, log: list, where: str) -> list[str]:
    errors = _expected(ch, rows, where)
    if errors:
        return errors
    current = rows[ch.table][ch.key]
    updated = dict(current)
    for c, v in ch.set.items():
        try:
            if c == table(ch.table).key:
                raise ValueError("a key cannot be updated; retire the row and add a new one")
            updated[c] = _coerce(ch.table, c, v)
        except ValueError as exc:
            return [f"{where}: table {ch.table}, key {ch.key}, column {c}: {exc}"]
    rows[ch.table][ch.key] = updated
    log.extend((ch, ch.key, c, _dump(current[c]), _dump(updated[c])) for c in ch.set)
    return []


def _derived_overwrites(changeset: ChangeSet, stored: dict, path: Path) -> list[str]:
    """Every value a change set gives must be the value stored: a column the claims derive for this row
    (e.g. an outcome's date when claims date it) would silently be replaced, and the log lie."""
    errors = []
    for i, ch in enumerate(changeset.changes):
        given = ch.set if ch.op == "update" else (ch.row if ch.op == "add" else None)
        key = ch.key if ch.op == "update" else (ch.row or {}).get(table(ch.table).key)
        row = stored[ch.table].get(key)
        if not given or row is None:
            continue
        for c, v in given.items():
            try:
                want = _coerce(ch.table, c, v)
            except ValueError:
                continue
            if want is not None and row[c] != want:
                errors.append(f"{_loc(path, changeset._lines, i)}: table {ch.table}, key {key}, column {c}: "
                              f"derived from the claims for this row, so {_dump(want)} would be stored as "
                              f"{_dump(row[c])}; change the claims instead")
    return errors


def _log_frame(changeset: ChangeSet, log: list[tuple], path: Path, applied_at: str | None, schema) -> pl.DataFrame:
    """The corrections log's new rows: one per added or retired row and per changed cell."""
    cid = path.stem
    when = applied_at or dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        rel = str(path.resolve().relative_to(repo_root()))
    except ValueError:
        rel = path.name
    return pl.DataFrame([
        {"log_id": f"{cid}.{n + 1:04d}", "correction_id": cid, "file": rel, "applied_at": when,
         "action": ch.op, "table_name": ch.table, "row_key": key, "column_name": col,
         "old_value": old, "new_value": new, "source_id": ch.source,
         "reason": ch.reason or changeset.reason, "contributor": changeset.contributor}
        for n, (ch, key, col, old, new) in enumerate(log)], schema=schema, orient="row")


def _correction_id_ok(cid: str) -> bool:
    return re.fullmatch(r"[a-z0-9]+(?:[._-][a-z0-9]+)*", cid) is not None


def _changeset_path(path) -> Path:
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise CorrectionError(f"{path!r} is not the path of a change-set file")
    return Path(path)


def prepare(path: Path | str, data_dir: Path | str | None = None, archive=oio.DEFAULT_ARCHIVE, *,
            max_bytes: int | None = None) -> Result:
    """Load a change set and apply it to the tables of ``data_dir`` in memory. ``archive`` is the source
    archive (default: ``../shared/sources`` when present; None: none), as for every function here.
    ``max_bytes`` bounds the file's size (default :data:`MAX_FILE_BYTES`)."""
    path = _changeset_path(path)
    archive = oio.source_archive(archive)
    tables, base = oio.read_tables_state(data_dir)
    res = apply_file(path, tables, archive, max_bytes=max_bytes)
    res.base = base
    return res


def apply_file(path: Path, tables: dict[str, pl.DataFrame], archive: Path | None,
               max_bytes: int | None = None) -> Result:
    """The change set in ``path`` applied to ``tables`` in memory: its name checked, the file read, and
    refused when the tables' log shows it applied already."""
    if not _correction_id_ok(path.stem):
        raise CorrectionError(f"{path}: file name must be a lowercase slug such as 0003-fix-sentence.yaml")
    cs = read_changeset(path, max_bytes)
    if path.stem in set(tables["corrections"]["correction_id"].unique().to_list()):
        raise CorrectionError(f"{path}: change set {path.stem!r} has been applied already")
    return apply_in_memory(cs, tables, path, archive)


def check(path: Path | str, data_dir: Path | str | None = None, archive=oio.DEFAULT_ARCHIVE, *,
          max_bytes: int | None = None) -> Result:
    """Apply in memory and run the full validation on the result. Writes nothing."""
    from opsledger.validation.run import validate_tables

    require("validate")
    archive = oio.source_archive(archive)
    res = prepare(path, data_dir, archive, max_bytes=max_bytes)
    res.report = validate_tables(res.tables, sources=archive)
    return res

__all__ = ["ChangeSet", "Change", "CorrectionError", "ChangeSetRefused", "read_changeset", "prepare", "check", "apply_in_memory", "json_schema"]

