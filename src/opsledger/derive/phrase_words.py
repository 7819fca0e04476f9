"""Step 1 of reading a phrase: its *words*. A numeric phrase ("nearly 63,000", "40 years and three
months", "24 other countries") is read into a :class:`Reading` (qualifier, the figure in the metric's
unit, rounding slack, excludes_home ...), one phrase at a time, with the word tables of its language
from ``schemas/phrase_rules.toml``. Step 2, the arithmetic of the hedges, is :mod:`opsledger.derive.phrases`."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any, Iterable

import polars as pl

from opsledger.errors import DataError
from opsledger.declarations import LiveSet, date_columns, per_declarations, phrase_rules

#: A letter of any alphabet (not a digit, not "_"): words end where letters end, in every language.
LETTER = r"[^\W\d_]"

#: Claim target columns that hold dates (the date columns among the ``claim_targets`` of schemas/).
DATE_COLUMNS = LiveSet(date_columns)


class PhraseError(DataError, ValueError):
    """A stated phrase that the rules cannot read (exit 1 if it ever reaches the command line: the
    data was read, and a phrase in it is refused)."""


@dataclass(frozen=True)
class Interval:
    qualifier: str
    low: float | None = None
    high: float | None = None
    date_low: dt.date | None = None
    date_high: dt.date | None = None
    #: The figure as the phrase states it, in the metric's unit, before any hedge is applied
    #: ("24 other countries" gives 24; see :attr:`anchor` for the total).
    figure: float | None = None
    unit: str | None = None
    #: "24 other countries": the stated number leaves out the home country; low/high/figure are N + 1.
    excludes_home: bool = False

    @property
    def anchor(self) -> float | None:
        """The stated figure as a total, on the scale of ``low``/``high``: ``figure`` plus the home
        country when ``excludes_home``. Claims that state the same anchor with different hedges agree
        on it (``[reconcile].wording`` in phrase_rules.toml)."""
        return None if self.figure is None else self.figure + (1 if self.excludes_home else 0)

    @property
    def nominal(self) -> float | None:
        """Old name of :attr:`figure`."""
        return self.figure


@dataclass(frozen=True)
class Reading:
    """What the words of a numeric phrase say, before the hedge arithmetic.

    ``fixed`` holds the bounds themselves for phrases that state an interval directly (ranges and
    magnitude words); otherwise the bounds follow from ``qualifier`` and ``value``.
    """

    qualifier: str
    value: float | None
    slack: float = 0.0
    half_digit: float = 0.0
    excludes_home: bool = False
    fixed: tuple[float | None, float | None] | None = None


# --------------------------------------------------------------------------- the rule table


def rules() -> dict[str, Any]:
    """``schemas/phrase_rules.toml``, validated by :mod:`opsledger.declarations.load` (loaded once)."""
    return phrase_rules()


#: Joins a source's language and the language whose number marks it uses: "pt@en" reads the words of
#: Portuguese and the decimal and thousands marks of English (``sources.number_marks``).
MARKS = "@"


def language(lang: str | None) -> dict[str, Any]:
    """The word tables of one language (English when the source's language is unknown); ``"pt@en"``:
    Portuguese words with English number marks, decided by the source (see :data:`MARKS`)."""
    code = lang or "en"
    if MARKS in code:
        return _with_marks(code)
    langs = rules()["language"]
    if code not in langs:
        raise PhraseError(f"no phrase rules for language {code!r} (add [language.{code}] to phrase_rules.toml)")
    return langs[code]


@per_declarations
def _with_marks(code: str) -> dict[str, Any]:
    base, marks = code.split(MARKS, 1)
    words, numbers = language(base), language(marks)
    return {**words, "decimal": numbers["decimal"], "group": numbers["group"], "marks_declared": True}


@per_declarations
def _group_marks_anywhere() -> frozenset[str]:
    """Every mark some shipped language uses to group thousands."""
    return frozenset(g for L in rules()["language"].values() for g in L["group"])


def ambiguous(token: str, lang: str | None) -> bool:
    """Whether a number written in digits can be read two ways: the language's decimal mark followed by
    exactly three digits, after a whole part of one to three digits that is not 0, where that mark
    groups thousands in another language ("410,000" in Portuguese, "1.234" in English). Never when
    the source declares its marks (``sources.number_marks``)."""
    L = language(lang)
    if L.get("marks_declared"):
        return False
    dec = L["decimal"]
    return dec in _group_marks_anywhere() and bool(re.fullmatch(rf"[1-9]\d{{0,2}}{re.escape(dec)}\d{{3}}", token))


def step(unit: str) -> float:
    """The smallest step of a metric's unit (``[step]`` of phrase_rules.toml)."""
    steps = rules()["step"]
    if unit not in steps:
        raise PhraseError(f"no rounding step for unit {unit!r} (add it to [step] in schemas/phrase_rules.toml)")
    return float(steps[unit])


def _normalise(text: str) -> str:
    text = text.replace("\u2011", "-").replace("\u00a0", " ").replace("\u202f", " ")
    return re.sub(r"\s+", " ", text).strip().lower()


def _normalise_expr(col: pl.Expr) -> pl.Expr:
    """:func:`_normalise` in polars."""
    return (col.str.replace_all("\u2011", "-", literal=True).str.replace_all("[\u00a0\u202f]", " ")
            .str.replace_all(r"\s+", " ").str.strip_chars().str.to_lowercase())


def _alt(words: Iterable[str]) -> str:
    return "|".join(sorted(map(re.escape, words), key=len, reverse=True)) or "(?!)"


def _words(lang: str, key: str) -> list[str]:
    return list(language(lang).get(key, []))


@per_declarations
def _number_pattern(lang: str) -> str:
    L = language(lang)
    dec = re.escape(L["decimal"])
    grp = "".join(re.escape(g) for g in L["group"])
    return rf"\d{{1,3}}(?:[{grp}]\d{{3}})+(?:{dec}\d+)?|\d+(?:{dec}\d+)?"


@per_declarations
def _number_re(lang: str) -> re.Pattern[str]:
    return re.compile(_number_pattern(lang))


@per_declarations
def number_words(lang: str) -> dict[str, float]:
    """The language's number words (``number_word``) with every compound its ``compound_joiner`` makes:
    tens (20..90) joined to units (1..9). Declared words win over a generated one."""
    L = language(lang)
    words = dict(L.get("number_word", {}))
    tens = {w: v for w, v in words.items() if 20 <= v <= 90 and v % 10 == 0}
    units = {w: v for w, v in words.items() if 1 <= v <= 9 and v == int(v)}
    for joiner in L.get("compound_joiner", ()):
        sep = f" {joiner} " if joiner[:1].isalpha() else joiner
        for t, tv in tens.items():
            for u, uv in units.items():
                words.setdefault(f"{t}{sep}{u}", tv + uv)
    return words


def _number(token: str, lang: str) -> float | None:
    L = language(lang)
    if _number_re(lang).fullmatch(token):
        if ambiguous(token, lang):
            raise PhraseError(
                f"{token!r} can be read two ways in {lang!r}: with {L['decimal']!r} as the decimal mark, or as a "
                f"thousands separator; the source's convention decides (set sources.number_marks)")
        for g in L["group"]:
            if re.search(rf"{re.escape(g)}\d{{3}}(?!\d)", token):
                token = token.replace(g, "")
        return float(token.replace(L["decimal"], "."))
    words = number_words(lang)
    return float(words[token]) if token in words else None


@per_declarations
def _quantity_patterns(lang: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    L = language(lang)
    num = _number_pattern(lang)
    word_alt = _alt(number_words(lang))
    unit_alt = _alt(L.get("unit_word", {}))
    scale_alt = _alt(L.get("scale", {}))
    first = re.compile(
        rf"(?P<num>{num}|(?:{word_alt})\b)(?:[ -](?P<scale>{scale_alt})(?!{LETTER}))?"
        rf"(?:[ -]?(?P<unit>{unit_alt})(?!{LETTER}))?"
    )
    second = re.compile(
        rf"\s*(?:{_alt(_words(lang, 'part_joiner'))})\s*(?P<num>{num}|(?:{word_alt})\b)[ -](?P<unit>{unit_alt})(?!{LETTER})"
    )
    return first, second


@per_declarations
def _hedges(lang: str) -> tuple[list[tuple[str, str]], list[tuple[str, tuple[int, int]]]]:
    L = language(lang)
    hedges = sorted(L.get("hedge", {}).items(), key=lambda kv: -len(kv[0]))
    mags = sorted(L.get("magnitude", {}).items(), key=lambda kv: -len(kv[0]))
    return hedges, mags


@per_declarations
def _home_patterns(lang: str) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """(other word before the figure, "other country" / "country other" after it, country after it)."""
    ex = language(lang).get("excludes_home", {})
    other, country = _alt(ex.get("other", [])), _alt(ex.get("country", []))
    end = rf"(?!{LETTER})"
    return (re.compile(rf"(?:{other}){end}\s+"),
            re.compile(rf"\s*(?:(?:{other})\s+(?:{country})|(?:{country})\s+(?:{other})){end}"),
            re.compile(rf"\s*(?:{country}){end}"))


# --------------------------------------------------------------------------- step 1: words


def _read_quantity(text: str, lang: str) -> tuple[float, str | None, float, float, int]:
    """Read ``NUMBER [scale] [unit] [joiner NUMBER unit]`` at the start of text.

    Returns (value in the phrase's base unit, unit, rounding slack of a coarse unit, half the last
    stated digit of a scaled figure: 0.5 million for "2 million", 50,000 for "1.8 million", and where
    the quantity ends in ``text``).
    """
    L = language(lang)
    pat, pat2 = _quantity_patterns(lang)
    m = pat.match(text)
    first = _number(m["num"], lang) if m else None
    if m is None or first is None:
        raise PhraseError(f"no figure at the start of {text!r}")
    value = first * (L["scale"][m["scale"]] if m["scale"] else 1)
    half_digit = 0.0
    if m["scale"]:
        decimals = len(m["num"].split(L["decimal"])[1]) if L["decimal"] in m["num"] else 0
        half_digit = L["scale"][m["scale"]] * 10.0 ** -decimals / 2
    unit, slack = None, 0.0
    if m["unit"]:
        unit, factor, slack = L["unit_word"][m["unit"]]
        value *= factor
    end = m.end()
    # "40 years and three months": a second, finer part removes the coarse unit's rounding slack.
    m2 = pat2.match(text, end)
    if m2 and unit is not None:
        unit2, factor2, slack2 = L["unit_word"][m2["unit"]]
        second = _number(m2["num"], lang)
        if unit2 == unit and second is not None:
            value += second * factor2
            slack = slack2
            end = m2.end()
    return value, unit, float(slack), half_digit, end


def _round_down(x: float, step: float) -> float:
    return round(math.floor(x / step + 1e-9) * step, 6)


def _round_up(x: float, step: float) -> float:
    return round(math.ceil(x / step - 1e-9) * step, 6)


def _starts_with_phrase(text: str, phrase: str) -> bool:
    return text.startswith(phrase) and (len(text) == len(phrase) or not text[len(phrase)].isalnum())


def read_number(stated: str, metric_unit: str, lang: str | None = "en") -> Reading:
    """The words of a numeric phrase, read (raises :class:`PhraseError` when they cannot be)."""
    r = rules()
    language(lang)  # refuses a language with no rules
    lang = lang or "en"
    text = _normalise(stated)
    unit_step = step(metric_unit)
    hedges, mags = _hedges(lang)
    for phrase, (lo, hi) in mags:
        if _starts_with_phrase(text, phrase):
            if metric_unit != "count":
                raise PhraseError(f"{stated!r}: words of magnitude only count things")
            return Reading("magnitude", None, fixed=(float(lo), float(hi)))
    ranged = _read_range(text, lang, metric_unit, unit_step)
    if ranged is not None:
        return ranged
    qualifier = "exact"
    for phrase, q in hedges:
        if text.startswith(phrase + " "):
            qualifier, text = q, text[len(phrase) + 1:]
            break
    if qualifier not in r["hedge"]:
        raise PhraseError(f"{stated!r}: hedge {qualifier!r} has no rule in [hedge] of phrase_rules.toml")
    money = metric_unit in _currency_units()
    for sign, units in sorted(r.get("currency", {}).items(), key=lambda kv: -len(kv[0])):
        if text.startswith(sign):
            if metric_unit not in units:
                raise PhraseError(f"{stated!r} is an amount in {'/'.join(units)}, the metric counts {metric_unit}")
            text = text[len(sign):].lstrip()
            break
    other_before, home_after, country_after = _home_patterns(lang)
    m_other = other_before.match(text)
    if m_other:  # "altri 24 Paesi"; "altre sedici" (no country after it) reads as sixteen
        text = text[m_other.end():]
    value, unit, slack, half_digit, end = _read_quantity(text, lang)
    excludes_home = bool((country_after if m_other else home_after).match(text, end))
    if unit is None:
        unit = metric_unit if money else ("count" if metric_unit == "count" else metric_unit)
    if unit != metric_unit:
        raise PhraseError(f"{stated!r} is in {unit}, the metric counts {metric_unit}")
    return Reading(qualifier, value, slack, half_digit, excludes_home)


@per_declarations
def _currency_units() -> frozenset[str]:
    return frozenset(u for units in rules().get("currency", {}).values() for u in units)


def _read_range(text: str, lang: str, metric_unit: str, unit_step: float) -> Reading | None:
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
    m = re.match(rf"(.+?)\s*(?<!{LETTER})(?:{_alt(allowed)})(?!{LETTER})\s*(.+)$", rest)
    if not m:
        return None
    try:
        lo, unit_lo, _slack_lo, _h, _e = _read_quantity(m[1].strip(), lang)
        hi, unit_hi, slack_hi, _h2, _e2 = _read_quantity(m[2].strip(), lang)
    except PhraseError:
        return None
    unit = unit_hi or metric_unit
    if unit_lo is None and unit_hi is not None:
        lo *= _unit_factor(m[2], lang)  # "20 to 30 years": the first figure takes the second's unit
    if (unit_lo or unit) != unit or unit != metric_unit or lo > hi:
        return None
    return Reading("range", lo, fixed=(_round_down(lo, unit_step), _round_up(hi + slack_hi, unit_step)))


def _unit_factor(text: str, lang: str) -> float:
    """The conversion factor of the unit word in ``text`` (12 for years), 1 if none."""
    L = language(lang)
    for word, (_unit, factor, _slack) in sorted(L.get("unit_word", {}).items(), key=lambda kv: -len(kv[0])):
        if re.search(rf"(?<!{LETTER}){re.escape(word)}(?!{LETTER})", text):
            return float(factor)
    return 1.0
