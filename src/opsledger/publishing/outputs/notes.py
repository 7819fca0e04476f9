"""Release notes people read: CHANGELOG.md (since the previous release only: counts per table and the
reasons of the change sets applied), CHANGES.md (row-level detail) and DATASHEET.md. The prose is in
``templates/``; this module only gathers the values."""

from __future__ import annotations

import re
from pathlib import Path

from opsledger.errors import UsageError
from opsledger.publishing.outputs.citation import citation_text
from opsledger.publishing.outputs.exports import DATA_LICENSE, released_tables
from opsledger.derive.tablediff import Diff
from opsledger.publishing.templates import render


def change_counts(data: dict, changes: Diff) -> list[dict]:
    """Rows per released table, and how many were added, changed and removed."""
    return [{"table": t.name, "rows": data[t.name].height, **changes[t.name].counts()}
            for t in released_tables(data)]


def applied_changesets(data: dict, prev_data: dict) -> list[dict]:
    """The change sets logged in ``corrections`` now but not in the previous release, with their reason."""
    log = data.get("corrections")
    if log is None:
        return []
    before = set()
    if prev_data.get("corrections") is not None:
        before = set(prev_data["corrections"].get_column("correction_id").to_list())
    seen: dict[str, dict] = {}
    for r in log.select("correction_id", "reason").iter_rows(named=True):
        if r["correction_id"] in before:
            continue
        c = seen.setdefault(r["correction_id"], {"id": r["correction_id"], "reasons": [], "n": 0})
        c["n"] += 1
        if r["reason"] and r["reason"] not in c["reasons"]:
            c["reasons"].append(r["reason"])
    for c in seen.values():
        c["reason"] = " / ".join(c["reasons"][:3]) + (f" (and {len(c['reasons']) - 3} more reasons)"
                                                     if len(c["reasons"]) > 3 else "")
    return [seen[k] for k in sorted(seen)]


def changelog(data, prev_data, changes, version, date, prev, bump, why) -> str:
    return render("CHANGELOG.md.j2", version=version, date=date, prev=prev, bump=bump, why=why[:10],
                  counts=change_counts(data, changes), changesets=applied_changesets(data, prev_data))


def changes_detail(changes: Diff, version, prev) -> str:
    return render("CHANGES.md.j2", version=version, prev=prev, detail=changes.text())


class BacklogError(UsageError):
    """A backlog file (curation/research/_backlog*.tsv) that cannot be read (exit 2, one line)."""


def default_research_dir() -> Path:
    """curation/research/ of the repository."""
    from opsledger.declarations import repo_root

    return repo_root() / "curation" / "research"


def inclusion_rule(research_dir: Path) -> str | None:
    """The text of the section "Inclusion rule" of research_dir/README.md (None when absent)."""
    readme = Path(research_dir) / "README.md"
    if not readme.exists():
        return None
    m = re.search(r"^## Inclusion rule\s*\n(.*?)(?=^## |\Z)", readme.read_text(encoding="utf-8"), re.S | re.M)
    return " ".join(m.group(1).split()) if m else None


BACKLOG_COLUMNS = ["operation_name", "year", "lead_agency", "why_not_curated"]


def backlog(research_dir: Path) -> list[dict[str, str]]:
    """Operations considered but not curated: the rows of research_dir/_backlog*.tsv, in file order.
    A file whose header is not BACKLOG_COLUMNS, or a row with another number of fields, is an error."""
    rows: list[dict[str, str]] = []
    for path in sorted(Path(research_dir).glob("_backlog*.tsv")):
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        if not lines:
            continue
        header = lines[0].split("\t")
        if header != BACKLOG_COLUMNS:
            raise BacklogError(f"{path}: header is {header}, expected {BACKLOG_COLUMNS}")
        for n, line in enumerate(lines[1:], start=2):
            fields = line.split("\t")
            if len(fields) != len(BACKLOG_COLUMNS):
                raise BacklogError(f"{path}: line {n} has {len(fields)} fields, expected {len(BACKLOG_COLUMNS)}")
            rows.append({k: _md_cell(v.strip()) for k, v in zip(BACKLOG_COLUMNS, fields)})
    return rows


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def datasheet(data: dict, version: str, date: str, research_dir: Path | None = None) -> str:
    """DATASHEET.md: coverage from the data, the inclusion rule (curation/research/README.md) and the
    backlog of operations known but not curated (curation/research/_backlog*.tsv)."""
    from opsledger.declarations.coverage import coverage_markdown

    research_dir = Path(research_dir) if research_dir is not None else default_research_dir()
    return render("DATASHEET.md.j2", version=version, date=date, coverage=coverage_markdown(data),
                  citation=citation_text(version, date), license=DATA_LICENSE,
                  inclusion_rule=inclusion_rule(research_dir), backlog=backlog(research_dir))
