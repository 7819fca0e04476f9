"""The phrase rules: each hedge gives its documented interval."""

from __future__ import annotations

import datetime as dt

import pytest

from opsledger.phrases import PhraseError, derive, derive_date, derive_number, period


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
