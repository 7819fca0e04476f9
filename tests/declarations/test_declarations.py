"""The declarations in schemas/ are validated when loaded, and the "how to add" paths of CONTRIBUTING.md
hold: a metric and a rule are added from declarations alone.

Every test works on a private copy of schemas/ (``$OPSLEDGER_SCHEMAS``) or checks/
(``$OPSLEDGER_CHECKS``) and on a tiny dataset built here, never on the shipped data.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from opsledger.data import io as oio
import opsledger.declarations as metadata
from opsledger.errors import DeclarationError

from conftest import REPO

CHECKS = REPO / "checks"


@pytest.fixture
def schemas(tmp_path, monkeypatch) -> Path:
    """A writable copy of schemas/, in use for the test (the loaded declarations are forgotten before
    and after, so no other test sees it)."""
    d = tmp_path / "schemas"
    shutil.copytree(REPO / "schemas", d)
    monkeypatch.setenv("OPSLEDGER_SCHEMAS", str(d))
    monkeypatch.setenv("OPSLEDGER_CHECKS", str(CHECKS))  # not <copy>/../checks
    metadata.clear_caches()
    yield d
    monkeypatch.undo()
    metadata.clear_caches()


def edit(d: Path, file: str, old: str, new: str) -> None:
    """Replace the one occurrence of ``old`` in a declaration file."""
    p = d / file
    text = p.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{file}: {old!r} occurs {text.count(old)} times"
    p.write_text(text.replace(old, new), encoding="utf-8")


def test_shipped_declarations_load():
    d = metadata.declarations()
    assert list(d.tables) == list(metadata.TABLES)
    assert metadata.claim_keys()["outcomes"] == "outcome_id"


TIMELINE_ORDER = ('[order.timeline_stage]\nterms = ["launched", "victims_first_identified", "arrest", "sentence", '
                  '"announced"]\nwhy = "the order of an operation\'s timeline: no stage starts after a later stage ends"\n')

# (file edited, text replaced, replacement, file the message names, what it says)
BAD = {
    "primary key": ("claims.toml", 'primary_key = ["claim_id"]', 'primary_key = ["claim_idx"]', "claims.toml",
                    "table claims: primary key column 'claim_idx' is not a column of the table"),
    "unique": ("participations.toml", '"agency_id", "role"]]', '"agency_id", "rol"]]', "participations.toml",
               "table participations: unique column 'rol' is not a column of the table"),
    "foreign key table": ("fields.toml", 'references = "sources.source_id"', 'references = "sourcs.source_id"',
                          "fields.toml", "field source_id (in table sources): references table 'sourcs', "
                                         "which is not declared"),
    "foreign key column": ("fields.toml", 'references = "operations.operation_id"',
                           'references = "operations.op_id"', "fields.toml",
                           "references operations.op_id, but operations has no column 'op_id'"),
    "field vocabulary": ("fields.toml", 'vocabulary = "metric"', 'vocabulary = "metrik"', "fields.toml",
                         "field metric: vocabulary 'metrik' is not declared in vocabularies.toml"),
    "table vocabulary": ("agencies.toml", 'vocabulary = "agency_kind"', 'vocabulary = "agency_kinds"',
                         "agencies.toml", "table agencies: column kind: vocabulary 'agency_kinds' is not declared"),
    "derived": ("events.toml", 'derived = ["date", "date_precision"]', 'derived = ["dat", "date_precision"]',
                "events.toml", "table events: derived column 'dat' is not a column of the table"),
    "claim target": ("outcomes.toml", 'claim_targets = ["value", "date"]', 'claim_targets = ["valeu", "date"]',
                     "outcomes.toml", "table outcomes: claim target column 'valeu' is not a column of the table"),
    "date target not derived": ("events.toml", 'derived = ["date", "date_precision"]', 'derived = ["date"]',
                                "events.toml", "claim target 'date' is reconciled from the date claims, so "
                                               "'date_precision' must be listed in derived"),
    "claim target vocabulary": ("vocabularies.toml", 'events = "The claim dates an event of an operation."\n', "",
                                "events.toml", "table events: declares claim_targets but is not a term of the "
                                               "claim_target vocabulary"),
    "unknown table key": ("claims.toml", "checks = [", "chekcs = [", "claims.toml",
                          "table claims: unknown key 'chekcs'"),
    "unknown column key": ("claims.toml", '{ name = "stated", required = true }',
                           '{ name = "stated", requird = true }', "claims.toml",
                           "table claims: column stated: unknown key 'requird'"),
    "unknown field key": ("fields.toml", "minimum = 1\n", "minimun = 1\n", "fields.toml",
                          "field locator_paragraph: unknown key 'minimun'"),
    "undeclared column": ("agencies.toml", '{ name = "acronym" }', '{ name = "acronymn" }', "agencies.toml",
                          "table agencies: column 'acronymn' is not declared in fields.toml"),
    "bad pattern": ("fields.toml", 'pattern = "^[0-9a-f]{64}$"', 'pattern = "^[0-9a-f{64}$"', "fields.toml",
                    "field sha256: pattern: pattern '^[0-9a-f{64}$' is not a regular expression"),
    "precision of a string": ("fields.toml", 'type = "date"\nprecision = "published_precision"',
                              'type = "string"\nprecision = "published_precision"', "fields.toml",
                              "field published: precision 'published_precision' is only for a date column"),
    "table order": ("tables.toml", '"agencies",\n  "operations",', '"operations",\n  "agencies",', "tables.toml",
                    "order: table operations references agencies, so agencies must come before operations"),
    "unlisted table": ("tables.toml", '"headline",\n', "", "headline.toml",
                       "table headline is not listed in the order of tables.toml"),
    "listed table without file": ("tables.toml", '"corrections",\n', '"corrections",\n  "widgets",\n', "tables.toml",
                                  "order: table 'widgets' has no declaration widgets.toml"),
    "order leaves out a term": ("vocabularies.toml", 'terms = ["official_release", "social_media", "news"]',
                                'terms = ["official_release", "social_media"]', "vocabularies.toml",
                                "[order.source_kind]: terms must list every term of source_kind once; "
                                "it leaves out 'news'"),
    "order of no vocabulary": ("vocabularies.toml", "[order.timeline_stage]\nterms", "[order.timeline_stage_]\nterms",
                               "vocabularies.toml", "[order.timeline_stage_]: there is no vocabulary 'timeline_stage_'"),
    "order missing": ("vocabularies.toml", TIMELINE_ORDER, "", "vocabularies.toml",
                      "[order.timeline_stage] is missing: it declares the order of an operation's timeline"),
    "metric unit": ("vocabularies.toml", 'unit = "hours"', 'unit = "hour"', "vocabularies.toml",
                    "[metric.video_hours_seized]: unit 'hour' is not a term of the unit vocabulary"),
    "unknown metric key": ("vocabularies.toml", "[metric.site_users]\ndefinition", "[metric.site_users]\ndefinitoin",
                           "vocabularies.toml", "metric.site_users: unknown key 'definitoin'"),
    "language hedge": ("phrase_rules.toml", '"mehr als" = "over"', '"mehr als" = "ovr"', "phrase_rules.toml",
                       "[language.de.hedge]: 'mehr als' names hedge 'ovr', which has no [hedge.ovr]"),
    "unknown hedge key": ("phrase_rules.toml", "low_steps = 1\n", "low_step = 1\n", "phrase_rules.toml",
                          "hedge.over: unknown key 'low_step'"),
    "unit without step": ("phrase_rules.toml", "\ndays = 1\n", "\n", "phrase_rules.toml",
                          "step: unit 'days' (vocabularies.toml) has no rounding step"),
    "not TOML": ("operations.toml", 'title = "Operations"', 'title = "Operations', "operations.toml",
                 "not valid TOML"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_declaration_is_refused_with_its_file_and_reason(schemas, case):
    file, old, new, named, what = BAD[case]
    edit(schemas, file, old, new)
    with pytest.raises(DeclarationError) as exc:
        metadata.declarations()
    msg = str(exc.value)
    assert msg.startswith(f"schemas/{named}: ") and what in msg, msg
    assert "\n" not in msg and str(schemas.parent) not in msg  # one line, no machine path
    assert exc.value.exit_code == 2


@pytest.mark.parametrize("case", ["primary key", "foreign key table", "unknown column key", "language hedge"])
def test_validate_exits_2_on_a_bad_declaration(schemas, case):
    from opsledger.cli import app

    file, old, new, named, what = BAD[case]
    edit(schemas, file, old, new)
    r = CliRunner().invoke(app, ["validate", str(REPO / "datasets")])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: schemas/{named}: ") and what in lines[0], r.output
    assert "Traceback" not in r.output


def test_module_constants_follow_the_declarations(schemas):
    """KEYS, DATE_TARGETS, SOURCE_PREFERENCE, DATE_COLUMNS and TABLES are read from schemas/ on use."""
    from opsledger.derive import phrases

    from opsledger.derive import reconcile
    assert reconcile.SOURCE_PREFERENCE == {"official_release": 0, "social_media": 1, "news": 2}
    assert reconcile.KEYS["statistics"] == "statistic_id"
    assert reconcile.DATE_TARGETS[("operations", "launched")] == ("launched", "launched_precision")
    assert "as_of" in phrases.DATE_COLUMNS and "value" not in phrases.DATE_COLUMNS
    assert metadata.TABLES[0] == "sources" and "claims" in metadata.TABLES
    assert metadata.timeline_rank()["arrest"] < metadata.timeline_rank()["sentence"]
    assert metadata.target_columns()["participations"] == {"role", "date"}
    edit(schemas, "vocabularies.toml", 'terms = ["official_release", "social_media", "news"]',
         'terms = ["news", "official_release", "social_media"]')
    metadata.clear_caches()
    assert reconcile.SOURCE_PREFERENCE["news"] == 0


# --------------------------------------------------------------------------- a tiny dataset

TODAY = dt.date(2025, 5, 6)


def tiny_rows(metric: str) -> dict[str, list[dict]]:
    """One operation with one figure of ``metric``, stated by two sources. Derived columns are left
    out: :func:`opsledger.derive.reconcile.derive_all` fills them."""
    src = {"kind": "official_release", "published": TODAY, "published_latest": TODAY, "published_precision": "day",
           "published_evidence": "page", "language": "en", "accessed": TODAY}
    claim = {"operation_id": "tinyop", "target_table": "outcomes", "target_id": "tinyop.boats",
             "target_column": "value", "scope": "worldwide", "as_of": TODAY, "as_of_precision": "day"}
    return {
        "sources": [
            {**src, "source_id": "tiny-release", "publisher": "Agency A", "title": "Operation Tiny",
             "url": "https://example.org/tiny"},
            {**src, "source_id": "tiny-news", "kind": "news", "publisher": "A newspaper", "title": "Tiny",
             "url": "https://example.org/news/tiny"},
        ],
        "agencies": [{"agency_id": "agency-a", "name": "Agency A", "kind": "national_police", "country": "NZ"}],
        "operations": [{"operation_id": "tinyop", "name": "Tiny", "lead_agency_id": "agency-a",
                        "summary": "A made-up operation for a test."}],
        "outcomes": [{"outcome_id": "tinyop.boats", "operation_id": "tinyop", "metric": metric,
                      "scope": "worldwide"}],
        "claims": [
            {**claim, "claim_id": "tinyop.boats.release", "source_id": "tiny-release", "stated": "12",
             "quotation": "12 boats were seized"},
            {**claim, "claim_id": "tinyop.boats.news", "source_id": "tiny-news", "stated": "12",
             "quotation": "police seized 12 boats"},
        ],
    }


def write_tiny(data_dir: Path | None, rows: dict[str, list[dict]]) -> dict:
    """Every table (empty where ``rows`` has none), its derived columns filled, written to ``data_dir``
    (when given)."""
    import polars as pl

    from opsledger.derive.reconcile import derive_all

    tables = {}
    for name, decl in metadata.tables().items():
        schema = decl.arrow_schema()
        tables[name] = pl.from_arrow(pa.Table.from_pylist(rows.get(name, []), schema=schema))
    tables = derive_all(tables)
    if data_dir is not None:
        oio.write_tables(tables, data_dir, keep_backup=False)
    return tables


@pytest.fixture
def no_acks(tmp_path) -> Path:
    p = tmp_path / "acks.toml"
    p.write_text("# nothing acknowledged\n", encoding="utf-8")
    return p


def open_findings(report) -> list:
    return [f for f in report.findings if not f.acknowledged]


def test_adding_a_metric_from_declarations_alone(schemas, tmp_path, no_acks):
    """CONTRIBUTING.md, "How to add a metric": one [metric.<name>] table in vocabularies.toml."""
    from opsledger.validation.run import validate

    with (schemas / "vocabularies.toml").open("a", encoding="utf-8") as fh:
        fh.write('\n[metric.boats_seized]\ndefinition = "Boats seized in the operation."\nunit = "count"\n'
                 'applies_to = "outcome"\n')
    metadata.clear_caches()
    t = write_tiny(tmp_path / "data", tiny_rows("boats_seized"))
    out = t["outcomes"].row(0, named=True)
    assert (out["value"], out["unit"], out["status"], out["n_sources"]) == (12, "count", "corroborated", 2)
    report = validate(tmp_path / "data", acknowledgements=no_acks)
    assert report.exit_code == 0 and not open_findings(report), report.text()
    assert "boats_seized" in metadata.data_dictionary()


def test_an_undeclared_metric_is_refused(schemas):
    import polars as pl

    from opsledger.validation.run import validate_tables

    tables = write_tiny(None, tiny_rows("arrests"))
    tables["outcomes"] = tables["outcomes"].with_columns(pl.lit("boats_seized").alias("metric"))
    report = validate_tables(tables, cross=False)
    assert report.exit_code == 1
    assert any(f.table == "outcomes" and f.column == "metric" for f in report.findings), report.text()


def test_adding_a_rule_from_declarations_alone(schemas, tmp_path, no_acks, monkeypatch):
    """CONTRIBUTING.md, "How to add a rule": one Rule in the RULES of its family's module, on an
    existing frame, with a great-expectations expectation that says the thing."""
    from opsledger.validation.rules import support
    from opsledger.validation.rules.base import Rule, expect
    from opsledger.validation.run import validate

    monkeypatch.setattr(support, "RULES", [*support.RULES, Rule(
        "support.one_claim_each", "warning", "Every fact rests on one claim only (a test rule).",
        frame=support.backing, decision=(expect("column_values_to_be_between", column="n_claims", max_value=1),))])
    write_tiny(tmp_path / "data", tiny_rows("arrests"))
    report = validate(tmp_path / "data", acknowledgements=no_acks)
    run = next(r for r in report.rules if r.rule == "support.one_claim_each")
    assert run.status == "warning" and run.severity == "warning"
    found = [f for f in report.findings if f.rule == "support.one_claim_each"]
    assert [(f.table, f.key) for f in found] == [("outcomes", "tinyop.boats")], report.text()
    assert report.exit_code == 0  # a warning does not fail the run
    assert not [f for f in open_findings(report) if f.rule != "support.one_claim_each"], report.text()


def test_rule_modules_read_claim_targets_and_timeline_from_the_declarations():
    """No copy of the claim targets or the stage order is left in the rule modules."""
    from opsledger.validation.rules import support, timeline

    assert not hasattr(support, "TARGET_COLUMNS") and not hasattr(timeline, "TIMELINE_RANK")
    params = support.parameters(None)  # type: ignore[arg-type]
    assert set(params["claim_target_columns"]) == {f"{t}.{c}" for t, cols in metadata.target_columns().items()
                                                   for c in cols}


def test_a_claim_required_column_must_be_a_claim_target(schemas):
    f = schemas / "outcomes.toml"
    f.write_text(f.read_text(encoding="utf-8").replace('claim_required = ["value"]', 'claim_required = ["note"]'),
                 encoding="utf-8")
    with pytest.raises(DeclarationError, match="claim_required 'note' is not one of the table's claim_targets"):
        metadata.declarations()


def test_facts_about_metrics_scopes_and_the_timeline_are_declared(schemas):
    """Additivity, relations, scope shapes, timeline columns and the dataset's identity come from schemas/."""
    assert "sentence_months" not in metadata.metrics_with("additive") and "arrests" in metadata.metrics_with("additive")
    assert ("accounts_referred", "accounts_identified") in metadata.metric_relations()
    assert "region|-|area" in metadata.scope_shapes()
    assert metadata.timeline_stages()["sentence"].metric == "sentence_months"
    assert metadata.dataset().data_license.id == "CC-BY-4.0"
    v = schemas / "vocabularies.toml"
    v.write_text(v.read_text(encoding="utf-8").replace('at_most = "accounts_identified"', 'at_most = "acounts"'),
                 encoding="utf-8")
    metadata.clear_caches()
    with pytest.raises(DeclarationError, match="at_most 'acounts' is not a metric"):
        metadata.declarations()


def test_a_timeline_stage_must_name_a_dated_column(schemas):
    v = schemas / "vocabularies.toml"
    v.write_text(v.read_text(encoding="utf-8").replace('table = "operations"\ncolumn = "launched"',
                                                        'table = "operations"\ncolumn = "name"'), encoding="utf-8")
    with pytest.raises(DeclarationError, match="timeline.launched: operations.name is not a date"):
        metadata.declarations()
