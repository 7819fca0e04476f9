"""Numbers in their language (issue 22): each language's decimal and thousands marks are declared in
schemas/phrase_rules.toml and agree with CLDR (babel); a figure that can be read two ways is decided by
the source's declared convention (sources.number_marks) or refused with a clear message."""

from __future__ import annotations

import pytest

from opsledger.derive.phrases import PhraseError, derive_number, rules

# babel names Norwegian Bokmål "nb"
CLDR = {"no": "nb"}


@pytest.mark.parametrize("lang", sorted(rules()["language"]))
def test_declared_marks_agree_with_cldr(lang):
    numbers = pytest.importorskip("babel.numbers")
    L = rules()["language"][lang]
    loc = CLDR.get(lang, lang)
    assert L["decimal"] == numbers.get_decimal_symbol(loc)
    group = numbers.get_group_symbol(loc).replace("\u00a0", " ").replace("\u202f", " ")
    assert group in L["group"], (lang, group, L["group"])


# Real phrases of the shipped sources, one or more per language: (language, phrase, unit, low, high)
REAL = [
    ("en", "more than 90,000", "count", 90001, None),
    ("en", "over 1.5 million", "count", 1500001, None),
    ("de", "mehr als 87.000 Mitglieder", "count", 87001, None),
    ("de", "12 000 Menschen", "count", 12000, 12000),
    ("es", "más de 594.000 archivos multimedia", "count", 594001, None),
    ("pt", "6.000 dispositivos eletrónicos", "count", 6000, 6000),
    ("it", "75 persone", "count", 75, 75),
    ("fr", "près de 2.500 clients", "count", 2250, 2499),
    ("nl", "Ruim 150.000 pedofielen", "count", 150001, None),
    ("da", "1393 mistænkte", "count", 1393, 1393),
    ("cs", "75 osob", "count", 75, 75),
    ("pl", "11 innych państw", "count", 12, 12),
    ("ru", "12 000 пользователей", "count", 12000, 12000),
    ("no", "1 200 brukere", "count", 1200, 1200),
    ("is", "1.200 notendur", "count", 1200, 1200),
]


# Compound number words (compound_joiner): once read as their tens word alone ("Trinta e uma" as 30).
COMPOUND = [
    ("pt", "Trinta e uma pessoas", 31),   # a curator's page (issue 21's curation notes)
    ("pt", "vinte e dois presos", 22),
    ("es", "cuarenta y un detenidos", 41),
    ("fr", "vingt-deux interpellations", 22),
    ("fr", "vingt et un pays", 21),
    ("en", "forty-six people", 46),       # declared word by word in English
]


@pytest.mark.parametrize("lang,phrase,value", COMPOUND)
def test_compound_number_words(lang, phrase, value):
    iv = derive_number(phrase, "count", lang)
    assert (iv.low, iv.high) == (value, value)


@pytest.mark.parametrize("lang,phrase,unit,low,high", REAL)
def test_real_phrases(lang, phrase, unit, low, high):
    iv = derive_number(phrase, unit, lang)
    assert (iv.low, iv.high) == (low, high)


@pytest.mark.parametrize("lang,token", [("pt", "410,000"), ("de", "1,234"), ("es", "846,000"), ("en", "1.234"),
                                        ("fr", "2,500"), ("it", "100,000")])
def test_a_figure_read_two_ways_is_refused(lang, token):
    with pytest.raises(PhraseError, match="read two ways.*sources.number_marks"):
        derive_number(f"{token} usuários", "count", lang)


def test_the_source_convention_decides():
    # the BoyVids page in Portuguese writes thousands with English marks (sources.number_marks = en)
    iv = derive_number("aproximadamente 410,000 usuários registrados", "count", "pt@en")
    assert iv.figure == 410000
    assert derive_number("pelo menos 846,000 usuários registrados", "count", "pt@en").low == 846000
    # decimals stay decimals where they cannot be thousands
    assert derive_number("1,5 milhão", "count", "pt").figure == 1500000
    assert derive_number("0,125", "terabytes", "pt").figure == pytest.approx(0.125)


def test_shipped_boyvids_figures_read_in_thousands(shipped_derived):
    import polars as pl

    c = shipped_derived["claims"].filter(pl.col("source_id") == "bitcoinethereumnews-pt-2022-boyvids")
    assert {410000, 846000} <= set(c["figure"].drop_nulls().to_list())
