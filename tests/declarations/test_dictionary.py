"""Derived artifacts stay in step with the one declaration per table."""

from __future__ import annotations



from opsledger.declarations import data_dictionary, table, tables, vocabularies
from opsledger.validation.schema_stage import pandera_schema

from conftest import REPO


def test_data_dictionary_is_up_to_date():
    committed = (REPO / "docs" / "data-dictionary.md").read_text(encoding="utf-8")
    from opsledger.data.io import read_tables

    assert committed == data_dictionary(read_tables()), "docs/data-dictionary.md is stale: run `make dictionary`"


def test_every_column_documented():
    for t in tables().values():
        for f in t.fields:
            assert f.description.strip(), f"{t.name}.{f.name} has no description"


def test_arrow_and_pandera_derive_the_same_columns():
    for name, t in tables().items():
        assert t.arrow_schema().names == t.columns
        assert list(pandera_schema(name).columns) == t.columns


def test_vocabulary_metrics_have_definition_and_unit():
    units = vocabularies()["unit"]
    for spec in vocabularies()["metric"].values():
        assert spec["definition"] and spec["unit"] in units and spec["applies_to"] in ("outcome", "statistic")


def test_issue_metric_terms_present():
    required = {"children_safeguarded", "victims_depicted", "victims_unidentified", "site_users",
                "accounts_identified", "accounts_referred", "countries_referred", "countries_engaged",
                "arrests", "offenders_prosecuted", "cases_investigated", "sentence_months",
                "charges_pleaded", "youngest_victim_age_months"}
    assert required <= set(vocabularies()["metric"])


def test_referential_suite_covers_every_declared_foreign_key():
    from opsledger.validation.rules import load_rules

    rules = {r.name for r in load_rules() if r.family == "referential"}
    for t in tables().values():
        for fk in t.foreign_keys:
            assert f"referential.{t.name}.{fk.column}" in rules


def test_every_rule_has_severity_description_and_a_decision():
    from opsledger.validation.rules import all_rules

    for r in all_rules():
        assert r.name and r.severity in ("error", "warning") and r.description and r.decision, r.name
        assert r.frame is not None or r.stage == "schema" or callable(r.decision), r.name


def test_shipped_parquet_has_declared_arrow_schema():
    import pyarrow.parquet as pq

    for name in tables():
        got = pq.read_schema(REPO / "datasets" / f"{name}.parquet")
        want = table(name).arrow_schema()
        assert [(f.name, f.type) for f in got] == [(f.name, f.type) for f in want]
