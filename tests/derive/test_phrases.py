"""The phrase rules: each hedge gives its documented interval."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from opsledger.derive.phrases import PhraseError, derive, derive_date, derive_number, period

from conftest import small_tables


@pytest.mark.parametrize("stated, unit, qualifier, low, high", [
    ("50 children", "count", "exact", 50, 50),
    ("nearly 63,000", "count", "nearly", 56700, 62999),
    ("almost 400", "count", "nearly", 360, 399),
    ("over 60,000", "count", "over", 60001, None),
    ("more than 90,000", "count", "over", 90001, None),
    ("at least 100 more children", "count", "at_least", 100, None),
    ("approximately 153,000", "count", "approximately", 145350, 160650),
    ("some 12,500", "count", "approximately", 11875, 13125),
    ("up to 30", "count", "up_to", 0, 30),
    ("under 13 years old", "months", "under", 0, 155),
    ("hundreds of investigations", "count", "magnitude", 200, 999),
    ("tens of thousands of offenders", "count", "magnitude", 20000, 99999),
    ("40 years and three months", "months", "exact", 483, 483),
    ("40 years", "months", "exact", 480, 491),
    ("two-year", "months", "exact", 24, 35),
    ("15-month-old", "months", "exact", 15, 15),
    ("1.8 million", "count", "exact", 1750000, 1849999),
    ("over 1.5 million", "count", "over", 1500001, None),
    ("65 percent", "percent", "exact", 65, 65),
    ("nine sex offenders", "count", "exact", 9, 9),
])
def test_number_rules(stated, unit, qualifier, low, high):
    iv = derive_number(stated, unit)
    assert (iv.qualifier, iv.low, iv.high) == (qualifier, low, high)


def test_rounded_figure_allows_the_precise_one():
    coarse, fine = derive_number("40 years", "months"), derive_number("40 years and three months", "months")
    assert coarse.low <= fine.low <= fine.high <= coarse.high


@pytest.mark.parametrize("stated, lang, q, lo, hi", [
    ("2017", "en", "year", dt.date(2017, 1, 1), dt.date(2017, 12, 31)),
    ("in 2017", "en", "year", dt.date(2017, 1, 1), dt.date(2017, 12, 31)),
    ("June 2017", "en", "month", dt.date(2017, 6, 1), dt.date(2017, 6, 30)),
    ("June, 2018", "en", "month", dt.date(2018, 6, 1), dt.date(2018, 6, 30)),
    ("17 May 2019", "en", "day", dt.date(2019, 5, 17), dt.date(2019, 5, 17)),
    ("May 23, 2019", "en", "day", dt.date(2019, 5, 23), dt.date(2019, 5, 23)),
    ("early 2018", "en", "part_of_year", dt.date(2018, 1, 1), dt.date(2018, 4, 30)),
    ("März 2025", "de", "month", dt.date(2025, 3, 1), dt.date(2025, 3, 31)),
    # an abbreviated month as a Spanish page stamp prints it (whatsapp_ameripol_2017)
    ("12 jul 2017", "es", "day", dt.date(2017, 7, 12), dt.date(2017, 7, 12)),
    ("3 dic. 2019", "es", "day", dt.date(2019, 12, 3), dt.date(2019, 12, 3)),
    ("May 23", "en", "undated", None, None),
    ("last week", "en", "undated", None, None),
])
def test_date_rules(stated, lang, q, lo, hi):
    iv = derive_date(stated, lang)
    assert (iv.qualifier, iv.date_low, iv.date_high) == (q, lo, hi)


def test_german_rules():
    iv = derive_number("rund 1,8 Millionen", "count", "de")
    assert (iv.qualifier, iv.low, iv.high) == ("approximately", 1710000, 1890000)
    assert derive_number("mehr als 1.800", "count", "de").low == 1801


def test_unknown_language_and_unreadable_phrases():
    with pytest.raises(PhraseError):
        derive_number("50", "count", "xx")
    with pytest.raises(PhraseError):
        derive_number("many children", "count")
    with pytest.raises(PhraseError):
        derive_number("40 years", "count")  # a duration is not a count


def test_role_claims_have_no_interval():
    assert derive("took down the servers", "role", None).qualifier == "evidence"


def test_period():
    assert period(dt.date(2018, 1, 1), dt.date(2018, 1, 31)) == (dt.date(2018, 1, 1), "month")
    assert period(dt.date(2018, 1, 1), dt.date(2018, 4, 30)) == (dt.date(2018, 1, 1), "year")
    assert period(dt.date(2019, 5, 17), dt.date(2019, 5, 17)) == (dt.date(2019, 5, 17), "day")


@pytest.mark.parametrize("stated, unit, low, high", [
    ("£37,500", "gbp", 37500, 37500),
    ("Over £37,500 ($60,000)", "gbp", 37501, None),
    ("more than $4 million", "cad", 4000001, None),
    ("over $4 million CAD", "cad", 4000001, None),
])
def test_currency_signs(stated, unit, low, high):
    iv = derive_number(stated, unit)
    assert (iv.low, iv.high) == (low, high)


def test_currency_sign_must_fit_the_metric():
    with pytest.raises(PhraseError, match="amount in gbp"):
        derive_number("£5", "usd")


@pytest.mark.parametrize("stated, unit, low, high", [
    ("20 to 30 years", "months", 240, 371),
    ("between 12 and 30 months", "months", 12, 30),
    ("5-7", "count", 5, 7),
    ("between 5 and 7 arrests", "count", 5, 7),
])
def test_ranges(stated, unit, low, high):
    iv = derive_number(stated, unit)
    assert (iv.qualifier, iv.low, iv.high) == ("range", low, high)


@pytest.mark.parametrize("stated", ["40 years and three months", "two-year", "15-month-old", "300 tonnes"])
def test_not_ranges(stated):
    assert derive_number(stated, "months" if "year" in stated or "month" in stated else "count").qualifier != "range"


# --------------------------------------------------------------------------- every shipped language
# Real phrases of datasets/claims.parquet (source language, phrase, target column, unit) and what the
# rules give for them. Test ids are "<language>-<index>": phrases never appear in test ids.

REAL = [
    ("en", "nearly 63,000", "value", "count", "nearly", 56700, 62999),
    ("en", "40 years and three months", "value", "months", "exact", 483, 483),
    ("en", "13 other countries", "value", "count", "exact", 14, 14),
    ("en", "June 2017", "date", None, "month", dt.date(2017, 6, 1), dt.date(2017, 6, 30)),
    ("de", "etwa 1,8 Millionen Nutzer", "value", "count", "approximately", 1710000, 1890000),
    ("de", "knapp 1.400 mutmaßliche Täter", "value", "count", "nearly", 1260, 1399),
    ("de", "400'000 Personen", "value", "count", "exact", 400000, 400000),
    ("de", "zehneinhalb Jahren", "value", "months", "exact", 126, 137),
    ("de", "bis zu 400.000 Mitglieder", "value", "count", "up_to", 0, 400000),
    ("de", "im Juni 2017", "date", None, "month", dt.date(2017, 6, 1), dt.date(2017, 6, 30)),
    ("de", "2. April 2025", "announced", None, "day", dt.date(2025, 4, 2), dt.date(2025, 4, 2)),
    ("es", "Más de 360.000 archivos", "value", "count", "over", 360001, None),
    ("es", "dos años", "value", "months", "exact", 24, 35),
    ("es", "otra en Portugal", "value", "count", "exact", 1, 1),
    ("es", "diciembre de 2021", "launched", None, "month", dt.date(2021, 12, 1), dt.date(2021, 12, 31)),
    ("pt", "agosto de 2007", "launched", None, "month", dt.date(2007, 8, 1), dt.date(2007, 8, 31)),
    ("no", "Om lag 80 hus", "value", "count", "approximately", 76, 84),
    ("it", "circa 30 Paesi", "value", "count", "approximately", 28, 32),
    ("it", "altri 24 Paesi", "value", "count", "exact", 25, 25),
    ("it", "altre sedici", "value", "count", "exact", 16, 16),
    ("it", "oltre un centinaio di persone", "value", "count", "over", 101, None),
    ("it", "diverse centinaia di perquisizioni", "value", "count", "magnitude", 200, 999),
    ("it", "nel 2006", "launched", None, "year", dt.date(2006, 1, 1), dt.date(2006, 12, 31)),
    ("fr", "quelque 50 autres suspects", "value", "count", "approximately", 47, 53),
    ("fr", "près de 2.500 clients", "value", "count", "nearly", 2250, 2499),
    ("fr", "mai 2011", "date", None, "month", dt.date(2011, 5, 1), dt.date(2011, 5, 31)),
    ("nl", "Zeker 259 misbruikte kinderen", "value", "count", "at_least", 259, None),
    ("nl", "1,8 miljoen gebruikers", "value", "count", "exact", 1750000, 1849999),
    ("nl", "30 jaar cel", "value", "months", "exact", 360, 371),
    ("nl", "januari 2015", "launched", None, "month", dt.date(2015, 1, 1), dt.date(2015, 1, 31)),
    ("da", "Over 3000 elektroniske genstande", "value", "count", "over", 3001, None),
    ("da", "ni personer", "value", "count", "exact", 9, 9),
    ("ru", "70 тысяч долларов", "value", "usd", "exact", 69500, 70499),
    ("ru", "18 европейских стран", "value", "count", "exact", 18, 18),
    ("cs", "611 podezřelých případech", "value", "count", "exact", 611, 611),
    ("cs", "pět podezřelých", "value", "count", "exact", 5, 5),
    ("pl", "11 innych państw", "value", "count", "exact", 12, 12),
    ("pl", "ponad 520 tys. plików wideo i zdjęć", "value", "count", "over", 520001, None),
    ("is", "sautján Evrópulöndum", "value", "count", "exact", 17, 17),
]


def _ids(rows):
    seen: dict[str, int] = {}
    out = []
    for r in rows:
        seen[r[0]] = seen.get(r[0], -1) + 1
        out.append(f"{r[0]}-{seen[r[0]]}")
    return out


@pytest.mark.parametrize("lang, stated, column, unit, q, lo, hi", REAL, ids=_ids(REAL))
def test_real_phrases_of_every_language(lang, stated, column, unit, q, lo, hi):
    iv = derive(stated, column, unit, lang)
    if column == "value":
        assert (iv.qualifier, iv.low, iv.high) == (q, lo, hi)
    else:
        assert (iv.qualifier, iv.date_low, iv.date_high) == (q, lo, hi)


def test_real_phrases_are_real_and_cover_every_shipped_language(shipped):
    langs = shipped["claims"].join(shipped["sources"].select("source_id", "language"), on="source_id")
    have = set(zip(langs["language"], langs["stated"]))
    assert not [(r[0], r[1]) for r in REAL if (r[0], r[1]) not in have], "a test phrase is not in the data"
    # every language whose figures or dates the phrase rules read (a role claim's words are not read)
    read = langs.filter(pl.col("low").is_not_null() | pl.col("date_low").is_not_null())
    assert set(read["language"].drop_nulls()) <= {r[0] for r in REAL}


@pytest.mark.parametrize("stated, lang", [
    ("40 years and three months", "en"), ("40 Jahre und 3 Monate", "de"), ("40 лет и 3 месяца", "ru"),
    ("40 años y 3 meses", "es"), ("40 anni e 3 mesi", "it"), ("40 ans et 3 mois", "fr"),
    ("40 jaar en 3 maanden", "nl"), ("40 år og 3 måneder", "da"), ("40 anos e 3 meses", "pt"),
    ("40 let a 3 měsíce", "cs"),
], ids=lambda v: v if len(v) == 2 else None)
def test_two_part_durations_in_every_language(stated, lang):
    iv = derive_number(stated, "months", lang)
    assert (iv.low, iv.high, iv.figure) == (483, 483, 483)


# --------------------------------------------------------------------------- the home country

@pytest.mark.parametrize("stated, lang, q, low, high, figure", [
    ("24 other countries", "en", "exact", 25, 25, 24),
    ("more than 20 other countries", "en", "over", 22, None, 20),
    ("about 20 other countries", "en", "approximately", 20, 22, 20),
    ("11 foreign countries", "en", "exact", 12, 12, 11),
    ("nearly 60 additional countries", "en", "nearly", 55, 60, 60),
    ("altri 24 Paesi dell'Unione europea", "it", "exact", 25, 25, 24),
    ("24 weitere Länder", "de", "exact", 25, 25, 24),
    ("mehr als 20 anderen Staaten", "de", "over", 22, None, 20),
    ("otros 24 países", "es", "exact", 25, 25, 24),
    ("24 países extranjeros", "es", "exact", 25, 25, 24),
    ("outros 24 países", "pt", "exact", 25, 25, 24),
    ("mais quatro países", "pt", "exact", 5, 5, 4),
    ("24 autres pays", "fr", "exact", 25, 25, 24),
    ("24 andere landen", "nl", "exact", 25, 25, 24),
    ("24 andre lande", "da", "exact", 25, 25, 24),
    ("24 других стран", "ru", "exact", 25, 25, 24),
    ("dalších 24 zemí", "cs", "exact", 25, 25, 24),
], ids=lambda v: None)
def test_other_countries_count_the_home_country(stated, lang, q, low, high, figure):
    iv = derive_number(stated, "count", lang)
    assert iv.excludes_home
    assert (iv.qualifier, iv.low, iv.high, iv.figure) == (q, low, high, figure)
    assert iv.anchor == figure + 1  # the total that reconciliation compares


@pytest.mark.parametrize("stated, lang", [
    ("164 in other countries", "en"), ("About 90 other Canadians", "en"), ("58 from other parts of Canada", "en"),
    ("more than 1,000 additional cases referred", "en"), ("quelque 50 autres suspects", "fr"),
    ("altre sedici", "it"), ("164 dans d'autres pays", "fr"), ("25 paesi europei", "it"),
    ("mais de 20 países", "pt"), ("mais 3 presos", "pt"),
], ids=lambda v: None)
def test_other_things_are_not_other_countries(stated, lang):
    assert not derive_number(stated, "count", lang).excludes_home


def test_figure_is_the_anchor():
    assert derive_number("nearly 63,000", "count").figure == 63000
    assert derive_number("over 60,000", "count").figure == 60000
    assert derive_number("hundreds of investigations", "count").figure is None
    assert derive_number("nearly 63,000", "count").nominal == 63000  # the old name still reads


def test_same_figure_different_hedges_share_an_anchor():
    nearly, exact, over = (derive_number(s, "count") for s in ("nearly 60", "60 countries", "over 60"))
    assert nearly.high < exact.low < over.low  # the intervals do not overlap ...
    assert nearly.anchor == exact.anchor == over.anchor == 60  # ... but they state the same figure
    assert derive_number("59 other countries", "count").anchor == 60
    assert "wording" in __import__("opsledger.derive.phrases", fromlist=["rules"]).rules()["reconcile"]


# --------------------------------------------------------------------------- the rule table

def test_unit_without_a_step_is_a_clear_error():
    with pytest.raises(PhraseError, match="no rounding step for unit 'furlongs'"):
        derive_number("5", "furlongs")


def test_every_metric_unit_has_a_step():
    from opsledger.declarations import vocabularies
    from opsledger.derive.phrases import rules

    units = {m["unit"] for m in vocabularies()["metric"].values()} | set(vocabularies()["unit"])
    assert units <= set(rules()["step"]), units - set(rules()["step"])


def test_no_language_words_in_python():
    """Every word of every language lives in phrase_rules.toml: no string in phrases.py is one."""
    import ast
    import inspect
    import re

    from opsledger.derive import phrases

    words = set()
    for table in phrases.rules()["language"].values():
        for key, val in table.items():
            items = val if isinstance(val, list) else list(val) if isinstance(val, dict) else []
            if isinstance(val, dict) and key == "excludes_home":
                items = [w for ws in val.values() for w in ws]
            words |= {w for w in items if isinstance(w, str) and len(w) > 1 and re.fullmatch(r"\w[\w .'’-]*", w)}
    strings = [n.value for n in ast.walk(ast.parse(inspect.getsource(phrases)))
               if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    patterns = [s for s in strings if "(?" in s or "\\" in s]  # the regular expressions
    tokens = {t.lower() for s in patterns for t in re.findall(r"[^\W\d_]+", s)}
    regex_words = {"d", "s", "w", "b", "p", "num", "scale", "unit", "word"}  # \d, \s, (?P<num>...)
    assert not (tokens - regex_words) & words, (tokens - regex_words) & words
    assert not [s for s in strings if re.search(r"[^\x00-\x7f]", s) and re.search(r"[^\W\d_]", s)
                and not s.startswith(("Turn", "\u2011"))], "a non-ASCII word in phrases.py"


def test_templates_read_like_single_phrases(shipped):
    """Reading phrases by template (vectorised) gives what reading each phrase on its own gives."""
    from opsledger.derive.phrases import derive_frame
    from opsledger.derive.reconcile import _claim_metric_unit

    keyed = _claim_metric_unit(shipped).join(shipped["sources"].select("source_id", "language"), on="source_id")
    fast, slow = derive_frame(keyed), derive_frame(keyed, templates=False)
    key = ["stated", "target_column", "unit", "language"]
    assert fast.sort(key, nulls_last=True).equals(slow.sort(key, nulls_last=True))


@pytest.mark.parametrize("lang, template", [
    ("en", "{n}"), ("en", "nearly {n} children"), ("en", "over {n} million"), ("en", "about {n} years"),
    ("de", "rund {n} Millionen"), ("de", "mehr als {n} weitere Länder"), ("fr", "près de {n} enfants"),
])
def test_vectorised_reading_matches_single_reading(lang, template):
    from hypothesis import given, settings, strategies as st

    from opsledger.derive.phrases import derive_frame

    @settings(max_examples=15, deadline=None)
    @given(st.lists(st.integers(0, 10_000_000), min_size=1, max_size=10))
    def check(ns):
        unit = "months" if "year" in template else "count"
        stated = [template.format(n=f"{n:,}" if lang == "en" else str(n)) for n in ns]
        df = pl.DataFrame({"stated": stated, "target_column": "value", "unit": unit, "language": lang})
        got = derive_frame(df)
        for row in got.iter_rows(named=True):
            iv = derive_number(row["stated"], unit, lang)
            assert (row["qualifier"], row["low"], row["high"], row["figure"], row["excludes_home"]) == \
                (iv.qualifier, iv.low, iv.high, iv.figure, iv.excludes_home)

    check()


# Languages and words added for the research bundles of issue 14 (Polish, Norwegian, Icelandic; German
# 'gut', Italian 'ben', German 'other' + adjective + country).
@pytest.mark.parametrize("stated, lang, qualifier, low, high", [
    ("166 osób", "pl", "exact", 166, 166),
    ("prawie 600 funkcjonariuszy", "pl", "nearly", 540, 599),
    ("ponad 1700 urządzeń", "pl", "over", 1701, None),
    ("ponad 520 tys. plików", "pl", "over", 520001, None),
    ("11 innych państw", "pl", "exact", 12, 12),
    ("42 mistenkte", "no", "exact", 42, 42),
    ("Om lag 80 hus", "no", "approximately", 76, 84),
    ("sautján Evrópulöndum", "is", "exact", 17, 17),
    ("Einn þeirra", "is", "exact", 1, 1),
    ("Gut 38.000 Mail-Adressen", "de", "at_least", 38000, None),
    ("zwölf anderen europäischen Ländern", "de", "exact", 13, 13),
    ("ben 351 gli utenti stranieri", "it", "exact", 351, 351),
])
def test_bundle_languages(stated, lang, qualifier, low, high):
    iv = derive_number(stated, "count", lang)
    assert (iv.qualifier, iv.low, iv.high) == (qualifier, low, high)


def test_polish_figure_without_a_number_is_refused():
    with pytest.raises(PhraseError):
        derive_number("wielu podejrzanych", "count", "pl")


def test_derive_rows_spreads_distinct_readings_over_the_rows(shipped, monkeypatch):
    """derive_rows gives each claim what derive_frame gives its key, in the claims' order, also when
    the key hashes collide (forced here: every key hashes alike, so the rows are joined on the keys)."""
    from opsledger.derive.phrases import KEY, DERIVED_SCHEMA, derive_frame, derive_rows
    from opsledger.derive.reconcile import _claim_metric_unit

    keyed = _claim_metric_unit(shipped).join(shipped["sources"].select("source_id", "language"), on="source_id",
                                             maintain_order="left").select(KEY)
    expected = keyed.join(derive_frame(keyed), on=KEY, how="left", nulls_equal=True,
                          maintain_order="left").select(*DERIVED_SCHEMA)
    assert derive_rows(keyed).equals(expected)
    monkeypatch.setattr(pl.Expr, "hash", lambda self, seed=0: pl.lit(0, pl.UInt64))
    assert derive_rows(keyed).equals(expected)


@pytest.mark.parametrize("left, right, expected", [
    (["a", "b", "c"], ["a", "b", "c"], True),    # sorted, distinct: side by side
    (["b", "a", "c"], ["b", "a", "c"], True),    # unsorted but distinct
    (["a", "b", "b"], ["a", "b", "b"], False),   # a key twice: a join multiplies the rows
    (["a", None, "c"], ["a", None, "c"], False),  # a null key matches nothing in a join
    (["a", "b", "c"], ["a", "c", "b"], False),   # another order
    (["a", "b"], ["a", "b", "c"], False),
])
def test_join_aligned_is_the_left_join(left, right, expected):
    from opsledger.derive.reconcile import aligned, join_aligned

    lf = pl.DataFrame({"k": left, "x": range(len(left))})
    rf = pl.DataFrame({"k": right, "y": range(10, 10 + len(right))})
    assert aligned(lf["k"], rf["k"]) is expected
    assert join_aligned(lf, rf, "k").equals(lf.join(rf, on="k", how="left", maintain_order="left"))



def test_derivation_does_not_depend_on_the_claims_order(shipped, shipped_derived):
    """Shuffled claims (ids no longer ascending: the sort and join fall-backs) derive the same tables."""
    from opsledger.declarations import table
    from opsledger.derive.reconcile import derive_all

    shuffled = dict(shipped, claims=shipped["claims"].sample(fraction=1.0, shuffle=True, seed=3))
    a, b = shipped_derived, derive_all(shuffled)
    for name in a:
        key = list(table(name).primary_key)
        assert a[name].sort(key).equals(b[name].sort(key)), name


def test_a_tie_on_the_latest_as_of_takes_the_preferred_claims_precision(shipped):
    """Claims that give the same latest as-of date with different precisions: the row's precision is
    the most preferred claim's, whatever the order of the claims (an unstable sort promised none)."""
    import datetime as dt

    from opsledger.derive.reconcile import derive_all, value_claims

    target = "arkstone.arrests.au"
    shipped = small_tables(shipped, ["arkstone"])  # derived five times: its operation's rows are enough
    c = shipped["claims"]
    ids = c.filter((pl.col("target_id") == target) & (pl.col("target_column") == "value"))["claim_id"].to_list()
    assert len(ids) >= 2
    d = derive_all(shipped)
    order = value_claims(d["claims"], "outcomes", d["sources"], d["outcomes"], "outcome_id").filter(
        pl.col("target_id") == target).sort(["pref", "width", "claim_id"])["claim_id"].to_list()
    preferred = order[0]  # only the preferred claim says "month", every other claim "day"
    claims = c.with_columns(
        pl.when(pl.col("claim_id").is_in(ids)).then(pl.lit(dt.date(2020, 5, 1))).otherwise(pl.col("as_of"))
        .alias("as_of"),
        pl.when(pl.col("claim_id") == preferred).then(pl.lit("month"))
        .when(pl.col("claim_id").is_in(ids)).then(pl.lit("day")).otherwise(pl.col("as_of_precision"))
        .alias("as_of_precision"))
    for seed in (1, 2, 3, 4):
        shuffled = dict(shipped, claims=claims.sample(fraction=1.0, shuffle=True, seed=seed))
        row = derive_all(shuffled)["outcomes"].filter(pl.col("outcome_id") == target)
        assert row["as_of_precision"][0] == "month"


def test_a_changed_phrase_rule_is_read_after_clear_caches(tmp_path, monkeypatch):
    """The phrase caches are caches of the declarations: one clear_caches() forgets them all."""
    import shutil

    import opsledger.declarations as decl
    from opsledger.derive.phrases import derive_number

    assert derive_number("nearly 100", "count").low == 90  # read (and cached) from the shipped rules
    d = tmp_path / "schemas"
    shutil.copytree(decl.schema_dir(), d)
    rules = d / "phrase_rules.toml"
    rules.write_text(rules.read_text(encoding="utf-8").replace("[hedge.nearly]\nlow_factor = 0.9",
                                                               "[hedge.nearly]\nlow_factor = 0.5"), encoding="utf-8")
    monkeypatch.setenv("OPSLEDGER_SCHEMAS", str(d))
    decl.clear_caches()
    try:
        assert decl.phrase_rules()["hedge"]["nearly"]["low_factor"] == 0.5
        assert derive_number("nearly 100", "count").low == 50
        # the same directory, edited again: clear_caches() is the one place that forgets
        rules.write_text(rules.read_text(encoding="utf-8").replace("low_factor = 0.5", "low_factor = 0.8"),
                         encoding="utf-8")
        decl.clear_caches()
        assert derive_number("nearly 100", "count").low == 80
    finally:
        monkeypatch.delenv("OPSLEDGER_SCHEMAS")
        decl.clear_caches()
    assert derive_number("nearly 100", "count").low == 90
