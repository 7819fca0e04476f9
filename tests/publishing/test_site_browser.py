"""The release's offline site: every internal link resolves, nothing remote is referenced or loaded,
and the pages render in headless Chromium (screenshots are written for a person to look at)."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag

import pytest

V = "0.1.0"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
    # no network at all: every host resolves to nothing and any proxy is unreachable
    "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
]
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (.ci/run installs it)")


class Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.loads, self.ids, self.csp = [], [], set(), None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        for attr in ("src", "srcset", "data", "poster"):
            if a.get(attr):
                self.loads.append(a[attr])
        if tag == "link" and a.get("href"):
            self.loads.append(a["href"])
        if tag == "meta" and a.get("http-equiv", "").lower() == "content-security-policy":
            self.csp = a.get("content")


def parse(path: Path) -> Refs:
    r = Refs()
    r.feed(path.read_text(encoding="utf-8"))
    return r


@pytest.fixture(scope="module")
def site(shipped_release) -> Path:
    return shipped_release / V / "site"


def test_site_has_index_operations_and_metrics(site, shipped):
    assert (site / "index.html").is_file()
    ops = shipped["operations"]["operation_id"].to_list()
    assert {p.stem for p in (site / "operation").glob("*.html")} == set(ops)
    assert len(list((site / "metric").glob("*.html"))) >= 10
    index = (site / "index.html").read_text()
    assert "<svg" in index and 'class="sortable stack"' in index


def test_every_internal_link_resolves_and_nothing_remote_loads(site):
    pages = sorted(site.rglob("*.html"))
    parsed = {p: parse(p) for p in pages}
    for page, refs in parsed.items():
        assert refs.csp and "default-src 'none'" in refs.csp, page
        assert refs.loads == [], (page, refs.loads)  # no image, script, style or frame is loaded
        text = page.read_text()
        assert not re.search(r"url\(\s*['\"]?https?:", text) and "@import" not in text
        for href in refs.links:
            if href.startswith(("http://", "https://")):
                continue  # a citation of a source: a link to follow, never loaded
            target, frag = urldefrag(href)
            dest = (page.parent / target).resolve() if target else page
            assert dest.is_file(), f"{page.relative_to(site)}: broken link {href}"
            if frag:
                assert frag in parsed[dest].ids, f"{page.relative_to(site)}: no #{frag} in {target}"


def _names_with_versions() -> list[str]:
    import polars as pl

    from opsledger.declarations import repo_root

    names = pl.read_parquet(repo_root() / "datasets" / "operations.parquet")["name"].to_list()
    return sorted({m for n in names for m in re.findall(r"\S+ \d+\.\d+", n)})


def test_disputes_show_both_sides_and_the_reason(site):
    pages = {p.stem: p.read_text() for p in (site / "operation").glob("*.html")}
    disputed = [k for k, html in pages.items() if "Disputed." in html]
    assert disputed, "no operation page shows a dispute"
    assert any("The curators' reason:" in pages[k] for k in disputed)
    for k, html in pages.items():
        html = html.split("<main>")[1].split("</main>")[0]  # the figures, not the version or licence
        for name in _names_with_versions():  # an operation's name may hold a version ("BoyVids 6.0")
            html = html.replace(name, "")
        assert not re.search(r"\d\.0\b| to null|>None<|⟦", html), k


@needs_chromium
@pytest.mark.parametrize("page", ["index.html", "operation/kidflix.html", "metric/arrests.html"])
def test_pages_render_in_headless_chromium(site, page, tmp_path):
    url = (site / page).as_uri()
    profile = tmp_path / "profile"
    p = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "<svg" in p.stdout and "opsledger 0.1.0" in p.stdout
    if page == "index.html":  # the inline script ran without being blocked: rows are in the DOM, sortable
        assert p.stdout.count('href="operation/') >= 21
    shot = tmp_path / (page.replace("/", "_") + ".png")
    p = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--window-size=1100,1600",
                        f"--screenshot={shot}", url], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and shot.stat().st_size > 20_000, p.stderr[-2000:]


MEASURE = """<script>
window.addEventListener("load", function () {
  var width = document.documentElement.clientWidth, out = [];
  if (document.documentElement.scrollWidth > width + 1) out.push("page " + document.documentElement.scrollWidth);
  document.querySelectorAll("table").forEach(function (t, i) {
    var box = t.parentElement;  // a table scrolls inside its own box at most; a stacked one fits it
    if (!box.classList.contains("scroll")) out.push("table " + i + " not in a scroll box");
    if (t.classList.contains("stack") && t.scrollWidth > box.clientWidth + 1) out.push("table " + i + " " + t.scrollWidth);
  });
  document.querySelectorAll(".chart > div").forEach(function (d, i) {
    var svg = d.querySelector("svg");  // the drawing shown is no wider than the page
    if (getComputedStyle(d).display !== "none" && svg.getBoundingClientRect().width > width) out.push("chart " + i);
  });
  var pre = document.createElement("pre"); pre.id = "measured"; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


@needs_chromium
@pytest.mark.parametrize("page", ["index.html", "operation/koala.html"])
def test_at_phone_width_no_table_or_chart_is_wider_than_the_page(site, page, tmp_path):
    """At 375 px the page never scrolls sideways: a stacked table fits its column, every table is in its
    own scroll box, and the chart shown is the narrow drawing that fits (a copy of the page measures
    itself; its policy is dropped only in the copy, to let the measuring script run)."""
    import json

    copy = tmp_path / page
    copy.parent.mkdir(parents=True, exist_ok=True)
    html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", (site / page).read_text())
    copy.write_text(html.replace("</body>", MEASURE + "</body>"))
    p = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=375,1200",
                        "--virtual-time-budget=3000", "--dump-dom", copy.as_uri()],
                       capture_output=True, text=True, timeout=120)
    measured = re.search(r'<pre id="measured">(.*?)</pre>', p.stdout)
    assert measured, p.stderr[-2000:]
    assert json.loads(measured.group(1).replace("&quot;", '"')) == []
