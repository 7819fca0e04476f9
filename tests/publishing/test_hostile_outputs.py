"""Output injection: values from the data that try to become a formula (CSV), HTML or a link (Markdown,
the site), a forged row (``opsledger show``), a reordered or hidden text (control and bidi characters
in HTML) or mathtext (chart labels). Each output format has one escaping function
(:mod:`opsledger.escape`); these tests feed it the hostile values through the real outputs."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re

import polars as pl
from typer.testing import CliRunner

from opsledger import escape
from opsledger.cli import app
from opsledger.declarations import tables as declarations

from conftest import read, write

runner = CliRunner()
OP = "kidflix"
BIDI = "Kid\u202eflix\u2066x\u0007\u200b"
HTML_NAME = 'Kidflix <img src=x onerror="alert(1)"> [click](javascript:alert(1)) <script>alert(2)</script>'
MATH = r"Kidflix $\frac{1}{0$ and $x^$ and $\$"


def _one_operation(shipped, **op) -> dict[str, pl.DataFrame]:
    """The shipped tables cut down to one operation (fast to build a site from), its row changed."""
    t = {k: v for k, v in shipped.items()}
    for name in ("outcomes", "claims", "participations"):
        t[name] = t[name].filter(pl.col("operation_id") == OP)
    t["operations"] = t["operations"].filter(pl.col("operation_id") == OP).with_columns(
        *[pl.lit(v).alias(k) for k, v in op.items()])
    return t


# --------------------------------------------------------------------------- CSV


def test_csv_cells_that_start_a_formula_are_neutralised(shipped):
    from opsledger.publishing.outputs.exports import csv_bytes

    names = ["=HYPERLINK(\"http://x.test\",\"click\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\r=1", "'quoted",
             "plain", "-", "a=b"]
    ops = shipped["operations"].head(len(names)).with_columns(pl.Series("name", names))
    rows = list(csv.DictReader(io.StringIO(csv_bytes(declarations()["operations"], ops).decode(), newline="")))
    assert [r["name"] for r in rows] == ["'=HYPERLINK(\"http://x.test\",\"click\")", "'+1+1", "'-2+3", "'@SUM(A1)",
                                         "'\tx", "'\r=1", "''quoted", "plain", "'-", "a=b"]
    # the rule can be undone: drop one leading quote from a text cell that has one
    assert [r["name"][1:] if r["name"].startswith("'") else r["name"] for r in rows] == names
    # numbers and dates are not text: a negative number stays a number
    assert escape.csv_cell(-5) == -5 and escape.csv_cell(-2.5) == -2.5


def test_the_csv_rule_is_documented():
    from opsledger.declarations import repo_root
    from opsledger.publishing.templates import HERE

    for text in ((HERE / "csv-README.md.j2").read_text(), (repo_root() / "README.md").read_text()):
        flat = " ".join(text.split())
        assert "=, +, -, @, a tab" in flat.replace("`", "") and "single quote" in flat


# --------------------------------------------------------------------------- Markdown


def _rendered(md: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table").render(md)


def test_datasheet_and_changelog_embed_no_html_or_link_from_the_data(shipped, tmp_path):
    from opsledger.derive.tablediff import diff_tables
    from opsledger.publishing.outputs.notes import changelog, changes_detail, datasheet

    t = _one_operation(shipped, name=HTML_NAME)
    sheet = datasheet(t, "0.1.0", "2026-11-30", research_dir=tmp_path)
    log = t["corrections"].head(1).with_columns(pl.lit("0999-x").alias("correction_id"),
                                                 pl.lit("<b onmouseover=alert(1)>bold</b> ![i](http://x.test/t.png)")
                                                 .alias("reason"))
    notes = changelog({**t, "corrections": log}, {}, diff_tables({}, {}), "0.1.0", "2026-11-30", None, "patch", ["x"])
    before = {k: v for k, v in t.items()}
    before["operations"] = shipped["operations"].filter(pl.col("operation_id") == OP)
    detail = changes_detail(diff_tables(before, t), "0.1.0", None)
    for md in (sheet, notes, detail):
        html = _rendered(md)
        assert not re.search(r"<(img|script|b)\b", html), html
        assert "javascript:" not in re.findall(r'href="([^"]*)"', html).__str__()
        assert "<a " not in html
    assert "Kidflix \\<img src=x onerror=\"alert(1)\"\\>" in sheet
    assert "&lt;b onmouseover=alert(1)&gt;bold&lt;/b&gt;" in _rendered(notes)


# --------------------------------------------------------------------------- HTML (site)


def _site(t) -> dict[str, str]:
    from opsledger.publishing.outputs.site import build_site

    return {k: v.decode("utf-8") for k, v in build_site(t, "0.1.0", "2026-11-30").items()}


def test_control_and_bidi_characters_do_not_reach_the_site_raw(shipped):
    t = _one_operation(shipped, name=BIDI)
    t["sources"] = t["sources"].with_columns(pl.col("title") + "\u202e\u0000")
    pages = _site(t)
    for name, page in pages.items():
        assert not escape.UNSAFE.search(page), (name, escape.UNSAFE.search(page))
    assert "Kid\\u202eflix\\u2066x\\u0007\\u200b" in pages[f"site/operation/{OP}.html"]


DANGEROUS = ["javascript:alert(1)", " JaVa\tScRiPt:alert(1)", "java\nscript:alert(1)",
             "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)", "file:///etc/passwd", "//evil.test/x",
             "\u202ejavascript:alert(1)", "JAVASCRIPT&colon;alert(1)", "\x00javascript:alert(1)"]


def test_no_dangerous_link_even_from_unvalidated_data(shipped):
    t = _one_operation(shipped)
    cited = t["claims"].get_column("source_id").unique().sort().to_list()
    urls = {sid: DANGEROUS[i % len(DANGEROUS)] for i, sid in enumerate(cited)}
    assert len(cited) >= 3
    t["sources"] = t["sources"].with_columns(pl.col("source_id").replace_strict(urls, default=pl.col("url"))
                                             .alias("url"))
    page = _site(t)[f"site/operation/{OP}.html"]
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert hrefs and all(not re.sub(r"[\s\x00-\x1f]", "", h).lower().startswith(("javascript:", "data:", "vbscript:",
                                                                               "file:", "//")) for h in hrefs), hrefs
    for url in DANGEROUS:
        assert escape.href(url) is None, url
    assert escape.href("https://www.europol.europa.eu/x?a=1&b=2") == "https://www.europol.europa.eu/x?a=1&b=2"
    assert 'href="https://www.europol.europa.eu/x?a=1&amp;b=2"' in _site(_one_operation(shipped) | {
        "sources": t["sources"].with_columns(pl.lit("https://www.europol.europa.eu/x?a=1&b=2").alias("url"))})[
        f"site/operation/{OP}.html"]


def _script_hashes(page: str) -> tuple[list[str], str]:
    import html

    csp = html.unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)[1])
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    return [f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in scripts], csp


def test_the_site_script_runs_by_its_hash_not_unsafe_inline(shipped):
    for name, page in _site(_one_operation(shipped)).items():
        hashes, csp = _script_hashes(page)
        script_src = re.search(r"script-src ([^;]*)", csp)[1]
        assert "unsafe-inline" not in script_src and hashes and script_src.split() == hashes, name
        assert "onclick" not in page and "javascript:" not in page


def test_the_report_script_runs_by_its_hash():
    from opsledger.validation.findings import Report
    from opsledger.validation.report import render_html

    page = render_html(Report("datasets"), when="2026-11-30 00:00 UTC")
    hashes, csp = _script_hashes(page)
    assert "unsafe-inline" not in re.search(r"script-src ([^;]*)", csp)[1] and hashes
    assert all(h in csp for h in hashes)


# --------------------------------------------------------------------------- charts


def test_dollars_in_a_name_are_drawn_as_written_not_as_mathtext(shipped):
    pages = _site(_one_operation(shipped, name=MATH))
    page = pages[f"site/operation/{OP}.html"]
    assert "<svg" in page and "and $x^$ and" in page  # the label, drawn as text, dollars and all
    from opsledger.publishing.outputs import charts

    svg = charts.ranges([charts.Range("$\\sqrt{$", 1, 0, 2)], "title $x$", xlabel="$$")
    assert "$\\sqrt{$" in svg


# --------------------------------------------------------------------------- terminal: opsledger show


def test_a_newline_in_a_value_cannot_forge_a_show_row(data):
    ops = read(data, "operations")
    forged = "Kidflix\n[forged] name=Nothing happened | lead_agency_id=x\r\n\u202e"
    write(data, "operations", ops.with_columns(
        pl.when(pl.col("operation_id") == OP).then(pl.lit(forged)).otherwise(pl.col("name")).alias("name")))
    from opsledger.data.io import show

    text = show(data / "operations.parquet")
    assert len(text.splitlines()) == ops.height + 1
    assert not any(line.startswith("[forged]") for line in text.splitlines())
    line = next(x for x in text.splitlines() if x.startswith(f"[{OP}]"))
    assert "name=Kidflix\\n[forged] name=Nothing happened | lead_agency_id=x\\u000d\\n\\u202e" in line
    r = runner.invoke(app, ["show", str(data / "operations.parquet")])
    assert r.exit_code == 0 and len(r.stdout.splitlines()) == ops.height + 1
