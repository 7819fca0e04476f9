"""Derived columns: every declared one exists, a change set may not set one, a value the derivation
would replace is refused, and the log records what is stored (issue 11)."""

from __future__ import annotations

import json
import shutil

import polars as pl
import pytest

from opsledger.corrections.changeset import CorrectionError, read_changeset as load_cs, prepare
from opsledger.declarations import declared_derived, table

from conftest import PHRASE_FIX, REPO, read, write_cs

#: the tests' ``data`` is the small dataset: they edit rows of its operations only (conftest)
SMALL_DATA = True


def test_every_declared_derived_column_exists():
    for name, cols in declared_derived().items():
        missing = [c for c in cols if c not in table(name).columns]
        assert not missing, f"schemas/{name}.toml declares derived columns it does not have: {missing}"
    assert "value" in table("outcomes").derived and "sha256" in table("sources").derived


def test_loader_refuses_an_unknown_derived_column(tmp_path):
    import opsledger.declarations as metadata
    from opsledger.errors import DeclarationError

    d = tmp_path / "schemas"
    shutil.copytree(REPO / "schemas", d)
    p = d / "claims.toml"
    p.write_text(p.read_text().replace('derived = ["metric"', 'derived = ["not_yet_a_column", "metric"'))
    q = d / "agencies.toml"
    assert "derived" not in q.read_text()  # no key at all is fine
    with pytest.raises(DeclarationError, match=r"schemas/claims.toml: table claims: derived column "
                                               r"'not_yet_a_column' is not a column of the table"):
        metadata._tables(d)


@pytest.mark.parametrize("change, column", [
    ({"op": "update", "table": "outcomes", "key": "h.arrests.nz", "expect": {"value": 46},
      "set": {"value": 47}, "source": "interpol-operation-h-release"}, "value"),
    ({"op": "update", "table": "claims", "key": "blackwrist.sentence.second-site-administrator.s000",
      "expect": {"low": 483}, "set": {"low": 400}, "source": "interpol-blackwrist-release"}, "low"),
    ({"op": "add", "table": "claims", "source": "interpol-operation-h-release",
      "row": {"claim_id": "x.y", "source_id": "interpol-operation-h-release", "target_table": "outcomes",
              "target_id": "h.arrests.nz", "target_column": "value", "stated": "46", "qualifier": "exact"}},
     "qualifier"),
])
def test_change_set_may_not_set_a_derived_column(tmp_path, change, column):
    cs = write_cs(tmp_path, "0901-derived", {**PHRASE_FIX, "changes": [change]})
    with pytest.raises(CorrectionError) as exc:
        load_cs(cs)
    msg = str(exc.value)
    assert f"column {column} of {change['table']} is derived" in msg and "0901-derived.yaml:" in msg


def test_a_value_the_derivation_would_replace_is_refused(tmp_path, data, monkeypatch):
    """Whatever the declarations say, a value a change set gives that derivation replaces is refused:
    the log never records a value the table does not hold."""
    import opsledger.corrections.changeset as corr

    real = corr.derive_all

    def derive_note(tables, archive=None):  # pretend agencies.note were derived from other data
        out = real(tables, archive)
        out["agencies"] = out["agencies"].with_columns(pl.lit("derived").alias("note"))
        return out

    monkeypatch.setattr(corr, "derive_all", derive_note)
    row = read(data, "agencies").filter(pl.col("agency_id") == "europol").row(0, named=True)
    change = {"op": "update", "table": "agencies", "key": "europol", "source": "interpol-blackwrist-release",
              "expect": {"note": row["note"]}, "set": {"note": "typed by hand"}}
    cs = write_cs(tmp_path, "0902-note", {**PHRASE_FIX, "changes": [change]})
    with pytest.raises(CorrectionError, match=r"column note: derived from the claims for this row"):
        prepare(cs, data)


def test_log_records_what_is_stored(tmp_path, data):
    res = prepare(write_cs(tmp_path, "0903-ok", PHRASE_FIX), data)
    claims = res.tables["claims"].filter(pl.col("claim_id") == PHRASE_FIX["changes"][0]["key"]).row(0, named=True)
    entry = res.log.row(0, named=True)
    assert json.loads(entry["new_value"]) == claims["stated"] == "40 years"
