"""curation/: the scripts that turn research into change sets, on tiny fixtures.

- bundle_to_changeset.py: a research bundle (curation/research/<op>.yaml) becomes a change set in the
  figure model;
- review_to_changeset.py: a re-reading of one operation's claims (curation/review/<op>*.tsv) becomes
  a change set of updates, added outcomes and retirements.

Every change set they write must parse as a change set (``opsledger.corrections.changeset.read_changeset``).
"""

import datetime as dt
import importlib.util
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from opsledger.data import io as oio

from opsledger.publishing.outputs import notes
from opsledger.corrections.changeset import read_changeset as load_changeset
from opsledger.declarations import TABLES, table

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "research"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "curation" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _converter():
    return _script("bundle_to_changeset")


@pytest.fixture(scope="module")
def changes(tmp_path_factory):
    b2c = _converter()
    out = tmp_path_factory.mktemp("corrections")
    (out / "applied").mkdir()
    (out / "applied" / "0201-earlier.yaml").write_text("title: x\n")
    assert b2c.main([str(FIXTURES / "tinyop.yaml"), "--research", str(FIXTURES), "--out", str(out)]) == 0
    files = sorted(out.glob("*.yaml"))
    assert [f.name for f in files] == ["0202-add-tinyop.yaml"]  # numbered after the highest, applied included
    assert [c.op for c in load_changeset(files[0]).changes][:1] == ["add"]  # a valid change set
    doc = yaml.safe_load(files[0].read_text(encoding="utf-8"))
    return doc["changes"]


def rows(changes, table):
    return {next(iter(ch["row"].values())): ch["row"] for ch in changes if ch["table"] == table}


def test_outcomes_have_scope_ids_and_part_of(changes):
    out = rows(changes, "outcomes")
    assert set(out) == {"tinyop.arrests", "tinyop.arrests.es", "tinyop.arrests.teachers",
                        "tinyop.arrests.outside_es"}
    assert out["tinyop.arrests"]["scope"] == "worldwide" and out["tinyop.arrests"]["part_of"] is None
    assert (out["tinyop.arrests.es"]["scope"], out["tinyop.arrests.es"]["country"]) == ("country", "ES")
    assert out["tinyop.arrests.es"]["part_of"] == "tinyop.arrests"
    assert out["tinyop.arrests.outside_es"]["area"] == "outside_es"
    assert out["tinyop.arrests.outside_es"]["part_of"] == "tinyop.arrests"
    assert out["tinyop.arrests.teachers"]["subgroup"] == "teachers"
    assert out["tinyop.arrests.teachers"]["part_of"] == "tinyop.arrests"
    assert all(r["offender_role"] is None for r in out.values())
    # a total comes before its parts, so each change applies on its own
    order = [ch["row"]["outcome_id"] for ch in changes if ch["table"] == "outcomes"]
    assert order[0] == "tinyop.arrests"


def test_claims_carry_quotation_scope_and_as_of(changes):
    claims = {r["target_id"]: r for r in rows(changes, "claims").values()}
    es = claims["tinyop.arrests.es"]
    assert (es["scope"], es["country"], es["area"]) == ("country", "ES", None)
    assert (es["as_of"], es["as_of_precision"]) == ("2020-04-01", "month")
    assert es["quotation"] == "12 of them in Spain"
    total = claims["tinyop.arrests"]
    assert (total["scope"], total["as_of"], total["stated"]) == ("worldwide", None, "more than 40 people")
    assert claims["tinyop.arrests.outside_es"]["area"] == "outside_es"


def test_sources_carry_accessed_and_based_on(changes):
    src = rows(changes, "sources")["example-2020-tinyop"]
    assert src["accessed"] == "2026-11-30"
    assert src["based_on"] == "AFP"


def test_region_without_area_is_refused(tmp_path):
    b2c = _converter()
    bundle = yaml.safe_load((FIXTURES / "tinyop.yaml").read_text(encoding="utf-8"))
    bundle["claims"][3]["area"] = None
    (tmp_path / "tinyop.yaml").write_text(yaml.safe_dump(bundle), encoding="utf-8")
    with pytest.raises(SystemExit, match="scope region without an area"):
        b2c.main([str(tmp_path / "tinyop.yaml"), "--research", str(tmp_path), "--out", str(tmp_path), "--dry-run"])


CAND_HEADER = "\t".join(notes.CANDIDATE_COLUMNS)


def _population(root, rows: list[str], searches: list[str] = ()) -> None:
    (root / "population").mkdir(parents=True, exist_ok=True)
    (root / "population" / "candidates.tsv").write_text("\n".join([CAND_HEADER, *rows]) + "\n", encoding="utf-8")
    (root / "population" / "searches.tsv").write_text(
        "\n".join(["\t".join(notes.SEARCH_COLUMNS), *searches]) + "\n", encoding="utf-8")


def _cand(name, decision, op="", reason="why", year="2001"):
    return "\t".join([name, "", year, "Agency A", "", "", decision, reason, op, "", ""])


def test_datasheet_states_inclusion_rule_and_population(tmp_path):
    research = tmp_path / "research"
    research.mkdir()
    (research / "README.md").write_text("# R\n\n## Inclusion rule\n\nOnly made-up\noperations count.\n\n## Other\nx\n")
    _population(tmp_path, [_cand("Operation Nowhere", "backlog"), _cand("Operation Elsewhere", "excluded")],
                ["q one\ten\tEuropol\t2001\t5\tOperation Nowhere"])
    assert notes.inclusion_rule(research) == "Only made-up operations count."
    cands, searches = notes.population(tmp_path / "population")
    assert [r["name"] for r in cands] == ["Operation Nowhere", "Operation Elsewhere"] and len(searches) == 1


def test_population_with_a_broken_row_or_decision_is_an_error(tmp_path):
    _population(tmp_path, ["Only\ttwo"])
    with pytest.raises(notes.PopulationError, match="line 2 has 2 fields"):
        notes.population(tmp_path / "population")
    _population(tmp_path, [_cand("Operation X", "maybe")])
    with pytest.raises(notes.PopulationError, match="decision 'maybe' is not one of"):
        notes.population(tmp_path / "population")


def test_datasheet_lists_population_coverage_and_only_the_missing_backlog(shipped, tmp_path):
    research = tmp_path / "research"
    research.mkdir()
    (research / "README.md").write_text("## Inclusion rule\nOnly made-up operations count.\n")
    in_data = shipped["operations"]["name"][0]
    _population(tmp_path, [_cand("Operation Nowhere", "backlog", reason="one | source"),
                           _cand(in_data, "backlog"), _cand("Operation Gone", "excluded")])
    text = notes.datasheet(shipped, "9.9.9", "2026-11-30", research_dir=research)
    assert "### Inclusion rule\n\nOnly made-up operations count." in text
    assert "| Operation Nowhere | 2001 | Agency A | one \\| source |" in text
    backlog = text.split("### Known operations not curated")[1].split("## Composition")[0]
    assert f"| {in_data} |" not in backlog  # in the dataset: not backlog
    assert "3 candidate operations were screened" in text and "0 included (naming 0 operations" in text
    assert "2 that meet the rule" in text
    assert "| lead agency's region | operations |" in text and "| international body |" in text
    for word in ("page store", "other researcher"):
        assert word not in text


def test_datasheet_counts_operations_not_log_rows(shipped, tmp_path):
    # one operation found twice under different descriptions: two included rows, one operation
    research = tmp_path / "research"
    research.mkdir()
    (research / "README.md").write_text("## Inclusion rule\nx\n")
    op = shipped["operations"]["operation_id"][0]
    _population(tmp_path, [_cand("Operation One", "included", op=op), _cand("The same, again", "included", op=op)])
    text = notes.datasheet(shipped, "9.9.9", "2026-11-30", research_dir=research)
    assert "2 included (naming 1 operations of the dataset" in text


def test_shipped_datasheet_reads_the_repository_files(shipped):
    text = notes.datasheet(shipped, "9.9.9", "2026-11-30")
    assert "### Inclusion rule" in text and "No inclusion rule was found" not in text
    assert "No population log was found" not in text
    for word in ("page store", "other researcher", "left to the"):
        assert word not in text, word


# --------------------------------------------------------------------------- review_to_changeset.py

TSV_HEADER = {
    "review": ["claim_id", "quotation", "scope", "country", "area", "as_of", "as_of_precision", "new_target",
               "verdict", "note"],
    "outcomes": ["outcome_id", "action", "metric", "scope", "country", "area", "subgroup", "offender_role",
                 "part_of", "note"],
    "sources": ["source_id", "published", "published_precision", "accessed", "url_status", "note"],
}


def _tsv(path: Path, kind: str, rows: list[dict]) -> None:
    cols = TSV_HEADER[kind]
    lines = ["\t".join(cols)] + ["\t".join(r.get(c, "") for c in cols) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _frame(name: str, rows: list[dict]) -> pl.DataFrame:
    schema = pl.from_arrow(table(name).arrow_schema().empty_table()).schema
    return pl.DataFrame([{**dict.fromkeys(table(name).columns), **r} for r in rows], schema=schema, orient="row")


def tiny_tables() -> dict[str, pl.DataFrame]:
    """Operation `tiny`: two made-up sources, four outcomes, five claims (no real page or person)."""
    t = {n: _frame(n, []) for n in TABLES}
    t["sources"] = _frame("sources", [
        {"source_id": "s1", "kind": "news", "language": "en", "publisher": "Example News",
         "published": dt.date(2020, 1, 1), "published_latest": dt.date(2026, 11, 30), "published_precision": "bounded",
         "published_evidence": "bounded"},
        {"source_id": "s2", "kind": "news", "language": "en", "published": dt.date(2020, 1, 1),
         "published_latest": dt.date(2020, 1, 1), "published_precision": "day", "published_evidence": "page"},
    ])
    out = {"operation_id": "tiny", "metric": "arrests", "unit": "count", "value": 1.0, "status": "single_source",
           "n_sources": 1, "scope": "worldwide"}
    t["outcomes"] = _frame("outcomes", [
        {**out, "outcome_id": "tiny.arrests"},
        {**out, "outcome_id": "tiny.arrests.es", "scope": "country", "country": "ES", "part_of": "tiny.arrests"},
        {**out, "outcome_id": "tiny.victims", "metric": "victims_identified", "note": "made up"},
        {**out, "outcome_id": "tiny.victims.es", "metric": "victims_identified", "scope": "country",
         "country": "ES", "part_of": "tiny.victims"},
    ])
    claim = {"operation_id": "tiny", "target_table": "outcomes", "target_column": "value", "qualifier": "exact",
             "scope": "worldwide", "as_of": dt.date(2020, 1, 1), "as_of_latest": dt.date(2020, 1, 1), "as_of_precision": "day"}
    t["claims"] = _frame("claims", [
        {**claim, "claim_id": "c1", "source_id": "s1", "target_id": "tiny.arrests", "stated": "more than 40"},
        {**claim, "claim_id": "c2", "source_id": "s1", "target_id": "tiny.arrests", "stated": "12"},
        {**claim, "claim_id": "c3", "source_id": "s2", "target_id": "tiny.victims", "stated": "nine"},
        {**claim, "claim_id": "c4", "source_id": "s2", "target_id": "tiny.arrests.es", "stated": "7",
         "scope": "country", "country": "ES"},
        {**claim, "claim_id": "c5", "source_id": "s2", "target_id": "tiny.arrests.es", "stated": "8",
         "scope": "country", "country": "ES"},
    ])
    return t


@pytest.fixture
def review(tmp_path):
    data = tmp_path / "datasets"
    oio.write_tables(tiny_tables(), data, keep_backup=False)
    rev = tmp_path / "review"
    rev.mkdir()
    _tsv(rev / "tiny.tsv", "review", [
        {"claim_id": "c1", "quotation": "Police arrested more than 40 people.", "scope": "worldwide",
         "as_of": "2020-04-01", "as_of_precision": "month", "verdict": "ok"},
        {"claim_id": "c2", "quotation": "12 of them in Europe", "scope": "region", "area": "europe",
         "new_target": "tiny.arrests.europe", "verdict": "retarget", "note": "a Europe-only count"},
        {"claim_id": "c3", "scope": "country", "country": "ES", "new_target": "tiny.victims.es",
         "verdict": "retarget", "note": "victims in Spain"},
        {"claim_id": "c4", "scope": "worldwide", "verdict": "rephrase", "note": "stated=seven | the page spells it"},
        {"claim_id": "c5", "scope": "country", "country": "ES", "verdict": "unsupported",
         "note": "the page gives no such figure"},
        {"claim_id": "no-such-claim", "verdict": "ok"},
    ])
    _tsv(rev / "tiny.outcomes.tsv", "outcomes", [
        {"outcome_id": "tiny.arrests.europe", "action": "add", "metric": "arrests", "scope": "region",
         "area": "europe", "part_of": "tiny.arrests", "note": "Arrests in Europe."},
        {"outcome_id": "tiny.unbacked", "action": "add", "metric": "arrests", "scope": "worldwide"},
    ])
    _tsv(rev / "tiny.sources.tsv", "sources", [
        {"source_id": "s1", "published": "2020-05-04", "published_precision": "day", "accessed": "2026-11-30",
         "url_status": "found"},
        {"source_id": "s2", "published": "2021-01-01", "accessed": "2026-11-30", "url_status": "gone"},
    ])
    return data, rev


def _by(changes, op, tbl):
    return {(c.get("key") or next(iter(c["row"].values()))): c for c in changes if c["op"] == op and c["table"] == tbl}


def test_review_becomes_the_change_set_it_says(review):
    data, rev = review
    res = _script("review_to_changeset").build("tiny", "0999", data, rev)
    ch = res["changes"]
    # sources: a publication known only within bounds is dated, the date read recorded; a gone page's is not
    src = _by(ch, "update", "sources")
    assert list(src) == ["s1"]
    assert src["s1"]["set"] == {"published": "2020-05-04", "published_precision": "day",
                                "published_latest": "2020-05-04", "published_evidence": "page", "accessed": "2026-11-30"}
    assert src["s1"]["expect"] == {"published": "2020-01-01", "published_precision": "bounded",
                                   "published_latest": "2026-11-30", "published_evidence": "bounded", "accessed": None}
    # an outcome is added only when a claim moves to it, citing that claim's source
    (added,) = _by(ch, "add", "outcomes").values()
    assert added["row"]["outcome_id"] == "tiny.arrests.europe" and added["source"] == "s1"
    assert (added["row"]["scope"], added["row"]["area"], added["row"]["part_of"]) == ("region", "europe", "tiny.arrests")
    claims = _by(ch, "update", "claims")
    assert claims["c1"]["set"] == {"quotation": "Police arrested more than 40 people.", "as_of": "2020-04-01",
                                   "as_of_precision": "month"}
    assert claims["c1"]["expect"] == {"quotation": None, "as_of": "2020-01-01", "as_of_precision": "day"}
    # a moved claim takes the scope of the outcome it now supports
    assert claims["c2"]["set"] == {"quotation": "12 of them in Europe", "target_id": "tiny.arrests.europe",
                                   "scope": "region", "area": "europe"}
    assert claims["c3"]["set"] == {"target_id": "tiny.victims.es", "scope": "country", "country": "ES"}
    assert claims["c4"]["set"] == {"stated": "seven"}
    assert claims["c5"]["set"]["note"].startswith("Not found on the page when re-read on 2026-11-30: the page")
    # the outcome left without claims is retired, and its part stands on its own (updated first)
    assert list(_by(ch, "retire", "outcomes")) == ["tiny.victims"]
    part = _by(ch, "update", "outcomes")["tiny.victims.es"]
    assert part["set"] == {"part_of": None} and part["expect"] == {"part_of": "tiny.victims"}
    keys = [c.get("key") for c in ch]
    assert keys.index("tiny.victims.es") < keys.index("tiny.victims")
    assert set(res["problems"]) == {
        "outcomes: tiny.unbacked is added but no claim is moved to it; skipped",
        "claims: c4 is read as worldwide but supports tiny.arrests.es (country)",
        "claims: no-such-claim is not in the data",
    }


def test_review_change_set_is_valid_and_applies_to_its_data(review, tmp_path):
    from opsledger.corrections.changeset import apply_in_memory

    data, rev = review
    out = tmp_path / "corrections"
    out.mkdir()
    assert _script("review_to_changeset").main(
        ["tiny", "0999", "--data-dir", str(data), "--review-dir", str(rev), "--out-dir", str(out)]) == 0
    (path,) = out.glob("*.yaml")
    assert path.name == "0999-reread-tiny.yaml"
    cs = load_changeset(path)
    res = apply_in_memory(cs, oio.read_tables(data), path, archive=None)
    outcomes = res.tables["outcomes"]
    assert "tiny.victims" not in outcomes["outcome_id"].to_list()
    claims = {r["claim_id"]: r for r in res.tables["claims"].iter_rows(named=True)}
    assert claims["c4"]["stated"] == "seven" and claims["c4"]["low"] == 7
    assert claims["c2"]["target_id"] == "tiny.arrests.europe" and claims["c2"]["area"] == "europe"


def test_bundle_converter_explanations_follow_the_phrase_rules():
    """An adjustment that leaves a claim out as unreadable says so only while the rules cannot read it."""
    from opsledger.derive.phrases import PhraseError, derive_number

    b2c = _converter()
    assert "could not read" in b2c.UNREADABLE_CURRENCY and "read it now" in b2c.UNREADABLE_CURRENCY
    assert "would read only its first number" not in b2c.RANGE_ACROSS
    assert derive_number("Over £37,500", "gbp", "en").low == 37501  # what made the old reason false
    unreadable = [(op, r) for op, rules in b2c.ADJUST.items() for r in rules
                  if "drop" in r and b2c.NOT_A_FIGURE in r["drop"]]
    assert unreadable
    langs = {}
    for op, r in unreadable:
        if op not in langs:
            bundle = yaml.safe_load((REPO / "curation" / "research" / f"{op}.yaml").read_text(encoding="utf-8"))
            langs[op] = {s["source_id"]: s["language"] for s in bundle["sources"]}
        with pytest.raises(PhraseError):
            derive_number(r["stated"], "count", langs[op][r["source"]])
