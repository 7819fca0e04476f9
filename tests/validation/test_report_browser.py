"""The HTML validation report opens offline in a real headless browser."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from opsledger.validation.report import write_html
from opsledger.validation.run import validate

from conftest import REPO, set_cell

#: the tests' ``data`` is the small dataset: they edit rows of its operations only (conftest)
SMALL_DATA = True

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (.ci/run installs it)")

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # no network at all: every host resolves to nothing and any proxy is unreachable
    "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
]


def dom(path, profile) -> str:
    p = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", path.as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout


def test_report_renders_offline(tmp_path):
    out = tmp_path / "report.html"
    write_html(validate(REPO / "datasets"), out)
    html = dom(out, tmp_path / "profile")
    assert 'id="verdict"' in html and "PASSED" in html
    assert "relations.accounts_referred_le_identified" in html and "acknowledged" in html


def test_report_shows_a_failure(tmp_path, data):
    set_cell(data, "agencies", "th-dsi", "country", "XX")
    out = tmp_path / "report.html"
    write_html(validate(data), out)
    html = dom(out, tmp_path / "profile")
    assert "FAILED" in html and "th-dsi" in html and "schema.iso_country" in html
