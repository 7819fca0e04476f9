"""`opsledger draft`: figures proposed from a page, each pointing into its text, tested on the shipped
claims' own quotations in every shipped language (real phrases, as the pages write them)."""

from __future__ import annotations

from collections import defaultdict

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from opsledger.cli import app
from opsledger.declarations import metric_unit
from opsledger.derive.draft import draft, draft_file
from opsledger.derive.phrases import derive_number
from opsledger.errors import PathError, UsageError


@pytest.fixture(scope="module")
def quoted(shipped) -> pl.DataFrame:
    """Numeric claims with a quotation, and their source's language: at most 40 a language (every
    shipped language; a fixed sample, so the test is fast and the same every run)."""
    c = (shipped["claims"].join(shipped["sources"].select("source_id", "language"), on="source_id")
         .filter(pl.col("quotation").is_not_null() & pl.col("low").is_not_null()).sort("claim_id"))
    return c.filter(pl.int_range(pl.len()).over("language") < 40)


def test_every_figure_of_a_real_quotation_is_found_and_nothing_is_invented(quoted):
    found, total = defaultdict(int), defaultdict(int)
    for r in quoted.iter_rows(named=True):
        q, lang = r["quotation"], r["language"]
        d = draft(q, lang)
        for f in d.figures:
            assert f.stated and q[f.offset:f.offset + len(f.stated)] == f.stated  # it points into the text
            assert f.stated in f.quotation.replace("...", "")
            if f.problem is None:
                unit = metric_unit(f.metric_guess) if f.metric_guess else "count"
                iv = derive_number(f.stated, unit, lang)
                assert (iv.low, iv.high) == (f.low, f.high)
        total[lang] += 1
        found[lang] += any(r["stated"] in f.stated or f.stated in r["stated"] for f in d.figures)
    assert len(total) >= 8, total
    for lang in total:
        assert found[lang] / total[lang] >= 0.85 or total[lang] < 5, (lang, found[lang], total[lang])


@pytest.mark.parametrize("lang, text, stated, metric", [
    ("en", "Police in 12 countries arrested 46 people and nearly 63,000 users were identified.", "nearly 63,000 users",
     "site_users"),
    ("de", "Bei der Aktion wurden 46 Tatverdächtige ermittelt.", "46 Tatverdächtige", "suspects_identified"),
    ("es", "La operación se saldó con 20 detenidos en 12 países.", "20 detenidos", "arrests"),
    ("pt", "Foram cumpridos 112 mandados de busca e apreensão.", "112 mandados", "house_searches"),
    ("it", "Sono stati arrestati 17 indagati in tutta Italia.", "17 indagati", "suspects_identified"),
    ("fr", "Au total, 31 suspects ont été interpellés.", "31 suspects", "suspects_identified"),
    ("nl", "In totaal zijn 17 verdachten aangehouden.", "17 verdachten", "suspects_identified"),
])
def test_the_word_after_a_figure_guesses_its_metric(lang, text, stated, metric):
    (f,) = [f for f in draft(text, lang).figures if f.stated == stated]
    assert f.metric_guess == metric


def test_years_and_days_of_dates_are_not_figures_and_the_date_is_proposed():
    d = draft("LYON, France, 23 May 2019\n\nIn 2018, officers searched 120 homes.", "en")
    assert [f.stated for f in d.figures] == ["120 homes"]
    assert d.published == {"date": "2019-05-23", "precision": "day", "stated": "23 May 2019", "evidence": "page",
                           "paragraph": 1, "offset": 14}


def test_a_phrase_the_rules_cannot_read_is_listed_with_its_reason_not_a_value():
    (f,) = draft("Between 12 and 3 suspects were named.", "en").figures[:1]
    assert (f.low, f.high) == (None, None) or f.problem is None  # never a made-up bound


def test_bad_input_is_a_clear_error_and_nothing_is_written(tmp_path):
    with pytest.raises(UsageError, match="no text"):
        draft("   ", "en")
    with pytest.raises(UsageError, match="no phrase rules for language 'xx'"):
        draft("12 arrests", "xx")
    with pytest.raises(PathError, match="does not exist"):
        draft_file(tmp_path / "missing.txt")
    page = tmp_path / "page.txt"
    page.write_text("Police arrested 46 people.", encoding="utf-8")
    out = tmp_path / "draft.yaml"
    out.write_text("kept", encoding="utf-8")
    r = CliRunner().invoke(app, ["draft", str(page), "--out", str(out)])
    assert r.exit_code == 2 and "exists already" in r.output and out.read_text() == "kept"
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe12")
    r = CliRunner().invoke(app, ["draft", str(tmp_path / "bin.txt")])
    assert r.exit_code == 2 and "not UTF-8" in r.output


def test_the_draft_is_a_bundle_a_person_can_review(tmp_path):
    page = tmp_path / "page.txt"
    page.write_text("LYON, 23 May 2019 - Police arrested 46 people.\n", encoding="utf-8")
    r = CliRunner().invoke(app, ["draft", str(page), "--source-id", "src-1"])
    assert r.exit_code == 0, r.output
    doc = yaml.safe_load(r.output)
    (claim,) = doc["claims"]
    assert claim["stated"] == "46 people" and claim["about"] == "arrests" and claim["source_id"] == "src-1"
    assert claim["draft"]["interval"] == {"qualifier": "exact", "low": 46.0, "high": 46.0}
    assert doc["sources"][0]["published"] == "2019-05-23"


def test_a_date_in_figures_is_read_in_its_language_order_only():
    """"05.11.2007" is a day in German (day first, declared); English writes both orders, so it is not read."""
    assert draft("Wiesbaden, 05.11.2007\n\nDie Polizei nahm 12 Verdächtige fest.", "de").published["date"] == "2007-11-05"
    assert draft("London, 05.11.2007\n\nPolice arrested 12 suspects.", "en").published is None
