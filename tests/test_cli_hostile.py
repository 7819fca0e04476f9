"""Every command with bad input: the exit code its error type carries, one `error:` line, no traceback.

Fast: every case fails before any validation runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opsledger.cli import app

from conftest import write_empty_tables

runner = CliRunner()


@pytest.fixture
def junk(tmp_path) -> dict[str, Path]:
    """Hostile files and folders, by name."""
    t = tmp_path
    (t / "empty").mkdir()
    (t / "binary.bin").write_bytes(b"\x00\xff\xfe\x01" * 64)
    (t / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (t / "bad.toml").write_text("[[ack]\nrule = ")
    (t / "wrongshape.toml").write_text("ack = 'no'\n")
    (t / "store").mkdir()
    (t / "store" / "index.json").write_text("{broken")
    (t / "data").mkdir()
    (t / "data" / "claims.parquet").write_bytes(b"PAR1 not parquet")
    cs = t / "corrections"
    cs.mkdir()
    (cs / "0001-bomb.yaml").write_text("a: &a [x, x]\nb: &b [*a, *a]\ntitle: *b\nreason: r\nchanges: []\n")
    (cs / "0002-list.yaml").write_text("- a\n- b\n")
    (cs / "0003-binary.yaml").write_bytes(b"\x00\x01\x02\xff")
    (cs / "0004-broken.yaml").write_text("title: [unclosed\n")
    (cs / "Bad Name.yaml").write_text("title: t\nreason: r\nchanges: []\n")
    (cs / "0005-huge.yaml").write_bytes(b"#" * (2 << 20))
    ro = t / "readonly"
    ro.mkdir()
    ro.chmod(0o500)
    return {p.name: p for p in [*t.iterdir(), *cs.iterdir()]} | {"missing": t / "missing", "tmp": t}


def cases(j: dict[str, Path]) -> list[tuple[list[str], int]]:
    t = j["tmp"]
    data = ["--data-dir", str(j["empty"])]
    return [
        # validate
        (["validate", str(j["missing"])], 2),
        (["validate", str(j["binary.bin"])], 2),
        (["validate", str(j["data"])], 2),
        (["validate", "--names", str(j["binary.bin"])], 2),
        (["validate", "--names", str(j["latin1.txt"])], 2),
        (["validate", "--names", str(j["missing"])], 2),
        (["validate", "--acknowledgements", str(j["bad.toml"])], 2),
        (["validate", "--acknowledgements", str(j["wrongshape.toml"])], 2),
        (["validate", "--acknowledgements", str(j["missing"])], 2),
        (["validate", "--sources", str(j["missing"])], 2),
        (["validate", str(j["empty"]), "--schema-only", "--report", str(j["binary.bin"] / "r.html")], 2),
        (["validate", str(j["empty"]), "--schema-only", "--report", str(j["empty"])], 2),
        # reconcile, show
        (["reconcile", str(j["missing"])], 2),
        (["reconcile", str(j["data"])], 2),
        (["show", str(j["missing"])], 2),
        (["show", str(j["binary.bin"])], 2),
        (["show", str(j["empty"])], 2),
        # releases
        (["release", "../../x", "--to", str(t / "s")], 2),
        (["release", "0.1.0", "--to", "memory://store"], 2),
        (["release", "0.1.0", "--to", str(j["store"])], 1),
        (["versions", "--store", str(j["store"])], 1),
        (["diff", "0.1.0", "0.2.0", "--store", str(j["store"])], 1),
        (["diff", "9.9.9", str(j["empty"]), "--store", str(t / "nostore")], 2),
        (["diff", "latest", str(j["empty"]), "--store", str(t / "nostore")], 2),
        (["diff", str(j["missing"]), str(j["missing"])], 2),
        # source re-verification (no request is made: the input is refused first)
        (["sources", "fetch", str(j["binary.bin"])], 2),
        (["sources", "fetch", str(t / "cache"), "--data-dir", str(j["missing"])], 2),
        # change sets
        (["correction", "check", str(j["missing"]), *data], 2),
        (["correction", "check", str(j["0001-bomb.yaml"]), *data], 2),
        (["correction", "check", str(j["0002-list.yaml"]), *data], 2),
        (["correction", "check", str(j["0003-binary.yaml"]), *data], 2),
        (["correction", "check", str(j["0004-broken.yaml"]), *data], 2),
        (["correction", "check", str(j["0005-huge.yaml"]), *data], 2),
        (["correction", "check", str(j["Bad Name.yaml"]), *data], 2),
        (["correction", "check", str(j["binary.bin"]), *data], 2),
        (["correction", "apply", str(j["0001-bomb.yaml"]), *data], 2),
        (["correction", "apply", str(j["0003-binary.yaml"]), *data], 2),
        (["correction", "apply", str(j["missing"]), *data], 2),
        (["correction", "revert", "../../etc/passwd", *data], 2),
        (["correction", "revert", "0001-nothing", "--data-dir", str(j["missing"])], 2),
        (["correction", "new", "Bad Name", "--corrections-dir", str(j["corrections"])], 2),
        (["correction", "new", "ok-name", "--corrections-dir", str(j["missing"])], 2),
        (["draft", str(j["missing"])], 2),
        (["draft", str(j["binary.bin"])], 2),
        (["draft", str(j["corrections"])], 2),
    ]


def test_every_command_refuses_bad_input_in_one_line(junk):
    write_empty_tables(junk["empty"])
    failures = []
    for args, code in cases(junk):
        r = runner.invoke(app, args)
        lines = r.stderr.strip().splitlines()
        ok = (r.exit_code == code and len(lines) == 1 and lines[0].startswith("error: ")
              and "Traceback" not in r.output and (r.exception is None or isinstance(r.exception, SystemExit)))
        if not ok:
            failures.append(f"{args}: exit {r.exit_code} (want {code}): {r.output!r}")
    assert not failures, "\n".join(failures)


def test_every_command_is_swept():
    """A new command must be added to the sweep above."""
    from typer.main import get_command

    names = set()
    root = get_command(app)
    for name, cmd in root.commands.items():
        sub = getattr(cmd, "commands", None)
        names |= {f"{name} {s}" for s in sub} if sub else {name}
    swept = {"validate", "reconcile", "show", "release", "versions", "diff", "correction check",
             "correction apply", "correction revert", "correction new", "sources fetch", "draft"}
    no_bad_input = {"dictionary", "rules", "correction schema", "privacy hash"}  # no file or data argument
    assert names <= swept | no_bad_input, names - swept - no_bad_input


def test_internal_errors_are_one_line_with_their_own_exit_code(monkeypatch):
    import opsledger.data.io

    def boom(*a, **k):
        raise RuntimeError("unexpected\nsecond line")

    monkeypatch.setattr(opsledger.data.io, "show", boom)
    r = runner.invoke(app, ["show", "x.parquet"])
    assert r.exit_code == 3 and len(r.stderr.strip().splitlines()) == 1 and "internal error" in r.stderr


def test_entry_point_has_no_traceback_in_a_real_process(tmp_path):
    (tmp_path / "bomb.yaml").write_text("a: &a [x]\nb: [*a]\n")
    p = subprocess.run([sys.executable, "-m", "opsledger.cli", "correction", "check",
                        str(tmp_path / "bomb.yaml"), "--data-dir", str(tmp_path)],
                       capture_output=True, text=True, env={**os.environ, "OPSLEDGER_DEBUG": ""})
    assert p.returncode == 2 and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_json_output_stays_json_with_hostile_data(tmp_path):
    from opsledger.terminal import safe

    s = {"v": "\x1b[31m\u202e\x07"}
    assert json.loads(safe(json.dumps(s, ensure_ascii=False))) == s
