"""Releases: immutable, deterministic, verifiable; loading refuses damaged files."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import polars as pl
import pytest

from opsledger.publishing import publish
from opsledger.publishing.publish import release
from opsledger.publishing.store import ChecksumError, ReleaseError, load, versions

from conftest import RELEASE_ARCHIVE, RELEASE_ARCHIVE_ARGS, REPO, SHIPPED_RELEASE_DATE, set_cell



@pytest.fixture
def store(tmp_path) -> Path:
    return tmp_path / "store"


def test_first_release_is_complete_and_verifiable(shipped_release_run):
    # the session's release of the shipped data (conftest), made into an empty store with a progress callback
    store, stages, res = shipped_release_run.store, shipped_release_run.stages, shipped_release_run.result
    from opsledger.publishing.publish import RELEASE_STAGES

    assert stages == [(n, 5, s) for n, s in enumerate(RELEASE_STAGES)] + [(5, 5, "released")]
    d = store / "0.1.0"
    names = {p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file()}
    assert {"datapackage.json", "SHA256SUMS", "CHANGELOG.md", "validation.json", "validation.html",
            "DATASHEET.md", "tables/claims.parquet", "tables/corrections.parquet"} <= names
    subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=d, check=True)
    idx = json.loads((store / "index.json").read_text())
    assert idx["latest"] == "0.1.0" and idx["versions"][0]["date"] == SHIPPED_RELEASE_DATE
    assert [v["version"] for v in idx["versions"]] == ["0.1.0"]
    dp = json.loads((d / "datapackage.json").read_text())
    claims = [r for r in dp["resources"] if r["name"] == "claims"][0]
    assert claims["schema"]["primaryKey"] == ["claim_id"] and claims["sha256"] and claims["size"] > 0
    assert any(f["name"] == "qualifier" and "enum" in f.get("constraints", {}) for f in claims["schema"]["fields"])
    assert "deliberately excluded" in (d / "DATASHEET.md").read_text().lower()
    assert res.bump == "patch"


def _frictionless_reads_each_row_once(monkeypatch) -> None:
    """frictionless 5.21 reads a Parquet table through its pandas parser, which builds a row's dict
    once per cell (``item.to_dict()[field.name]``): a table costs rows x columns^2, ~20 s of CPU for a
    release. This parser builds each row's dict once and yields the same cells
    (:func:`test_frictionless_row_reader_yields_the_library_s_cells` compares the two)."""
    from frictionless.formats.pandas.parser import PandasParser
    from frictionless.platform import platform

    def read_cell_stream_create(self):
        np, pd = platform.numpy, platform.pandas
        assert isinstance(self.resource.data, pd.DataFrame)
        schema = self._PandasParser__read_convert_schema()
        if not self.resource.schema:
            self.resource.schema = schema
        yield schema.field_names
        for pk, item in self.resource.data.iterrows():
            row = item.to_dict()
            cells = []
            for field in schema.fields:
                if field.name in schema.primary_key:
                    pk = pk if isinstance(pk, tuple) else [pk]
                    value = pk[schema.primary_key.index(field.name)]
                else:
                    value = row[field.name]
                if value is np.nan:
                    value = None
                elif isinstance(value, pd.Timestamp):
                    value = value.to_pydatetime()
                cells.append(value)
            yield cells

    monkeypatch.setattr(PandasParser, "read_cell_stream_create", read_cell_stream_create)


def test_frictionless_row_reader_yields_the_library_s_cells(monkeypatch):
    import pandas as pd
    from frictionless.resources import TableResource

    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", None, "z"], "d": pd.to_datetime(["2020-01-01", None, "2021-05-06"]),
                       "f": [1.5, float("nan"), 3.0]}).set_index("a")

    def cells() -> list:
        with TableResource(data=df, format="pandas") as r:
            return list(r.cell_stream)

    theirs = cells()
    _frictionless_reads_each_row_once(monkeypatch)
    assert repr(cells()) == repr(theirs) and len(theirs) == 4  # repr: a NaN cell equals itself


def test_first_release_passes_frictionless(shipped_release, monkeypatch):
    """The release's data package, every row of every table included, passes frictionless (its own
    test: frictionless reads the tables row by row and takes seconds)."""
    import frictionless
    import pyarrow.parquet as pq

    _frictionless_reads_each_row_once(monkeypatch)
    base = shipped_release / "0.1.0"
    report = frictionless.validate(base / "datapackage.json")
    assert report.valid, report.flatten(["taskName", "rowNumber", "fieldName", "type", "note"])[:30]
    package = json.loads((base / "datapackage.json").read_text())
    assert {t.name: t.stats["rows"] for t in report.tasks} == {
        r["name"]: pq.read_metadata(base / r["path"]).num_rows for r in package["resources"]}


def test_release_again_is_refused(release_copy):
    store = release_copy  # holds 0.1.0
    before = sorted(p.as_posix() for p in store.rglob("*"))
    with pytest.raises(ReleaseError, match="never overwritten"):
        release("0.1.0", store, **RELEASE_ARCHIVE)
    assert sorted(p.as_posix() for p in store.rglob("*")) == before


@pytest.mark.parametrize("bad", ["../x", "1.0", "v1.0.0", "1.0.0/../../x", "", "01.0.0"])
def test_invalid_versions(store, bad):
    with pytest.raises(ReleaseError, match="not a version"):
        release(bad, store, **RELEASE_ARCHIVE)
    assert not store.exists() or not any(store.iterdir())


def test_refused_when_validation_fails(store, data):
    set_cell(data, "agencies", "th-dsi", "country", "XX")
    with pytest.raises(ReleaseError, match="does not validate"):
        release("0.1.0", store, data_dir=data, **RELEASE_ARCHIVE)
    assert not (store / "0.1.0").exists()


def test_deterministic_bytes(tmp_path, shipped_release_run):
    # a second release of the same data on the same date, into another store, as the session's release
    a = shipped_release_run.result
    b = release("0.1.0", tmp_path / "b", **RELEASE_ARCHIVE, date=SHIPPED_RELEASE_DATE)
    assert a.files and a.files == b.files  # every file, reports, database, zip and site included


def test_second_release_changelog_lists_exactly_the_change(release_copy, data, plain_charts):
    store = release_copy  # 0.1.0 is the shipped data, as `data` is before the change
    set_cell(data, "agencies", "europol", "note", "Changed note for the test.")
    release("0.1.1", store, data_dir=data, **RELEASE_ARCHIVE)
    log = (store / "0.1.1" / "CHANGELOG.md").read_text()
    assert "Compared with the previous release, 0.1.0." in log
    n_agencies = pl.read_parquet(data / "agencies.parquet").height
    assert f"| agencies | {n_agencies} | 0 | 1 | 0 |" in log  # counts per table, since 0.1.0 only
    assert "| claims |" in log and "| 0 | 0 | 0 |" in log
    assert "Change sets applied since 0.1.0 (0)" in log  # set_cell is no change set
    detail = (store / "0.1.1" / "CHANGES.md").read_text()
    assert "### agencies: 0 added, 1 changed, 0 removed" in detail
    assert "changed `europol`.`note`" in detail and "Changed note for the test." in detail
    assert detail.count("### ") == 1
    assert [v["version"] for v in versions(store)] == ["0.1.0", "0.1.1"]


def test_version_must_increase(release_copy):
    store = release_copy  # holds 0.1.0
    for lower in ("0.0.9", "0.0.10"):
        with pytest.raises(ReleaseError, match="not above"):
            release(lower, store, **RELEASE_ARCHIVE)
    assert [v["version"] for v in versions(store)] == ["0.1.0"]


def test_breaking_schema_change_needs_a_major_bump():
    # the previous release had a vocabulary term and a column that the schema no longer has (a
    # tampered schema.json of a real release is refused by the checksum check, see test_store_integrity)
    new = publish.schema_signature()
    old = json.loads(json.dumps(new))
    old["vocabularies"]["role"].append("retired_role")
    old["tables"]["agencies"]["old_column"] = "string"
    need, why = publish.required_bump(old, new)
    assert need == "major" and any("retired_role" in w for w in why) and any("old_column" in w for w in why)


def test_added_term_needs_a_minor_bump():
    old = publish.schema_signature()
    new = json.loads(json.dumps(old))
    new["vocabularies"]["role"].append("new_role")
    assert publish.required_bump(old, new)[0] == "minor"
    assert publish.required_bump(old, old)[0] == "patch"
    new["tables"]["agencies"]["agency_id"] = "integer"
    assert publish.required_bump(old, new)[0] == "major"


def test_interrupted_release_leaves_previous_state(release_copy, monkeypatch, plain_charts):
    store = release_copy  # holds 0.1.0
    index_before = (store / "index.json").read_bytes()
    import fsspec.implementations.local as local

    def boom(self, *a, **k):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(local.LocalFileSystem, "mv", boom)
    with pytest.raises(KeyboardInterrupt):
        release("0.1.1", store, **RELEASE_ARCHIVE)
    monkeypatch.undo()
    assert sorted(p.name for p in store.iterdir() if p.name != ".lock") == ["0.1.0", "index.json"]
    assert (store / "index.json").read_bytes() == index_before


def test_load_verifies_and_refuses_a_flipped_byte(release_copy):
    store = release_copy  # holds 0.1.0
    t = load("outcomes", store=store)
    assert t.num_rows > 0 and "value_low" in t.column_names
    assert isinstance(load("outcomes", "0.1.0", store, as_="polars"), pl.DataFrame)
    assert load("outcomes", store=store, as_="pandas").shape[0] == t.num_rows
    p = store / "0.1.0" / "tables" / "outcomes.parquet"
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x01
    p.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="outcomes.parquet"):
        load("outcomes", store=store)


def test_load_refuses_truncated(release_copy):
    store = release_copy  # holds 0.1.0
    p = store / "0.1.0" / "tables" / "claims.parquet"
    p.write_bytes(p.read_bytes()[:-10])
    with pytest.raises(ChecksumError, match="claims.parquet"):
        load("claims", store=store)


def test_fsspec_url_store(tmp_path, plain_charts):
    url = f"file://{tmp_path / 'urlstore'}"
    release("0.1.0", url, **RELEASE_ARCHIVE)
    assert load("operations", store=url).num_rows >= 2


def test_diff_between_release_and_working_data(shipped_release, data):
    set_cell(data, "agencies", "europol", "note", "x")
    text = publish.diff("0.1.0", data, shipped_release).text()  # 0.1.0: the shipped data
    assert "changed `europol`.`note`" in text


def _run_readme_example(marker: str, store) -> dict:
    """Run the README's Python block after ``<!-- example: MARKER -->`` against a real release (the
    session's release of the shipped data; the examples only read)."""
    readme = (REPO / "README.md").read_text()
    block = readme.split(f"<!-- example: {marker} -->")[1].split("```python")[1].split("```")[0]
    code = block.replace('STORE = "releases"', f'STORE = {str(store)!r}')
    ns: dict = {}
    exec(compile(code, "README.md", "exec"), ns)
    return ns


def test_readme_loading_examples_run(shipped_release):
    """The README's loading examples (pandas, polars, DuckDB) run against a real release."""
    ns = _run_readme_example("loading", shipped_release)
    assert ns["outcomes_pd"].shape[0] == ns["outcomes_pl"].height == ns["n_duckdb"]


def test_cli_release_versions_diff(store, data, plain_charts):
    from typer.testing import CliRunner

    from opsledger.cli import app

    runner = CliRunner()
    extra = RELEASE_ARCHIVE_ARGS
    r = runner.invoke(app, ["release", "0.1.0", "--to", str(store), "--data-dir", str(data), *extra])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["release", "0.1.0", "--to", str(store), "--data-dir", str(data), *extra])
    assert r.exit_code == 1 and "never overwritten" in r.output
    r = runner.invoke(app, ["release", "../x", "--to", str(store), *extra])
    assert r.exit_code == 2 and "not a version" in r.output
    r = runner.invoke(app, ["versions", "--store", str(store)])
    assert r.exit_code == 0 and "0.1.0" in r.output and "latest" in r.output
    set_cell(data, "agencies", "europol", "note", "x")
    r = runner.invoke(app, ["diff", "0.1.0", str(data), "--store", str(store)])
    assert r.exit_code == 0 and "changed `europol`.`note`" in r.output
    r = runner.invoke(app, ["diff", "9.9.9", str(data), "--store", str(store)])
    assert r.exit_code == 2 and "not in store" in r.output


def test_readme_three_questions_run(shipped_release):
    """The journalist's three questions in the README run against a real release, in a few lines."""
    ns = _run_readme_example("questions", shipped_release)
    assert ns["total"] > 0 and ns["children"].height >= 5
    assert set(ns["disputes"]["outcome_id"]) and ns["disputes"]["source_id"].nunique() >= 2
    assert ns["by_year"]["operations"].sum() == pl.read_parquet(REPO / "datasets" / "operations.parquet").height
