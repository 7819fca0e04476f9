"""Release notes people read: CHANGELOG.md (since the previous release only: counts per table and the
reasons of the change sets applied), CHANGES.md (row-level detail) and DATASHEET.md. The prose is in
``templates/``; this module only gathers the values."""

from __future__ import annotations

from opsledger.export import AUTHOR, DATA_LICENSE, TITLE, released_tables
from opsledger.templates import render


def change_counts(data: dict, changes: dict[str, dict]) -> list[dict]:
    out = []
    for t in released_tables(data):
        ch = changes.get(t.name, {"added": [], "changed": [], "removed": []})
        out.append({"table": t.name, "rows": data[t.name].height, "added": len(ch["added"]),
                    "changed": len({k for k, *_ in ch["changed"]}), "removed": len(ch["removed"])})
    return out


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


def changes_detail(changes, version, prev) -> str:
    from opsledger.publish import diff_text

    return render("CHANGES.md.j2", version=version, prev=prev, detail=diff_text(changes))


def citation_text(version: str, date: str) -> str:
    return f"{AUTHOR} ({date[:4]}). {TITLE}. Version {version}. Dataset. Licence {DATA_LICENSE['id']}."


def datasheet(data: dict, version: str, date: str) -> str:
    from opsledger.coverage import coverage_markdown

    return render("DATASHEET.md.j2", version=version, date=date, coverage=coverage_markdown(data),
                  citation=citation_text(version, date), license=DATA_LICENSE)
