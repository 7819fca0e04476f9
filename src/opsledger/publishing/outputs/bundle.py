"""The files of a release written for people and tools, beside its Parquet tables and datapackage:
notes (CHANGELOG.md since the previous release, CHANGES.md row-level detail, DATASHEET.md), the
validation report (JSON and HTML, no machine paths, no timings), the exports (CSV zip, SQLite,
Datasette metadata, Croissant, citation, licences) and the offline site (``site/``)."""

from __future__ import annotations

from opsledger.publishing.outputs import exports as export

from opsledger.publishing.outputs import notes
from opsledger.derive.tablediff import Diff


def people_files(data: dict, prev_data: dict, changes: Diff, report, version: str, date: str,
                 prev: str | None, bump: str, why: list[str], files: dict[str, bytes],
                 site: bool = True) -> dict[str, bytes]:
    """Everything a release adds to its tables; ``files`` holds the tables already written."""
    from opsledger.validation.report import render_html

    out = {
        "CHANGELOG.md": notes.changelog(data, prev_data, changes, version, date, prev, bump, why).encode(),
        "CHANGES.md": notes.changes_detail(changes, version, prev).encode(),
        "DATASHEET.md": notes.datasheet(data, version, date).encode(),
        "validation.json": (report.to_json(timings=False) + "\n").encode(),
        "validation.html": render_html(report, when=date).encode(),
        **export.export_files(data, version, date, files),
    }
    if site:
        from opsledger.publishing.outputs.site import build_site

        out.update(build_site(data, version, date))
    return out
