"""Turn a stated phrase ("nearly 63,000", "40 years and three months", "June 2017") into an interval.

The rules are data, in ``schemas/phrase_rules.toml``; this module only applies them. Every claim's
``qualifier``, ``low``, ``high``, ``date_low`` and ``date_high`` must equal what :func:`derive` gives
for its ``stated`` phrase (checked by the ``phrase_interval`` rule).
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import math
import re
import tomllib
from dataclasses import dataclass

from opsledger.metadata import schema_dir

class PhraseError(ValueError):
    """A stated phrase that the rules cannot read."""


@dataclass(frozen=True)
class Interval:
    qualifier: str
    low: float | None = None
    high: float | None = None
    date_low: dt.date | None = None
    date_high: dt.date | None = None
    nominal: float | None = None
    unit: str | None = None


@functools.cache
def rules() -> dict:
    with (schema_dir() / "phrase_rules.toml").open("rb") as fh:
        return tomllib.load(fh)


def language(lang: str | None) -> dict:
    """The word tables of one language (English when the source's language is unknown)."""
    langs = rules()["language"]
    code = lang or "en"
    if code not in langs:
        raise PhraseError(f"no phrase rules for language {code!r} (add [language.{code}] to phrase_rules.toml)")
    return langs[code]


def _normalise(text: str) -> str:
    text = text.replace("\u2011", "-").replace("\u00a0", " ").replace("\u202f", " ")
    return re.sub(r"\s+", " ", text).strip().lower()


def _alt(words) -> str:
    return "|".join(sorted(map(re.escape, words), key=len, reverse=True))


@functools.cache
def _number_re(lang: str) -> re.Pattern:
    return re.compile(_number_pattern(lang))


@functools.cache
def _number_pattern(lang: str) -> str:
    L = language(lang)
    dec = re.escape(L["decimal"])
    grp = "".join(re.escape(g) for g in L["group"])
    return rf"\d{{1,3}}(?:[{grp}]\d{{3}})+(?:{dec}\d+)?|\d+(?:{dec}\d+)?"


def _number(token: str, lang: str) -> float | None:
    L = language(lang)
    if _number_re(lang).fullmatch(token):
        for g in L["group"]:
            if re.search(rf"{re.escape(g)}\d{{3}}(?!\d)", token):
                token = token.replace(g, "")
        return float(token.replace(L["decimal"], "."))
    words = L.get("number_word", {})
    return float(words[token]) if token in words else None


@functools.cache
def _quantity_patterns(lang: str) -> tuple[re.Pattern, re.Pattern]:
    L = language(lang)
    num = _number_pattern(lang)
    word_alt = _alt(L.get("number_word", {})) or "(?!)"
    unit_alt = _alt(L.get("unit_word", {})) or "(?!)"
    scale_alt = _alt(L.get("scale", {})) or "(?!)"
    first = re.compile(
        rf"(?P<num>{num}|(?:{word_alt})\b)(?:[ -](?P<scale>{scale_alt})(?![a-zäöüß]))?"
        rf"(?:[ -]?(?P<unit>{unit_alt})(?![a-zäöüß]))?"
    )
    second = re.compile(
        rf"\s*(?:and|und|y|e|et|,)\s*(?P<num>{num}|(?:{word_alt})\b)[ -](?P<unit>{unit_alt})(?![a-zäöüß])"
    )
    return first, second


@functools.cache
def _hedges(lang: str) -> tuple[list[tuple[str, str]], list[tuple[str, tuple[int, int]]]]:
    L = language(lang)
    hedges = sorted(L.get("hedge", {}).items(), key=lambda kv: -len(kv[0]))
    mags = sorted(L.get("magnitude", {}).items(), key=lambda kv: -len(kv[0]))
    return hedges, mags


def _read_quantity(text: str, lang: str) -> tuple[float, str | None, float, float]:
    """Read ``NUMBER [scale] [unit] [and NUMBER unit]`` at the start of text.

    Returns (value in the phrase's base unit, unit, rounding slack of a coarse unit, half the last
    stated digit of a scaled figure: 0.5 million for "2 million", 50,000 for "1.8 million").
    """
    L = language(lang)
    pat, pat2 = _quantity_patterns(lang)
    m = pat.match(text)
    if not m or _number(m["num"], lang) is None:
        raise PhraseError(f"no figure at the start of {text!r}")
    value = _number(m["num"], lang) * (L["scale"][m["scale"]] if m["scale"] else 1)
    half_digit = 0.0
    if m["scale"]:
        decimals = len(m["num"].split(L["decimal"])[1]) if L["decimal"] in m["num"] else 0
        half_digit = L["scale"][m["scale"]] * 10.0 ** -decimals / 2
    unit, slack = None, 0.0
    if m["unit"]:
        unit, factor, slack = L["unit_word"][m["unit"]]
        value *= factor
    rest = text[m.end():]
    # "40 years and three months": a second, finer part removes the coarse unit's rounding slack.
    m2 = pat2.match(rest)
    if m2 and unit is not None:
        unit2, factor2, slack2 = L["unit_word"][m2["unit"]]
        if unit2 == unit:
            value += _number(m2["num"], lang) * factor2
            slack = slack2
    return value, unit, float(slack), half_digit


def _round_down(x: float, step: float) -> float:
    return round(math.floor(x / step + 1e-9) * step, 6)


def _round_up(x: float, step: float) -> float:
    return round(math.ceil(x / step - 1e-9) * step, 6)


def _starts_with_phrase(text: str, phrase: str) -> bool:
    return text.startswith(phrase) and (len(text) == len(phrase) or not text[len(phrase)].isalnum())


def derive_number(stated: str, metric_unit: str, lang: str | None = "en") -> Interval:
    """Interval that a numeric phrase allows, in ``metric_unit``."""
    r = rules()
    language(lang)  # refuses a language with no rules
    lang = lang or "en"
    text = _normalise(stated)
    step = float(r["step"][metric_unit])
    hedges, mags = _hedges(lang)
    for phrase, (lo, hi) in mags:
        if _starts_with_phrase(text, phrase):
            if metric_unit != "count":
                raise PhraseError(f"{stated!r}: words of magnitude only count things")
            return Interval("magnitude", float(lo), float(hi), nominal=None, unit=metric_unit)
    ranged = _read_range(text, lang, metric_unit, step)
    if ranged is not None:
        return ranged
    qualifier = "exact"
    for phrase, q in hedges:
        if text.startswith(phrase + " "):
            qualifier, text = q, text[len(phrase) + 1:]
            break
    currencies = _currency_units()
    money = metric_unit in currencies
    for sign, units in sorted(r.get("currency", {}).items(), key=lambda kv: -len(kv[0])):
        if text.startswith(sign):
            if metric_unit not in units:
                raise PhraseError(f"{stated!r} is an amount in {'/'.join(units)}, the metric counts {metric_unit}")
            text = text[len(sign):].lstrip()
            break
    value, unit, slack, half_digit = _read_quantity(text, lang)
    if unit is None:
        unit = metric_unit if money else ("count" if metric_unit == "count" else metric_unit)
    if unit != metric_unit:
        raise PhraseError(f"{stated!r} is in {unit}, the metric counts {metric_unit}")
    spec = r["hedge"][qualifier]
    if qualifier == "exact" and half_digit:
        # a scaled figure ("1.8 million") is rounded to its last stated digit
        low = _round_up(value - half_digit, step)
        high = _round_down(value + half_digit, step) - step
        return Interval(qualifier, low, high, nominal=value, unit=metric_unit)
    low = high = None
    if "low_factor" in spec:
        low = _round_down(value * spec["low_factor"] + spec.get("low_steps", 0) * step, step)
    if "high_factor" in spec:
        high = value * spec["high_factor"] + spec.get("high_steps", 0) * step
        if spec.get("rounding"):
            high += slack
        high = _round_up(high, step)
    return Interval(qualifier, low, high, nominal=value, unit=metric_unit)


@functools.cache
def _currency_units() -> frozenset[str]:
    return frozenset(u for units in rules().get("currency", {}).values() for u in units)


def _read_range(text: str, lang: str, metric_unit: str, step: float) -> Interval | None:
    """``[prefix] N [unit] joiner M [unit]`` -> [N, M] in the metric's unit, or None if not a range."""
    L = language(lang)
    prefixes, joiners = L.get("range_prefix", []), L.get("range_joiner", [])
    if not joiners:
        return None
    rest = text
    prefixed = False
    for p in sorted(prefixes, key=len, reverse=True):
        if rest.startswith(p + " "):
            rest, prefixed = rest[len(p) + 1:], True
            break
    allowed = joiners + (L.get("range_joiner_after_prefix", []) if prefixed else [])
    m = re.match(rf"(.+?)\s*(?<![a-zäöüß])(?:{_alt(allowed)})(?![a-zäöüß])\s*(.+)$", rest)
    if not m:
        return None
    try:
        lo, unit_lo, _slack_lo, _h = _read_quantity(m[1].strip(), lang)
        hi, unit_hi, slack_hi, _h2 = _read_quantity(m[2].strip(), lang)
    except PhraseError:
        return None
    unit = unit_hi or metric_unit
    if unit_lo is None and unit_hi is not None:
        lo *= _unit_factor(m[2], lang)  # "20 to 30 years": the first figure takes the second's unit
    if (unit_lo or unit) != unit or unit != metric_unit or lo > hi:
        return None
    return Interval("range", _round_down(lo, step), _round_up(hi + slack_hi, step), nominal=lo, unit=metric_unit)


def _unit_factor(text: str, lang: str) -> float:
    """The conversion factor of the unit word in ``text`` (12 for years), 1 if none."""
    L = language(lang)
    for word, (_unit, factor, _slack) in sorted(L.get("unit_word", {}).items(), key=lambda kv: -len(kv[0])):
        if re.search(rf"(?<![a-zäöüß]){re.escape(word)}(?![a-zäöüß])", text):
            return float(factor)
    return 1.0


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def derive_date(stated: str, lang: str | None = "en") -> Interval:
    """Interval of days that a date phrase allows."""
    L = language(lang)
    months = L.get("month", {})
    text = _normalise(stated)
    text = re.sub(r"^(?:in|on|im|am|en|el|em|no|na|le|il|a)\s+", "", text)
    month_alt = _alt(months) or "(?!)"
    try:
        if m := re.fullmatch(rf"(\d{{1,2}})\.? (?:de )?({month_alt})\.?,? (?:de )?(\d{{4}})", text):
            d = dt.date(int(m[3]), months[m[2]], int(m[1]))
            return Interval("day", date_low=d, date_high=d)
        if m := re.fullmatch(rf"({month_alt})\.? (\d{{1,2}}),? (\d{{4}})", text):
            d = dt.date(int(m[3]), months[m[1]], int(m[2]))
            return Interval("day", date_low=d, date_high=d)
        if m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text):
            d = dt.date(int(m[1]), int(m[2]), int(m[3]))
            return Interval("day", date_low=d, date_high=d)
    except ValueError:
        raise PhraseError(f"{stated!r} is not a calendar day") from None
    if m := re.fullmatch(rf"({month_alt})\.?,? (?:de )?(\d{{4}})", text):
        y, mo = int(m[2]), months[m[1]]
        return Interval("month", date_low=dt.date(y, mo, 1), date_high=_month_end(y, mo))
    if m := re.fullmatch(r"(\d{4})", text):
        y = int(m[1])
        return Interval("year", date_low=dt.date(y, 1, 1), date_high=dt.date(y, 12, 31))
    parts = L.get("part_of_year", {})
    if parts and (m := re.fullmatch(rf"({_alt(parts)})[ -](?:of )?(\d{{4}})", text)):
        y, (a, b) = int(m[2]), parts[m[1]]
        return Interval("part_of_year", date_low=dt.date(y, a, 1), date_high=_month_end(y, b))
    return Interval("undated")


def derive(stated: str, target_column: str, metric_unit: str | None, lang: str | None = "en") -> Interval:
    """What a claim's phrase implies, given what the claim supports and the source's language."""
    if target_column == "role":
        return Interval("evidence")
    if target_column in DATE_COLUMNS:
        return derive_date(stated, lang)
    if metric_unit is None:
        raise PhraseError(f"{stated!r}: a figure needs a metric")
    return derive_number(stated, metric_unit, lang)


#: Claim target columns that hold dates.
DATE_COLUMNS = frozenset({"launched", "concluded", "announced", "date", "as_of"})


def period(low: dt.date, high: dt.date) -> tuple[dt.date, str]:
    """The smallest calendar period (day, month or year) that contains [low, high]: (start, precision)."""
    if low == high:
        return low, "day"
    if (low.year, low.month) == (high.year, high.month):
        return low.replace(day=1), "month"
    return dt.date(low.year, 1, 1), "year"


def period_bounds(start: dt.date | None, precision: str | None) -> tuple[dt.date, dt.date] | None:
    """First and last day of a dated period."""
    if start is None or precision is None:
        return None
    if precision == "day":
        return start, start
    if precision == "month":
        return start, _month_end(start.year, start.month)
    return dt.date(start.year, 1, 1), dt.date(start.year, 12, 31)
