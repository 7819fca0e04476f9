"""Release notes people read: CHANGELOG.md (since the previous release only: counts per table and the
reasons of the change sets applied), CHANGES.md (row-level detail) and DATASHEET.md. The prose is in
``templates/``; this module only gathers the values."""

from __future__ import annotations

import re
from pathlib import Path

from opsledger.errors import UsageError
from opsledger.publishing.outputs.citation import citation_text
from opsledger.publishing.outputs.exports import data_license, released_tables
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
    return render("CHANGES.md.j2", version=version, prev=prev, detail=changes.text(markdown=True),
                  figures=changes.figures_text(markdown=True) if changes.figures() else "")


class PopulationError(UsageError):
    """The population log (curation/population/*.tsv) cannot be read (exit 2, one line)."""


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


CANDIDATE_COLUMNS = ["name", "aliases", "year_announced", "lead_agency", "countries_or_bodies", "target", "decision",
                     "reason", "operation_id", "sources", "n_independent_sources"]
SEARCH_COLUMNS = ["query", "language", "agency_or_country", "years", "n_results_seen", "candidates_found"]
DECISIONS = ("included", "backlog", "excluded")


def _tsv(path: Path, columns: list[str]) -> list[dict[str, str]]:
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not lines or lines[0].split("\t") != columns:
        raise PopulationError(f"{path}: header is not {columns}")
    rows = []
    for n, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != len(columns):
            raise PopulationError(f"{path}: line {n} has {len(fields)} fields, expected {len(columns)}")
        rows.append(dict(zip(columns, (f.strip() for f in fields))))
    return rows


def population(population_dir: Path) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The search log: (candidates screened, searches run), from population_dir/candidates.tsv and
    searches.tsv. Every candidate has a decision (included, backlog or excluded); an included one names
    its operation. Empty lists when the directory holds no log."""
    d = Path(population_dir)
    if not (d / "candidates.tsv").exists():
        return [], []
    cands = _tsv(d / "candidates.tsv", CANDIDATE_COLUMNS)
    for n, r in enumerate(cands, start=2):
        if r["decision"] not in DECISIONS:
            raise PopulationError(f"{d / 'candidates.tsv'}: line {n}: decision {r['decision']!r} is not one of {DECISIONS}")
    searches = _tsv(d / "searches.tsv", SEARCH_COLUMNS) if (d / "searches.tsv").exists() else []
    return cands, searches


def backlog(candidates: list[dict[str, str]], data: dict) -> list[dict[str, str]]:
    """Candidates that meet the rule and are not in the dataset (by operation id or name)."""
    ops = data["operations"]
    ids, names = set(ops["operation_id"]), {n.lower() for n in ops["name"]}
    return [dict(r) for r in candidates  # escaped by the template
            if r["decision"] == "backlog" and r["operation_id"] not in ids and r["name"].lower() not in names]


def datasheet(data: dict, version: str, date: str, research_dir: Path | None = None) -> str:
    """DATASHEET.md: coverage from the data, the inclusion rule (curation/research/README.md), the
    population searched (curation/population/) and the backlog of operations known but not curated."""
    from opsledger.declarations.coverage import coverage_by, coverage_markdown

    research_dir = Path(research_dir) if research_dir is not None else default_research_dir()
    cands, searches = population(research_dir.parent / "population")
    decided = {k: sum(1 for r in cands if r["decision"] == k) for k in DECISIONS}
    years = sorted(r["year_announced"][:4] for r in cands if r["year_announced"][:4].isdigit())
    return render("DATASHEET.md.j2", version=version, date=date, coverage=coverage_markdown(data),
                  citation=citation_text(version, date), license=data_license(),
                  inclusion_rule=inclusion_rule(research_dir), backlog=backlog(cands, data),
                  population={"candidates": len(cands), "searches": len(searches), "decided": decided,
                              # several rows can name one operation (found again under another description)
                              "included_operations": len({r["operation_id"] for r in cands
                                                          if r["decision"] == "included" and r["operation_id"]}),
                              "years": (years[0], years[-1]) if years else None,
                              "languages": sorted({s["language"] for s in searches if s["language"]})},
                  coverage_by=coverage_by(data))
