"""The command line: exit codes, JSON output, HTML report, and no stray files."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import polars as pl
from typer.testing import CliRunner

from opsledger.cli import app

from conftest import ARCHIVE, REPO, set_cell

#: the tests' ``data`` is the small dataset: they edit rows of its operations only (conftest)
SMALL_DATA = True

runner = CliRunner()


def test_validate_exit_0_on_shipped():
    r = runner.invoke(app, ["validate", str(REPO / "datasets")])
    assert r.exit_code == 0, r.output
    assert "rules run" in r.output and "acknowledged" in r.output


def test_validate_exit_1_names_the_planted_error(data):
    set_cell(data, "agencies", "th-dsi", "country", "XX")
    r = runner.invoke(app, ["validate", str(data)])
    assert r.exit_code == 1
    assert "agencies[th-dsi].country" in r.output and "iso_country" in r.output


def test_validate_exit_2_one_line_no_traceback(data):
    (data / "claims.parquet").write_bytes(b"junk")
    r = runner.invoke(app, ["validate", str(data)])
    assert r.exit_code == 2
    assert "claims" in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_validate_missing_dir(tmp_path):
    r = runner.invoke(app, ["validate", str(tmp_path / "nope")])
    assert r.exit_code == 2


def test_validate_json(data):
    set_cell(data, "outcomes", "h.arrests.nz", "metric", "nope")
    r = runner.invoke(app, ["validate", str(data), "--format", "json"])
    assert r.exit_code == 1
    doc = json.loads(r.output)
    f = [f for f in doc["findings"] if f["rule"] == "schema.vocabulary"][0]
    assert (f["table"], f["key"], f["column"], f["value"]) == ("outcomes", "h.arrests.nz", "metric", "nope")
    assert doc["summary"]["errors"] >= 1


def test_html_report_is_offline(tmp_path):
    out = tmp_path / "report.html"
    r = runner.invoke(app, ["validate", str(REPO / "datasets"), "--report", str(out)])
    assert r.exit_code == 0
    html = out.read_text()
    assert "PASSED" in html and "relations.accounts_referred_le_identified" in html
    for remote in ("http://", "https://", "//cdn", "<script src", "<link"):  # an inline filter script only
        assert remote not in html


def test_validate_leaves_no_temp_files_and_no_gx_folder(tmp_path, small_dataset):
    """A whole validation in a subprocess with a private TMPDIR and cwd leaves both empty (of the small
    dataset, with its checks/: every rule runs, at a fifth of the shipped data's cost)."""
    tmp = tmp_path / "tmp"
    cwd = tmp_path / "cwd"
    tmp.mkdir()
    cwd.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "OPSLEDGER_CHECKS": str(small_dataset / "checks")}
    args = [sys.executable, "-m", "opsledger.cli", "validate", str(small_dataset / "datasets")]
    if ARCHIVE.is_dir():
        args += ["--sources", str(ARCHIVE)]
    p = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert list(tmp.iterdir()) == []
    assert list(cwd.iterdir()) == []
    assert "%|" not in p.stderr  # no progress bars


def test_show_prints_rows():
    r = runner.invoke(app, ["show", str(REPO / "datasets" / "outcomes.parquet")])
    assert r.exit_code == 0
    assert "[h.arrests.nz]" in r.output and "value=46 " in r.output and "datetime.date" not in r.output


def test_the_command_leaves_at_once_with_all_its_output_and_its_exit_code(tmp_path):
    """`opsledger` skips the interpreter's teardown (cli.main): every line printed still arrives
    through a pipe, and the exit codes are the command's."""
    exe = [sys.executable, "-m", "opsledger.cli"]
    p = subprocess.run([*exe, "show", str(REPO / "datasets" / "claims.parquet")], capture_output=True, text=True)
    rows = pl.read_parquet(REPO / "datasets" / "claims.parquet").height
    assert p.returncode == 0 and p.stdout.count("\n") >= rows and p.stdout.endswith("\n"), p.stderr
    p = subprocess.run([*exe, "validate", str(tmp_path / "missing")], capture_output=True, text=True)
    assert p.returncode == 2 and p.stderr.startswith("error: ") and "Traceback" not in p.stderr
    p = subprocess.run([*exe, "no-such-command"], capture_output=True, text=True)
    assert p.returncode == 2 and "No such command" in p.stderr
    p = subprocess.run([*exe, "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "validate" in p.stdout
    import shlex  # started with standard output closed: nothing to flush, no traceback

    p = subprocess.run(["sh", "-c", shlex.join([*exe, "show", str(REPO / "datasets" / "agencies.parquet")]) + " >&-"],
                       capture_output=True, text=True)
    assert "Traceback" not in p.stderr and p.returncode == 0, p.stderr
