"""Change sets: check, apply with an audit trail, revert; every bad input refused with nothing written."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from opsledger.data import io as oio
from opsledger.cli import app
from opsledger.corrections.changeset import CorrectionError, check, json_schema, read_changeset as load
from opsledger.corrections.apply import apply, revert

from conftest import ARCHIVE, PHRASE_FIX, REPO, read, write_cs

#: the tests' ``data`` is the small dataset: they edit rows of its operations only (conftest)
SMALL_DATA = True

SOURCES = ARCHIVE if ARCHIVE.is_dir() else None
runner = CliRunner()


def snapshot(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.glob("*.parquet"))}


def content(d: Path) -> dict[str, list]:
    t = oio.read_tables(d)
    return {n: df.rows() for n, df in t.items() if n != "corrections"}


def test_json_schema_file_is_current():
    committed = json.loads((REPO / "corrections" / "changeset.schema.json").read_text())
    assert committed == json_schema()


def test_check_apply_log_revert(tmp_path, small_data):
    original = content(small_data)
    cs = write_cs(tmp_path, "0500-round-sentence", PHRASE_FIX)
    before = snapshot(small_data)
    res = check(cs, small_data, SOURCES)
    assert res.report.exit_code == 0, res.report.text()
    claims = res.diff["claims"]
    (stated,) = [c for c in claims.changed if not c.derived]  # the one cell the change set sets
    assert (stated.key, stated.column, stated.new) == ("blackwrist.sentence.second-site-administrator.s000",
                                                       "stated", "40 years")
    assert claims.changed_keys == [stated.key] and len(claims.changed) > 1  # its interval moved too
    text = res.diff.text(rows=True).splitlines()
    assert '- changed `blackwrist.sentence.second-site-administrator.s000`.`stated`: "40 years and three months" -> "40 years"' in text
    assert all(line.endswith("(derived)") for line in text if line.startswith("- changed") and "`stated`" not in line)
    assert snapshot(small_data) == before  # check writes nothing
    apply(cs, small_data, SOURCES)
    assert not cs.exists() and (cs.parent / "applied" / cs.name).exists()
    log = read(small_data, "corrections").filter(pl.col("correction_id") == "0500-round-sentence")
    row = log.row(0, named=True)
    assert (row["table_name"], row["row_key"], row["column_name"]) == (
        "claims", "blackwrist.sentence.second-site-administrator.s000", "stated")
    assert json.loads(row["old_value"]) == "40 years and three months" and json.loads(row["new_value"]) == "40 years"
    assert row["source_id"] == "interpol-blackwrist-release" and row["reason"] == "test" and row["contributor"] == "tester"
    claims = read(small_data, "claims").filter(pl.col("claim_id") == "blackwrist.sentence.second-site-administrator.s000")
    assert claims["high"].item() == 491.0  # re-derived from the new phrase
    # applying the same file twice is refused
    again = write_cs(tmp_path, "0500-round-sentence", PHRASE_FIX)
    with pytest.raises(CorrectionError, match="applied already"):
        apply(again, small_data, SOURCES)
    res = revert("0500-round-sentence", small_data, SOURCES, corrections_dir=tmp_path / "corrections")
    assert content(small_data) == original
    assert read(small_data, "corrections").filter(pl.col("correction_id") == res.correction_id).height == 1


@pytest.mark.parametrize("change, message", [
    ({"op": "update", "table": "claims", "key": "blackwrist.sentence.second-site-administrator.s000",
      "expect": {"stated": "41 years"}, "set": {"stated": "40 years"}, "source": "interpol-blackwrist-release"},
     "expected old value"),
    ({"op": "update", "table": "claims", "key": "no-such-claim", "expect": {"stated": "x"}, "set": {"stated": "y"},
      "source": "interpol-blackwrist-release"}, "no such row"),
    ({"op": "update", "table": "claims", "key": "blackwrist.sentence.second-site-administrator.s000",
      "expect": {"stated": "40 years and three months"}, "set": {"stated": "40 years"}, "source": "no-such-source"},
     "neither in sources nor added"),
    ({"op": "add", "table": "agencies", "row": {"agency_id": "europol", "name": "Dup", "kind": "ngo"},
      "source": "interpol-blackwrist-release"}, "exists already"),
    ({"op": "update", "table": "claims", "key": "blackwrist.sentence.second-site-administrator.s000",
      "expect": {"nonsense": 1}, "set": {"nonsense": 2}, "source": "interpol-blackwrist-release"}, "unknown column"),
    ({"op": "update", "table": "outcomes", "key": "h.arrests.nz", "expect": {"n_sources": 1},
      "set": {"n_sources": "one"}, "source": "interpol-operation-h-release"}, "n_sources of outcomes is derived"),
    ({"op": "update", "table": "sources", "key": "interpol-operation-h-release", "expect": {"published": "2022-01-01"},
      "set": {"published": "someday"}, "source": "interpol-operation-h-release"}, "is not an ISO date"),
])
def test_refused_with_clear_error_and_nothing_written(tmp_path, data, change, message):
    doc = {**PHRASE_FIX, "changes": [change]}
    cs = write_cs(tmp_path, "0501-bad", doc)
    before = snapshot(data)
    with pytest.raises(CorrectionError, match=message) as exc:
        apply(cs, data, SOURCES)
    assert "0501-bad.yaml:" in str(exc.value) and change["table"] in str(exc.value)
    assert snapshot(data) == before and cs.exists()


def test_invalid_result_is_refused(tmp_path, small_data):
    doc = {**PHRASE_FIX, "changes": [{"op": "update", "table": "agencies", "key": "th-dsi",
                                      "expect": {"country": "TH"}, "set": {"country": "XX"},
                                      "source": "interpol-blackwrist-release"}]}
    cs = write_cs(tmp_path, "0502-invalid", doc)
    before = snapshot(small_data)
    with pytest.raises(CorrectionError, match="would not validate") as exc:
        apply(cs, small_data, SOURCES)
    assert "agencies[th-dsi].country" in str(exc.value)
    assert snapshot(small_data) == before


def test_two_corrections_of_one_field_conflict(tmp_path, small_data):
    a = write_cs(tmp_path, "0503-first", PHRASE_FIX)
    b = write_cs(tmp_path, "0504-second", {**PHRASE_FIX, "changes": [
        {**PHRASE_FIX["changes"][0], "set": {"stated": "40 years and three months"}}]})
    apply(a, small_data, SOURCES)
    with pytest.raises(CorrectionError, match="expected old value"):
        check(b, small_data, SOURCES)


@pytest.mark.parametrize("text, message", [
    ("title: x\nreason: y\nchanges:\n  - op: update\n    table: claims\n    key: k\n    set: {a: 1}\n    source: s\n", ":4: field changes.0"),
    ("title: x\nreason: y\nchanges: []\nsurprise: 1\n", "surprise"),
    ("title: x\nreason: y\nchanges:\n  - op: add\n    table: nowhere\n    row: {a: 1}\n    source: s\n", "table must be one of"),
    ("title: [unclosed\n", "not valid YAML"),
])
def test_parse_errors_name_file_line_and_field(tmp_path, text, message):
    p = tmp_path / "0505-broken.yaml"
    p.write_text(text)
    with pytest.raises(CorrectionError, match="0505-broken.yaml") as exc:
        load(p)
    assert message in str(exc.value)


def test_cli_check_and_apply_exit_codes(tmp_path, small_data):
    cs = write_cs(tmp_path, "0506-cli", PHRASE_FIX)
    args = ["--data-dir", str(small_data)] + (["--sources", str(SOURCES)] if SOURCES else [])
    r = runner.invoke(app, ["correction", "check", str(cs), *args])
    assert r.exit_code == 0, r.output
    assert "- changed `blackwrist.sentence.second-site-administrator.s000`.`stated`" in r.output
    bad = write_cs(tmp_path, "0507-cli-bad", {**PHRASE_FIX, "changes": [{**PHRASE_FIX["changes"][0], "key": "nope"}]})
    r = runner.invoke(app, ["correction", "check", str(bad), *args])
    assert r.exit_code == 2 and "no such row" in r.output
    r = runner.invoke(app, ["correction", "apply", str(cs), *args])
    assert r.exit_code == 0, r.output


def _documented_commands(marker: str) -> list[str]:
    text = (REPO / "CONTRIBUTING.md").read_text()
    block = text.split(f"<!-- {marker} -->")[1].split("```sh")[1].split("```")[0]
    return [line for line in block.strip().splitlines() if line.strip()]


def test_documented_examples_run_as_written(tmp_path):
    """CONTRIBUTING's worked examples, command by command as written (scratch folder moved to tmp)."""
    import shlex
    import subprocess

    scratch = str(tmp_path / "opsledger-example")
    outputs = []
    for marker in ("example 1", "example 2"):
        for line in _documented_commands(marker):
            line = line.replace("/tmp/opsledger-example", scratch)
            if line.startswith(".venv/bin/opsledger "):
                args = shlex.split(line)[1:]
                if SOURCES and "--sources" not in args:
                    args += ["--sources", str(SOURCES)]
                r = runner.invoke(app, args, catch_exceptions=False)
                assert r.exit_code == 0, (line, r.output)
                outputs.append(r.output)
            else:
                subprocess.run(line, shell=True, cwd=REPO, check=True)
    assert "(derived)" in outputs[1] and "published figures: unchanged" in outputs[1]
    assert "outcomes[h.children_safeguarded]" in outputs[2] and "corroborated, 2 sources" in outputs[2]
    # nothing in the repository moved or changed
    assert (REPO / "docs" / "examples" / "plant-a-mistake.yaml").exists()
    assert not (REPO / "corrections" / "applied" / "plant-a-mistake.yaml").exists()

def test_cli_check_exit_1_when_the_result_does_not_validate(tmp_path, small_data):
    doc = {**PHRASE_FIX, "changes": [{"op": "update", "table": "agencies", "key": "th-dsi",
                                      "expect": {"country": "TH"}, "set": {"country": "XX"},
                                      "source": "interpol-blackwrist-release"}]}
    cs = write_cs(tmp_path, "0508-cli-invalid", doc)
    r = runner.invoke(app, ["correction", "check", str(cs), "--data-dir", str(small_data)])
    assert r.exit_code == 1 and "agencies[th-dsi].country" in r.output


def test_change_sets_valid_only_together_are_applied_together(tmp_path, small_data):
    """`correction apply A B`: B edits a row that A adds, so B alone is refused; together they are
    checked once and written in one step, each logged and moved. One bad file: nothing is written."""
    import yaml as _yaml

    from opsledger.corrections.apply import apply_together

    example = _yaml.safe_load((REPO / "docs" / "examples" / "add-a-second-source.yaml").read_text(encoding="utf-8"))
    note = example["changes"][0]["row"]["note"]
    edit = {"title": "t", "contributor": "tester", "reason": "test", "changes": [
        {"op": "update", "table": "sources", "key": "example-news-operation-h", "source": "example-news-operation-h",
         "expect": {"note": note}, "set": {"note": "Illustration only."}}]}
    a = write_cs(tmp_path, "0500-add-source", example)
    b = write_cs(tmp_path, "0501-edit-it", edit)
    with pytest.raises(CorrectionError, match="0501-edit-it"):
        check(b, small_data, SOURCES)
    bad = write_cs(tmp_path, "0502-bad", {**edit, "changes": [{**edit["changes"][0], "expect": {"note": "wrong"}}]})
    before = snapshot(small_data)
    with pytest.raises(CorrectionError):
        apply_together([a, bad], small_data, SOURCES)
    assert snapshot(small_data) == before and a.exists() and bad.exists()
    results = apply_together([a, b], small_data, SOURCES)
    assert [r.correction_id for r in results] == ["0500-add-source", "0501-edit-it"]
    assert not a.exists() and not b.exists() and (a.parent / "applied" / b.name).exists()
    log = read(small_data, "corrections")
    assert {"0500-add-source", "0501-edit-it"} <= set(log["correction_id"])
    src = read(small_data, "sources").filter(pl.col("source_id") == "example-news-operation-h")
    assert src["note"].to_list() == ["Illustration only."]


def test_applying_writes_no_docs_and_the_data_dictionary_is_refreshed_by_its_own_call(tmp_path, small_data, monkeypatch):
    # the data directory stands for the repository's own: applying writes only the tables, the log and the
    # file's move; the data dictionary is refreshed by a separate call (which the command line makes and reports)
    import shutil

    from opsledger.corrections import apply as capply

    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    dictionary = root / "docs" / "data-dictionary.md"
    monkeypatch.setattr(capply.oio, "default_data_dir", lambda: small_data)
    monkeypatch.setattr(capply, "repo_root", lambda: root)
    apply(write_cs(tmp_path, "0500-round-sentence", PHRASE_FIX), small_data, SOURCES)
    assert not dictionary.exists()
    assert capply.refresh_dictionary(small_data) == dictionary and "## `claims`" in dictionary.read_text(encoding="utf-8")
    other = tmp_path / "other"
    shutil.copytree(small_data, other)
    assert capply.refresh_dictionary(other) is None  # not the repository's data: nothing written


def test_the_small_dataset_validates_clean_and_holds_what_the_tests_edit(small_data):
    """The change-set tests run on the small dataset (conftest.small_dataset): it is whole (every
    reference resolves, every rule passes or is acknowledged with the curators' reason) and holds the
    rows they edit."""
    from opsledger.validation.run import validate

    r = validate(small_data, sources=SOURCES)
    assert r.exit_code == 0 and all(f.acknowledged for f in r.findings), r.text()
    t = oio.read_tables(small_data)
    assert set(t["operations"]["operation_id"]) == {"h", "blackwrist"}
    assert PHRASE_FIX["changes"][0]["key"] in t["claims"]["claim_id"].to_list()
    assert "th-dsi" in t["agencies"]["agency_id"].to_list() and 0 < t["claims"].height < 200
