"""Each schema rule, broken in one way on a copy of the shipped data, gives its specific finding."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from opsledger.validation.run import validate

from conftest import findings_for, read, set_cell, write

#: the tests' ``data`` is the small dataset: they edit rows of its operations only (conftest)
SMALL_DATA = True


def schema_report(d):
    return validate(d, cross=False)


def one(report, rule, table, key, column):
    hits = [f for f in findings_for(report, rule) if f.table == table and f.key == key and f.column == column]
    assert hits, f"no {rule} finding for {table}[{key}].{column}; got {[f.line() for f in report.findings]}"
    assert report.exit_code == 1
    return hits[0]


def test_shipped_schema_clean():
    r = validate(cross=False)
    assert r.exit_code == 0, r.text()
    assert not r.findings


def test_required(data):
    set_cell(data, "claims", "blackwrist.site_users.s000", "stated", None)
    one(schema_report(data), "schema.required", "claims", "blackwrist.site_users.s000", "stated")


@pytest.mark.parametrize("table, key, column", [
    # issue 21: no source is left undated (at worst bounded), and every claim has an as-of
    ("sources", "interpol-blackwrist-release", "published"),
    ("sources", "interpol-blackwrist-release", "published_latest"),
    ("sources", "interpol-blackwrist-release", "published_evidence"),
    ("claims", "blackwrist.site_users.s000", "as_of"),
    ("claims", "blackwrist.site_users.s000", "as_of_precision"),
])
def test_a_source_without_a_date_and_a_claim_without_an_as_of_are_refused(data, table, key, column):
    set_cell(data, table, key, column, None)
    one(schema_report(data), "schema.required", table, key, column)


def test_unique_primary_key(data):
    df = read(data, "agencies")
    write(data, "agencies", pl.concat([df, df.filter(pl.col("agency_id") == "europol")]))
    r = schema_report(data)
    f = one(r, "schema.unique", "agencies", "europol", "agency_id")
    assert f.value == "europol"


def test_unique_together(data):
    df = read(data, "participations")
    dup = df.filter(pl.col("participation_id") == "h.interpol.coordination").with_columns(
        pl.lit("h.interpol.coordination-2").alias("participation_id"))
    write(data, "participations", pl.concat([df, dup]))
    r = schema_report(data)
    assert any(f.rule == "schema.unique" and f.table == "participations" for f in r.findings), r.text()


def test_id_pattern(data):
    set_cell(data, "agencies", "europol", "parent_agency_id", "Not A Slug")
    f = one(schema_report(data), "schema.pattern", "agencies", "europol", "parent_agency_id")
    assert f.value == "Not A Slug"


def test_vocabulary(data):
    set_cell(data, "outcomes", "h.arrests.nz", "metric", "arrested_people")
    f = one(schema_report(data), "schema.vocabulary", "outcomes", "h.arrests.nz", "metric")
    assert f.value == "arrested_people"


def test_iso_country(data):
    set_cell(data, "agencies", "th-dsi", "country", "XX")
    f = one(schema_report(data), "schema.iso_country", "agencies", "th-dsi", "country")
    assert f.value == "XX"


def test_minimum(data):
    set_cell(data, "outcomes", "h.arrests.nz", "n_sources", -1)
    one(schema_report(data), "schema.minimum", "outcomes", "h.arrests.nz", "n_sources")


def test_value_within_bounds(data):
    set_cell(data, "outcomes", "h.arrests.nz", "value", 4600.0)
    f = one(schema_report(data), "schema.value_within_bounds", "outcomes", "h.arrests.nz", "value")
    assert f.value["value"] == "4600.0"


def test_low_le_high(data):
    set_cell(data, "claims", "blackwrist.site_users.s000", "low", 70000.0)
    one(schema_report(data), "schema.low_le_high", "claims", "blackwrist.site_users.s000", "low")


def test_date_low_le_high(data):
    set_cell(data, "claims", "h.launched.s004", "date_low", dt.date(2020, 1, 1))
    one(schema_report(data), "schema.date_low_le_high", "claims", "h.launched.s004", "date_low")


def test_date_precision_alignment(data):
    # a date without a latest column holds its period's first day
    set_cell(data, "events", "blackwrist.first-arrests", "date", dt.date(2018, 1, 15))  # precision says month
    one(schema_report(data), "schema.precision", "events", "blackwrist.first-arrests", "date")


def test_interval_needs_its_last_day(data):
    # a date that is an interval holds any first day, but needs its last day
    set_cell(data, "operations", "h", "launched_latest", None)
    one(schema_report(data), "schema.precision", "operations", "h", "launched")


def test_date_without_precision(data):
    set_cell(data, "operations", "h", "launched_precision", None)
    one(schema_report(data), "schema.precision", "operations", "h", "launched")


def test_type(data):
    df = read(data, "outcomes").with_columns(pl.col("n_sources").cast(pl.Utf8))
    write(data, "outcomes", df, cast=False)
    r = schema_report(data)
    f = [f for f in r.findings if f.rule == "schema.type" and f.table == "outcomes" and f.column == "n_sources"]
    assert f and r.exit_code == 1


def test_lazy_reports_every_failure(data):
    set_cell(data, "agencies", "th-dsi", "country", "XX")
    set_cell(data, "outcomes", "h.arrests.nz", "metric", "nope")
    set_cell(data, "claims", "blackwrist.site_users.s000", "stated", None)
    r = schema_report(data)
    assert {f.rule for f in r.findings} >= {"schema.iso_country", "schema.vocabulary", "schema.required"}


@pytest.mark.parametrize("damage, reason", [
    ("missing", "is missing"),
    ("garbage", "not readable Parquet"),
    ("columns", "wrong column set"),
])
def test_unusable_input(data, damage, reason):
    p = data / "agencies.parquet"
    if damage == "missing":
        p.unlink()
    elif damage == "garbage":
        p.write_bytes(b"not parquet at all")
    else:
        write(data, "agencies", read(data, "agencies").drop("note"), cast=False)
    r = validate(data)
    assert r.exit_code == 2
    assert reason in r.unusable and "agencies" in r.unusable


def test_a_table_checked_again_gives_its_findings_anew_and_follows_the_declarations(small_dataset, tmp_path,
                                                                                    monkeypatch):
    """The schema stage answers an unchanged table from its first check (validating again after one
    edit checks that table only): the answer is a copy each time, an edited table is checked anew, and
    changed declarations are read after clear_caches()."""
    import shutil

    import opsledger.declarations as decl
    from opsledger.data import io as oio
    from opsledger.validation.schema_stage import check_table

    claims = oio.read_tables(small_dataset / "datasets")["claims"]
    long_quote = claims.filter(pl.col("quotation").str.len_chars() > 60).height
    assert long_quote  # the shipped quotations hold clauses longer than the limit set below
    broken = claims.with_columns(pl.lit("x" * 201).alias("quotation"))
    first = check_table("claims", broken)
    assert {f.rule for f in first} == {"schema.max_length"} and len(first) == claims.height
    first[0].acknowledged = True  # a caller marking its findings does not mark the next answer
    again = check_table("claims", broken)
    assert again == check_table("claims", broken) and not any(f.acknowledged for f in again)
    assert check_table("claims", claims) == []  # the unbroken table: checked on its own
    d = tmp_path / "schemas"
    shutil.copytree(decl.schema_dir(), d)
    fields = d / "fields.toml"
    fields.write_text(fields.read_text(encoding="utf-8").replace("max_length = 200", "max_length = 60", 1),
                      encoding="utf-8")
    monkeypatch.setenv("OPSLEDGER_SCHEMAS", str(d))
    decl.clear_caches()
    try:
        assert len([f for f in check_table("claims", claims) if f.rule == "schema.max_length"]) == long_quote
    finally:
        monkeypatch.delenv("OPSLEDGER_SCHEMAS")
        decl.clear_caches()
    assert check_table("claims", claims) == []
