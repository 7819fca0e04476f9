"""The one table diff: rows added, removed and changed per table, by primary key.

(This module is ``opsledger.derive.tablediff``, not ``opsledger.diff``: a submodule of that name would replace
the function ``opsledger.diff`` on the package after its first import.)

Used by every place that shows a change to the data: ``opsledger diff`` (two releases, or a release and
a directory), ``opsledger reconcile`` (stored against re-derived columns), the release notes
(``CHANGELOG.md`` counts, ``CHANGES.md`` detail) and change sets (``opsledger correction check|apply``:
the rows a change set moves, derived columns marked, and the published figures it moves).

A :class:`Diff` maps each table to a :class:`TableDiff`; cells are written by :func:`cell` (text
quoted, numbers and dates through :mod:`opsledger.data.fmt`, ``empty`` for null). This module imports
only polars and the declarations (no release, validation or reconciliation code).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable

import polars as pl

from opsledger.data import fmt
from opsledger.declarations import TABLES, table as declaration

#: The published figures a reviewer must see move: per table, the columns of a figure.
FIGURE_TABLES = ("outcomes", "statistics")
FIGURE_COLUMNS = ("value", "value_low", "value_high", "status", "n_sources")


@dataclass(frozen=True)
class CellChange:
    """One cell that differs: row key, column, old and new value; ``derived`` when the tool computes
    the column (a change set never sets it: it moves because the claims moved)."""

    key: Any
    column: str
    old: Any
    new: Any
    derived: bool = False

    def as_dict(self) -> dict:
        return {"key": self.key, "column": self.column, "old": _jsonable(self.old), "new": _jsonable(self.new),
                "derived": self.derived}


@dataclass
class TableDiff:
    """The changes of one table: rows added and removed (key -> the whole row), and cells changed."""

    name: str
    added: dict[Any, dict] = field(default_factory=dict)
    removed: dict[Any, dict] = field(default_factory=dict)
    changed: list[CellChange] = field(default_factory=list)
    #: key -> (old row, new row) of every row with a changed cell
    rows: dict[Any, tuple[dict, dict]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    @property
    def changed_keys(self) -> list:
        return list(self.rows)

    def counts(self) -> dict[str, int]:
        return {"added": len(self.added), "changed": len(self.rows), "removed": len(self.removed)}

    def as_dict(self) -> dict:
        return {"added": [_row(r) for r in self.added.values()],
                "removed": [_row(r) for r in self.removed.values()],
                "changed": [c.as_dict() for c in self.changed]}


@dataclass
class Diff:
    """Row-level changes between two sets of tables, table by table (in the declared order)."""

    tables: dict[str, TableDiff] = field(default_factory=dict)
    #: how a reader sees each moved figure on either side: (table, key) -> its preferred claim's phrase
    #: with its range ("more than 90"), set by ``opsledger.derive.reconcile.show_figures``; a figure
    #: without one is written from its numbers
    shown_old: dict[tuple[str, Any], str] = field(default_factory=dict)
    shown_new: dict[tuple[str, Any], str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return any(self.tables.values())

    def __getitem__(self, name: str) -> TableDiff:
        return self.tables.get(name) or TableDiff(name)

    def __len__(self) -> int:
        """The number of changes: rows added, rows removed and cells changed."""
        return sum(len(t.added) + len(t.removed) + len(t.changed) for t in self.tables.values())

    def items(self):
        return self.tables.items()

    def any_changed(self) -> bool:
        """True when a cell of an existing row differs (what ``reconcile --write`` would store)."""
        return any(t.changed for t in self.tables.values())

    def text(self, rows: bool = False, markdown: bool = False) -> str:
        """Markdown, per table: a count line, then every added, changed (``old -> new``, derived columns
        marked) and removed row by key. With ``rows``, an added or removed row shows its values. With
        ``markdown`` (a file a Markdown viewer renders, such as a release's CHANGES.md) every key and
        value from the data is escaped by :mod:`opsledger.escape` (no HTML or link from the data) and
        the result is a :class:`opsledger.escape.MarkdownText`; without it, the text is for a terminal
        (which escapes it itself) and reads as before."""
        from opsledger import escape

        code = escape.markdown_code if markdown else (lambda k: f"`{k}`")
        value = (lambda v: escape.markdown(cell(v))) if markdown else cell
        row = (lambda r: escape.markdown(row_text(r))) if markdown else row_text
        lines = []
        for name, t in self.tables.items():
            if not t:
                continue
            c = t.counts()
            lines.append(f"### {name}: {c['added']} added, {c['changed']} changed, {c['removed']} removed")
            lines += [f"- added {code(k)}" + (f": {row(r)}" if rows else "") for k, r in t.added.items()]
            lines += [f"- changed {code(ch.key)}.{code(ch.column)}: {value(ch.old)} -> {value(ch.new)}"
                      + (" (derived)" if ch.derived else "") for ch in t.changed]
            lines += [f"- removed {code(k)}" + (f": {row(r)}" if rows else "") for k, r in t.removed.items()]
            lines.append("")
        out = "\n".join(lines) if lines else "No row changed.\n"
        return escape.MarkdownText(out) if markdown else out

    def figures(self) -> list[dict]:
        """The published figures that move: every outcome and statistic added, removed, or whose value,
        bounds, status or source count changed, with its old and new figure (None when absent)."""
        out = []
        for name in FIGURE_TABLES:
            t = self.tables.get(name)
            if t is None:
                continue
            keys = {ch.key for ch in t.changed if ch.column in FIGURE_COLUMNS}
            moved = {k: rows for k, rows in t.rows.items() if k in keys}
            entries = [(k, None, r) for k, r in t.added.items()] + [(k, r, None) for k, r in t.removed.items()] \
                + [(k, a, b) for k, (a, b) in moved.items()]
            for k, a, b in sorted(entries, key=lambda e: str(e[0])):
                out.append({"table": name, "key": k, "old": _figure_cols(a, self.shown_old.get((name, k))),
                            "new": _figure_cols(b, self.shown_new.get((name, k)))})
        return out

    def figures_text(self, markdown: bool = False) -> str:
        """What the change does to the published figures, one line a figure, each figure as a reader
        sees it ("more than 90, corroborated, 2 sources"). ``markdown``: a list for a Markdown file,
        every value from the data escaped."""
        from opsledger import escape

        figs = self.figures()
        if not figs:
            return "published figures: unchanged"
        if markdown:
            return escape.MarkdownText("\n".join(
                f"- {f['table']}[{escape.markdown_code(f['key'])}]: {escape.markdown(figure_text(f['old']))} -> "
                f"{escape.markdown(figure_text(f['new']))}" for f in figs))
        return "\n".join(["published figures:"] + [
            f"  {f['table']}[{f['key']}]: {figure_text(f['old'])} -> {figure_text(f['new'])}" for f in figs])

    def as_dict(self) -> dict:
        return {name: t.as_dict() for name, t in self.tables.items() if t}


def diff_tables(old: dict[str, pl.DataFrame], new: dict[str, pl.DataFrame],
                tables: Iterable[str] | None = None) -> Diff:
    """Row-level changes per table (every declared table, or ``tables``), by primary key: rows added,
    removed, and for rows in both every cell of a shared column that differs. A table absent on one
    side counts as empty; columns present on one side only are not compared."""
    out = Diff()
    for name in (TABLES if tables is None else tables):
        if name not in TABLES:
            continue
        out.tables[name] = _diff_table(name, old.get(name), new.get(name))
    return out


def _diff_table(name: str, o: pl.DataFrame | None, n: pl.DataFrame | None) -> TableDiff:
    decl = declaration(name)
    key = decl.key
    derived = set(decl.derived)
    res = TableDiff(name)
    if o is None or n is None or o.is_empty() or n.is_empty():
        # a table on one side only, or empty on one side: every row added (or removed), nothing to join
        if n is not None:
            res.added = {r[key]: r for r in n.sort(key).iter_rows(named=True)}
        if o is not None:
            res.removed = {r[key]: r for r in o.sort(key).iter_rows(named=True)}
        return res
    res.added = {r[key]: r for r in n.join(o.select(key), on=key, how="anti").sort(key).iter_rows(named=True)}
    res.removed = {r[key]: r for r in o.join(n.select(key), on=key, how="anti").sort(key).iter_rows(named=True)}
    cols = [c for c in n.columns if c in o.columns and c != key]
    if not cols:
        return res
    left = o.select(key, *cols)
    right = n.select(key, *cols)
    ls, rs = left.schema, right.schema  # (a frame's schema is built anew on every access)
    for c in cols:  # a column retyped between two releases is compared as text
        if ls[c] != rs[c]:
            left = left.with_columns(pl.col(c).cast(pl.Utf8))
            right = right.with_columns(pl.col(c).cast(pl.Utf8))
    both = left.join(right, on=key, how="inner", suffix="__new")
    differs = [pl.col(c).ne_missing(pl.col(f"{c}__new")) for c in cols]
    moved = both.filter(pl.any_horizontal(differs)).sort(key)
    for r in moved.iter_rows(named=True):
        k = r[key]
        a = {key: k, **{c: r[c] for c in cols}}
        b = {key: k, **{c: r[f"{c}__new"] for c in cols}}
        res.rows[k] = (a, b)
        res.changed += [CellChange(k, c, a[c], b[c], c in derived) for c in cols if not _same(a[c], b[c])]
    return res


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:  # NaN
        return True
    return a == b


def cell(v: Any) -> str:
    """A cell in a diff: text quoted, numbers and dates plain (61000, 2019-05-17), ``empty`` for null."""
    if v is None:
        return fmt.EMPTY
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    return fmt.plain(v)


def row_text(row: dict) -> str:
    """A whole row in a diff: its non-empty cells as ``column=value``."""
    return ", ".join(f"{c}={cell(v)}" for c, v in row.items() if v is not None)


def _figure_cols(row: dict | None, shown: str | None = None) -> dict | None:
    if row is None:
        return None
    return {c: row.get(c) for c in FIGURE_COLUMNS} | ({"shown": shown} if shown else {})


def figure_text(f: dict | None) -> str:
    """A published figure as a reader sees it: "nearly 63,000 (56,700 to under 63,000), corroborated,
    2 sources" (its ``shown`` text where known; else its numbers, "62,999 (60,001 to 62,999)");
    "(none)" when absent."""
    if f is None:
        return "(none)"
    n = f.get("n_sources")
    sources = "no source" if not n else f"{fmt.number(n)} source" + ("s" if n != 1 else "")
    shown = f.get("shown") or fmt.figure(f.get("value"), f.get("value_low"), f.get("value_high"))
    return f"{shown}, {f.get('status') or fmt.EMPTY}, {sources}"


def _jsonable(v: Any) -> Any:
    return v.isoformat() if hasattr(v, "isoformat") else v


def _row(r: dict) -> dict:
    return {c: _jsonable(v) for c, v in r.items()}


__all__ = ["Diff", "TableDiff", "CellChange", "diff_tables", "cell", "row_text", "figure_text",
           "FIGURE_TABLES", "FIGURE_COLUMNS"]
