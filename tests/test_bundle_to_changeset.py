"""curation/bundle_to_changeset.py: a research bundle becomes a change set in the figure model."""

import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

from opsledger import notes

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "research"


def _converter():
    spec = importlib.util.spec_from_file_location("bundle_to_changeset", REPO / "curation" / "bundle_to_changeset.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bundle_to_changeset"] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def changes(tmp_path_factory):
    b2c = _converter()
    out = tmp_path_factory.mktemp("corrections")
    (out / "applied").mkdir()
    (out / "applied" / "0201-earlier.yaml").write_text("title: x\n")
    assert b2c.main([str(FIXTURES / "tinyop.yaml"), "--research", str(FIXTURES), "--out", str(out)]) == 0
    files = sorted(out.glob("*.yaml"))
    assert [f.name for f in files] == ["0202-add-tinyop.yaml"]  # numbered after the highest, applied included
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


def test_datasheet_states_inclusion_rule_and_backlog(tmp_path):
    (tmp_path / "README.md").write_text("# R\n\n## Inclusion rule\n\nOnly made-up\noperations count.\n\n## Other\nx\n")
    (tmp_path / "_backlog.tsv").write_text(
        "operation_name\tyear\tlead_agency\twhy_not_curated\nOperation Nowhere\t2001\tAgency A\tonly one source\n")
    (tmp_path / "_backlog_b.tsv").write_text(
        "operation_name\tyear\tlead_agency\twhy_not_curated\nOperation Elsewhere\t2002\tAgency B\tdomestic | only\n")
    assert notes.inclusion_rule(tmp_path) == "Only made-up operations count."
    assert [r["operation_name"] for r in notes.backlog(tmp_path)] == ["Operation Nowhere", "Operation Elsewhere"]


def test_backlog_with_a_broken_row_is_an_error(tmp_path):
    (tmp_path / "_backlog.tsv").write_text("operation_name\tyear\tlead_agency\twhy_not_curated\nOnly\ttwo\n")
    with pytest.raises(notes.BacklogError, match="line 2 has 2 fields"):
        notes.backlog(tmp_path)


def test_datasheet_text_lists_rule_and_backlog(shipped, tmp_path):
    (tmp_path / "README.md").write_text("## Inclusion rule\nOnly made-up operations count.\n")
    (tmp_path / "_backlog.tsv").write_text(
        "operation_name\tyear\tlead_agency\twhy_not_curated\nOperation Nowhere\t2001\tAgency A\tone | source\n")
    text = notes.datasheet(shipped, "9.9.9", "2026-11-30", research_dir=tmp_path)
    assert "### Inclusion rule\n\nOnly made-up operations count." in text
    assert "| Operation Nowhere | 2001 | Agency A | one \\| source |" in text


def test_shipped_datasheet_reads_the_repository_files(shipped):
    text = notes.datasheet(shipped, "9.9.9", "2026-11-30")
    assert "### Inclusion rule" in text and "No inclusion rule was found" not in text
    assert "No backlog file was found" not in text
