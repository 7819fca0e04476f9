"""A release people can open, browse and cite: CSV, SQLite, Croissant, citation, notes, readable output."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import sqlite3
import subprocess
import sys
import zipfile

import pytest

from opsledger.data import fmt
from opsledger.publishing.outputs.exports import citation_cff
from opsledger.declarations import repo_root, tables as declarations

from conftest import REPO, set_cell

V = "0.1.0"


# --------------------------------------------------------------------------- the formatter


@pytest.mark.parametrize("args, want", [
    ((100.0, 120.0), "100 to 120"),
    ((400000.0, None), "400,000 or more"),
    ((None, 120.0), "up to 120"),
    ((0.0, 120.0), "up to 120"),
    ((63000.0, 63000.0), "63,000"),
    ((None, None), "any number"),
    ((480.0, 491.0, "months"), "480 to 491 months"),
])
def test_spans_read_as_a_person_writes_them(args, want):
    assert fmt.span(*args) == want


def test_numbers_dates_and_plain_cells():
    assert fmt.number(1234567.0) == "1,234,567" and fmt.number(2.5) == "2.5" and fmt.number(None) == "empty"
    assert fmt.figure(62999.0, 60001.0, 62999.0) == "62,999 (60,001 to 62,999)"
    assert fmt.date(dt.date(2017, 6, 1), "month") == "June 2017"
    assert fmt.date(dt.date(2019, 5, 17), "day") == "17 May 2019" and fmt.date(dt.date(2017, 1, 1), "year") == "2017"
    assert fmt.plain(100.0) == "100" and fmt.plain(None) == "" and fmt.plain(dt.date(1999, 1, 1)) == "1999-01-01"
    assert fmt.expand("they allow ⟦r:250000.0|⟧; value ⟦n:46.0⟧ vs ⟦n:⟧") == \
        "they allow 250,000 or more; value 46 vs empty"


# --------------------------------------------------------------------------- validation output


def test_clean_validation_is_short_and_quiet(shipped_report):
    assert shipped_report.exit_code == 0
    text = shipped_report.text()
    assert len(text.splitlines()) <= 39  # `make validate` adds one line: at most 40
    assert "ACK" not in text and "ERROR" not in text and "null" not in text
    assert "reconciliation" in text and "acknowledged" in text
    verbose = shipped_report.text(verbose=True)
    assert "ACKNOWLEDGED reconciliation.not_disputed: outcomes[" in verbose and "acknowledged because:" in verbose
    # a dispute says what its sources say, as written, never a bound's artefact ("1,000,001 or more")
    assert re.search(r'sources cannot all be right: they say "[^"]+"( / "[^"]+")+', verbose)
    assert "1,000,001" not in verbose and "90,001" not in verbose
    messages = [f.message for f in shipped_report.findings]
    assert not any(re.search(r"\d\.0\b|\bnull\b|⟦", m) for m in messages), messages


def test_open_findings_are_listed_after_the_summary(data):
    from opsledger.validation.run import validate

    set_cell(data, "agencies", "th-dsi", "country", "XX")
    rep = validate(data, cross=False)
    lines = rep.text().splitlines()
    assert lines[0].startswith("Validation FAILED")
    assert any(line.startswith("ERROR") and "th-dsi" in line for line in lines)
    assert rep.data_dir == "data"  # a directory outside the repository is named, never its machine path


def test_reports_hold_no_machine_paths(shipped_report, shipped_release):
    assert not shipped_report.data_dir.startswith("/")
    for name in ("validation.json", "validation.html", "CHANGELOG.md", "DATASHEET.md", "croissant.json",
                 "datasette-metadata.json"):
        text = (shipped_release / V / name).read_text()
        for p in {str(REPO), str(REPO.parent), str(shipped_release), "/tmp/", "/home/", "/root/"}:
            assert p not in text, (name, p)
    rep = json.loads((shipped_release / V / "validation.json").read_text())
    assert "timings_s" not in rep and rep["families"]["reconciliation"]["acknowledged"] > 0


def test_html_report_summarises_by_family_and_operation(shipped_release):
    html = (shipped_release / V / "validation.html").read_text()
    assert 'id="families"' in html and 'id="operations"' in html and 'id="f-state"' in html
    assert "data commit" in html and "2026-11-30" in html and "opsledger 0.1.0" in html
    assert 'data-state="acknowledged"' in html and 'data-state="error"' not in html
    assert "http" not in re.sub(r"<p>.*?</p>", "", html.split("<script>")[1])  # the script loads nothing


# --------------------------------------------------------------------------- release files


def test_release_holds_every_file_for_people(shipped_release):
    d = shipped_release / V
    names = {p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file()}
    assert {f"opsledger-{V}-csv.zip", "opsledger.sqlite", "datasette-metadata.json", "croissant.json",
            "CITATION.cff", "LICENSE", "LICENSE-DATA.md", "CHANGELOG.md", "CHANGES.md", "DATASHEET.md",
            "site/index.html"} <= names
    subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=d, check=True)


def test_csv_zip_has_every_declared_table_with_plain_values(shipped_release, shipped):
    with zipfile.ZipFile(shipped_release / V / f"opsledger-{V}-csv.zip") as z:
        names = set(z.namelist())
        folder = f"opsledger-{V}-csv"
        assert {f"{folder}/README.md", f"{folder}/CITATION.cff", f"{folder}/LICENSE",
                f"{folder}/LICENSE-DATA.md"} <= names
        for t in declarations().values():
            rows = list(csv.reader(io.StringIO(z.read(f"{folder}/{t.name}.csv").decode("utf-8"))))
            assert rows[0] == t.columns and len(rows) - 1 == shipped[t.name].height
        outcomes = list(csv.DictReader(io.StringIO(z.read(f"{folder}/outcomes.csv").decode())))
        assert sum(r["value_high"] == "" for r in outcomes) == shipped["outcomes"]["value_high"].null_count() > 0
        assert all(re.fullmatch(r"\d+(\.\d*[1-9])?", r["value"]) for r in outcomes)  # 250000, never 250000.0
        ops = list(csv.DictReader(io.StringIO(z.read(f"{folder}/operations.csv").decode())))
        assert next(r for r in ops if r["operation_id"] == "avalanche")["announced"] == "2001-08-08"
        readme = z.read(f"{folder}/README.md").decode()
        assert all(f"## {t.name}.csv" in readme for t in declarations().values())


def test_sqlite_has_keys_foreign_keys_indexes_and_headline(shipped_release, shipped):
    con = sqlite3.connect(shipped_release / V / "opsledger.sqlite")
    tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
    assert tables == set(declarations())
    for t in declarations().values():
        assert con.execute(f'select count(*) from "{t.name}"').fetchone()[0] == shipped[t.name].height
        pk = [r[1] for r in sorted(con.execute(f'pragma table_info("{t.name}")'), key=lambda r: r[5]) if r[5]]
        assert pk == list(t.primary_key)
        fks = {(r[3], r[2], r[4]) for r in con.execute(f'pragma foreign_key_list("{t.name}")')}
        assert fks == {(fk.column, fk.table, fk.ref_column) for fk in t.foreign_keys}
        for fk in t.foreign_keys:
            idx = [r[1] for r in con.execute(f'pragma index_list("{t.name}")')]
            assert f"idx_{t.name}_{fk.column}" in idx
    assert con.execute("pragma foreign_key_check").fetchall() == []
    # no empty cell where the sources speak: Operation H's only arrests figure is New Zealand's, shown with
    # its scope (issue 22); counts are integers, not REAL (146.0)
    h = con.execute("select arrests, arrests_scope, arrests_display, children_safeguarded from headline "
                    "where operation_id = 'h'").fetchone()
    assert h == (46, "country", "46, in New Zealand", 146) and type(h[3]) is int
    kinds = {r[0] for r in con.execute("select typeof(value) from outcomes where metric = 'arrests'")}
    assert kinds <= {"integer", "null"}, kinds
    meta = json.loads((shipped_release / V / "datasette-metadata.json").read_text())
    described = meta["databases"]["opsledger"]["tables"]
    for t in declarations().values():
        assert described[t.name]["columns"] == {f.name: (f.description or "").replace("`", "") or f.description
                                                for f in t.fields}
        assert "`" not in json.dumps(described[t.name]), t.name  # Datasette shows descriptions as plain text
    assert described["outcomes"]["facets"] == ["operation_id", "metric", "status"]


def test_croissant_metadata_with_responsible_ai_fields(shipped_release, shipped):
    doc = json.loads((shipped_release / V / "croissant.json").read_text())
    for k in ("rai:personalSensitiveInformation", "rai:dataLimitations", "rai:dataCollection"):
        assert len(doc[k]) > 40, k
    assert doc["version"] == V and doc["conformsTo"] == "http://mlcommons.org/croissant/1.0"
    assert {rs["name"] for rs in doc["recordSet"]} == set(declarations())
    mlc = pytest.importorskip("mlcroissant")
    ds = mlc.Dataset(jsonld=str(shipped_release / V / "croissant.json"))
    assert not ds.metadata.ctx.issues.errors and not ds.metadata.ctx.issues.warnings
    ops = list(ds.records("operations"))
    assert len(ops) == shipped["operations"].height


def test_citation_and_licences():
    assert (REPO / "CITATION.cff").read_text() == citation_cff(), "CITATION.cff is stale: regenerate it"
    assert "MIT License" in (REPO / "LICENSE").read_text()
    assert "CC BY 4.0" in (REPO / "LICENSE-DATA.md").read_text()


def test_release_citation_carries_the_version(shipped_release):
    cff = (shipped_release / V / "CITATION.cff").read_text()
    assert f'version: "{V}"' in cff and 'date-released: "2026-11-30"' in cff


def test_datasheet_says_why_how_to_cite_and_where_to_report(shipped_release):
    text = (shipped_release / V / "DATASHEET.md").read_text()
    assert "## Why these operations are in" in text and "## How to cite" in text
    assert "## Reporting an error" in text and f"Version {V}" in text


def test_show_prints_values(tmp_path):
    from opsledger.data.io import show

    text = show(REPO / "datasets" / "operations.parquet")
    assert "datetime.date" not in text and "launched=1999-01-01" in text and "'" not in text.split("\n")[1][:40]


# --------------------------------------------------------------------------- light loading


def test_load_imports_no_validation_stack(shipped_release):
    code = (
        "import sys, opsledger\n"
        f"t = opsledger.load('outcomes', store={str(shipped_release)!r})\n"
        "assert t.num_rows > 0\n"
        "bad = sorted(m for m in ('great_expectations', 'pandera', 'scipy', 'matplotlib', 'jinja2', 'pandas')\n"
        "             if m in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip() == "", f"opsledger.load imported {p.stdout.strip()}"


@pytest.fixture
def http_store(shipped_release):
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(shipped_release))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_load_from_an_http_store(http_store, shipped_release):
    from opsledger.publishing.store import load, versions

    remote = load("outcomes", store=http_store)
    local = load("outcomes", store=shipped_release)
    assert remote.equals(local)
    assert [v["version"] for v in versions(http_store)] == [V]
    assert load("claims", version=V, store=http_store + "/", as_="polars").height > 0


def test_http_store_refuses_a_damaged_file(http_store, shipped_release, tmp_path):
    import shutil

    from opsledger.publishing.store import ChecksumError, load

    copy = tmp_path / "copy"
    shutil.copytree(shipped_release, copy)
    p = copy / V / "tables" / "agencies.parquet"
    p.write_bytes(p.read_bytes()[:-10] + b"0123456789")
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(copy))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(ChecksumError, match="agencies.parquet"):
            load("agencies", store=f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()


def test_repo_root_is_the_repository():
    assert (repo_root() / "schemas").is_dir()
