"""Turn a stated phrase ("nearly 63,000", "40 years and three months", "June 2017") into an interval.

The rules are data, in ``schemas/phrase_rules.toml``; this module only applies them and holds no word
of any language. Every claim's ``qualifier``, ``low``, ``high``, ``date_low`` and ``date_high`` must
equal what :func:`derive` gives for its ``stated`` phrase (checked by the ``phrase_interval`` rule).

Reading happens in two steps:

1. the *words* of a numeric phrase are read into a :class:`Reading` (qualifier, the figure in the
   metric's unit, rounding slack, excludes_home ...), in Python, one phrase at a time;
2. the *arithmetic* of the hedge rules turns readings into bounds, in polars, for all claims at once.

:func:`derive_frame` reads many claims: phrases that differ only in the number written in digits
("nearly 63,000", "nearly 1,200") share one *template*, whose words are read once (with the numbers
1, 2 and 3 in the number's place, which also checks that the figure is linear in that number); the
figure of each phrase is then computed from its number in polars. Phrases without such a template
(ranges, magnitude words, figures in words, two numbers) are read one distinct phrase at a time.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import math
import re
from dataclasses import dataclass
from typing import Any, Iterable

import polars as pl

from opsledger.errors import DataError
from opsledger.metadata import LiveSet, date_columns, phrase_rules

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
    """``schemas/phrase_rules.toml``, validated by :mod:`opsledger.metadata` (loaded once)."""
    return phrase_rules()


def language(lang: str | None) -> dict[str, Any]:
    """The word tables of one language (English when the source's language is unknown)."""
    langs = rules()["language"]
    code = lang or "en"
    if code not in langs:
        raise PhraseError(f"no phrase rules for language {code!r} (add [language.{code}] to phrase_rules.toml)")
    return langs[code]


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


@functools.cache
def _number_pattern(lang: str) -> str:
    L = language(lang)
    dec = re.escape(L["decimal"])
    grp = "".join(re.escape(g) for g in L["group"])
    return rf"\d{{1,3}}(?:[{grp}]\d{{3}})+(?:{dec}\d+)?|\d+(?:{dec}\d+)?"


@functools.cache
def _number_re(lang: str) -> re.Pattern[str]:
    return re.compile(_number_pattern(lang))


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
def _quantity_patterns(lang: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    L = language(lang)
    num = _number_pattern(lang)
    word_alt = _alt(L.get("number_word", {}))
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


@functools.cache
def _hedges(lang: str) -> tuple[list[tuple[str, str]], list[tuple[str, tuple[int, int]]]]:
    L = language(lang)
    hedges = sorted(L.get("hedge", {}).items(), key=lambda kv: -len(kv[0]))
    mags = sorted(L.get("magnitude", {}).items(), key=lambda kv: -len(kv[0]))
    return hedges, mags


@functools.cache
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


@functools.cache
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


# --------------------------------------------------------------------------- step 2: arithmetic

_READING_SCHEMA = {
    "qualifier": pl.Utf8, "value": pl.Float64, "slack": pl.Float64, "half_digit": pl.Float64,
    "excludes_home": pl.Boolean, "fixed_low": pl.Float64, "fixed_high": pl.Float64, "is_fixed": pl.Boolean,
}


def _reading_row(rd: Reading) -> tuple:
    fixed = rd.fixed or (None, None)
    return (rd.qualifier, rd.value, rd.slack, rd.half_digit, rd.excludes_home, fixed[0], fixed[1],
            rd.fixed is not None)


@functools.cache
def _hedge_frame() -> pl.DataFrame:
    rows = [(q, s.get("low_factor"), float(s.get("low_steps", 0)), s.get("high_factor"),
             float(s.get("high_steps", 0)), bool(s.get("rounding", False))) for q, s in rules()["hedge"].items()]
    return pl.DataFrame(rows, schema={"qualifier": pl.Utf8, "_lf": pl.Float64, "_ls": pl.Float64,
                                      "_hf": pl.Float64, "_hs": pl.Float64, "_rounding": pl.Boolean},
                        orient="row")


def _round_down_expr(x: pl.Expr, s: pl.Expr) -> pl.Expr:
    return ((x / s + 1e-9).floor() * s).round(6)


def _round_up_expr(x: pl.Expr, s: pl.Expr) -> pl.Expr:
    return ((x / s - 1e-9).ceil() * s).round(6)


def _bounds(readings: pl.DataFrame) -> pl.DataFrame:
    """The hedge arithmetic, for all readings at once: adds ``low``, ``high`` and ``figure`` (the stated
    figure; the bounds, not the figure, count the home country when ``excludes_home``).

    ``readings`` has the columns of a :class:`Reading` (``_READING_SCHEMA``) and ``step``.
    """
    v, s = pl.col("value"), pl.col("step")
    scaled_exact = (pl.col("qualifier") == "exact") & (pl.col("half_digit") > 0)
    low = (pl.when(pl.col("is_fixed")).then(pl.col("fixed_low"))
           .when(scaled_exact).then(_round_up_expr(v - pl.col("half_digit"), s))
           .when(pl.col("_lf").is_not_null()).then(_round_down_expr(v * pl.col("_lf") + pl.col("_ls") * s, s))
           .otherwise(None))
    high_raw = v * pl.col("_hf") + pl.col("_hs") * s + pl.when(pl.col("_rounding")).then(pl.col("slack")).otherwise(0.0)
    high = (pl.when(pl.col("is_fixed")).then(pl.col("fixed_high"))
            .when(scaled_exact).then(_round_down_expr(v + pl.col("half_digit"), s) - s)
            .when(pl.col("_hf").is_not_null()).then(_round_up_expr(high_raw, s))
            .otherwise(None))
    home = pl.col("excludes_home").cast(pl.Float64)  # the home country: + 1 on every bound
    return (readings.join(_hedge_frame(), on="qualifier", how="left")
            .with_columns((low + home).alias("low"), (high + home).alias("high"), v.alias("figure"))
            .drop("_lf", "_ls", "_hf", "_hs", "_rounding"))


def derive_number(stated: str, metric_unit: str, lang: str | None = "en") -> Interval:
    """Interval that a numeric phrase allows, in ``metric_unit``."""
    rd = read_number(stated, metric_unit, lang)
    df = pl.DataFrame([_reading_row(rd)], schema=_READING_SCHEMA, orient="row").with_columns(
        pl.lit(step(metric_unit)).alias("step"))
    row = _bounds(df).row(0, named=True)
    return Interval(rd.qualifier, row["low"], row["high"], figure=row["figure"], unit=metric_unit,
                    excludes_home=rd.excludes_home)


# --------------------------------------------------------------------------- dates


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def _opt(words: list[str]) -> str:
    """A regular expression: one word of the list and a space, or nothing."""
    return rf"(?:(?:{_alt(words)}) )?" if words else ""


def derive_date(stated: str, lang: str | None = "en") -> Interval:
    """Interval of days that a date phrase allows."""
    L = language(lang)
    code = lang or "en"
    months = L.get("month", {})
    text = _normalise(stated)
    preps = _words(code, "date_preposition")
    if preps:
        text = re.sub(rf"^(?:{_alt(preps)})\s+", "", text)
    fill = _opt(_words(code, "date_filler"))
    month_alt = _alt(months)
    try:
        if m := re.fullmatch(rf"(\d{{1,2}})\.? {fill}({month_alt})\.?,? {fill}(\d{{4}})", text):
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
    if m := re.fullmatch(rf"({month_alt})\.?,? {fill}(\d{{4}})", text):
        y, mo = int(m[2]), months[m[1]]
        return Interval("month", date_low=dt.date(y, mo, 1), date_high=_month_end(y, mo))
    if m := re.fullmatch(r"(\d{4})", text):
        y = int(m[1])
        return Interval("year", date_low=dt.date(y, 1, 1), date_high=dt.date(y, 12, 31))
    parts = L.get("part_of_year", {})
    if parts and (m := re.fullmatch(rf"({_alt(parts)})[ -]{_opt(_words(code, 'year_filler'))}(\d{{4}})", text)):
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


# --------------------------------------------------------------------------- many claims at once

KEY = ["stated", "target_column", "unit", "language"]

#: Columns of :func:`derive_frame` besides the key.
DERIVED_SCHEMA = {
    "phrase_ok": pl.Boolean, "qualifier": pl.Utf8, "low": pl.Float64, "high": pl.Float64,
    "date_low": pl.Date, "date_high": pl.Date, "figure": pl.Float64, "excludes_home": pl.Boolean,
}
_KEY_SCHEMA = {"stated": pl.Utf8, "target_column": pl.Utf8, "unit": pl.Utf8, "language": pl.Utf8}


def derive_frame(claims: pl.DataFrame, templates: bool = True) -> pl.DataFrame:
    """What each distinct (stated, target_column, unit, language) of ``claims`` implies.

    One row per distinct key, with ``phrase_ok`` (false when the rules cannot read the phrase) and the
    columns of :class:`Interval`. ``templates=False`` reads every distinct phrase on its own (slow; the
    tests compare both ways).
    """
    return _derive_distinct(claims.select([pl.col(c).cast(t) for c, t in _KEY_SCHEMA.items()]).unique(), templates)


def _derive_distinct(keys: pl.DataFrame, templates: bool = True) -> pl.DataFrame:
    """:func:`derive_frame` of keys already distinct (the columns of ``_KEY_SCHEMA``)."""
    is_number = ~pl.col("target_column").is_in(["role", *DATE_COLUMNS]) & pl.col("unit").is_not_null()
    numbers = keys.filter(is_number.fill_null(False))
    others = keys.filter(~is_number.fill_null(False))
    parts = [_derive_others(others), _derive_numbers(numbers, templates)]
    out = pl.concat(parts, how="diagonal_relaxed")
    return out.select(*KEY, *[pl.col(c).cast(t) for c, t in DERIVED_SCHEMA.items()])


def derive_rows(claims: pl.DataFrame) -> pl.DataFrame:
    """The columns of ``DERIVED_SCHEMA`` for every row of ``claims`` (which has the ``KEY`` columns), in
    the rows' order: :func:`derive_frame` of the distinct keys, spread back over the rows.

    The rows are matched to their distinct key through one 64-bit hash of the four key columns rather
    than a join on four strings; every row's key is then compared with the key its hash was read
    for, so a hash collision cannot mismatch a row (should one occur, the rows are joined on the
    strings themselves).
    """
    keys = claims.select([pl.col(c).cast(t) for c, t in _KEY_SCHEMA.items()])
    hashed = keys.with_columns(pl.struct(KEY).hash().alias("_h"))
    derived = _derive_distinct(hashed.unique("_h", keep="any").drop("_h"))
    back = hashed.select("_h").join(derived.with_columns(pl.struct(KEY).hash().alias("_h")), on="_h",
                                     how="left", maintain_order="left")
    if back.height == keys.height and all(back[c].equals(keys[c], null_equal=True) for c in KEY):
        return back.select(*DERIVED_SCHEMA)
    return keys.join(derive_frame(keys), on=KEY, how="left", nulls_equal=True,
                     maintain_order="left").select(*DERIVED_SCHEMA)


def _derive_others(keys: pl.DataFrame) -> pl.DataFrame:
    """Dates, roles and figures without a metric: one distinct phrase at a time (they are few)."""
    rows: list[tuple] = []
    for stated, col, unit, lang in keys.iter_rows():
        try:
            iv = derive(stated, col, unit, lang)
        except PhraseError:
            rows.append((stated, col, unit, lang, False, None, None, None, None, None, None, False))
            continue
        rows.append((stated, col, unit, lang, True, iv.qualifier, iv.low, iv.high, iv.date_low, iv.date_high,
                     iv.figure, iv.excludes_home))
    return pl.DataFrame(rows, schema={**_KEY_SCHEMA, **DERIVED_SCHEMA}, orient="row")


def _try_read(stated: str, unit: str, lang: str | None) -> Reading | None:
    try:
        return read_number(stated, unit, lang)
    except PhraseError:
        return None


def _template_reading(prefix: str, decimals: int, suffix: str, unit: str, lang: str | None
                      ) -> tuple[Reading, float, float] | None:
    """Read a template's words once: (reading, per_number, offset) so that a phrase of this template
    whose number is N states the figure ``N * per_number + offset``; None when the figure is not
    linear in N (then each phrase is read on its own)."""
    dec = language(lang)["decimal"]
    got = []
    for n in (1, 2, 3):
        token = str(n) + (dec + "0" * decimals if decimals else "")
        rd = _try_read(prefix + token + suffix, unit, lang)
        if rd is None or rd.fixed is not None or rd.value is None:
            return None
        got.append(rd)
    a, b, c = got
    per_number = b.value - a.value  # type: ignore[operator]
    offset = a.value - per_number  # type: ignore[operator]
    same = all((x.qualifier, x.slack, x.half_digit, x.excludes_home) == (a.qualifier, a.slack, a.half_digit,
                                                                       a.excludes_home) for x in got)
    if not same or not math.isclose(c.value, 3 * per_number + offset, rel_tol=1e-12, abs_tol=1e-9):  # type: ignore[arg-type]
        return None
    return a, per_number, offset


def _derive_numbers(keys: pl.DataFrame, templates: bool) -> pl.DataFrame:
    if keys.is_empty():
        return pl.DataFrame(schema={**_KEY_SCHEMA, **DERIVED_SCHEMA})
    pieces = []
    for (lang,), sub in keys.group_by(["language"]):
        try:
            L = language(lang)
        except PhraseError:
            pieces.append(sub.with_columns(pl.lit(False).alias("phrase_ok")))
            continue
        num = _number_pattern(lang or "en")
        dec, grp = L["decimal"], "".join(re.escape(g) for g in L["group"])
        parsed = sub.with_columns(
            _normalise_expr(pl.col("stated")).str.extract_groups(rf"^(\D*?)({num})(\D*)$")
            .struct.rename_fields(["_prefix", "_token", "_suffix"]).alias("_t")
        ).unnest("_t")
        if not templates:
            parsed = parsed.with_columns(pl.lit(None, pl.Utf8).alias("_token"))
        parsed = parsed.with_columns(
            pl.col("_token").str.extract(rf"{re.escape(dec)}(\d+)$").str.len_chars().fill_null(0)
            .cast(pl.Int64).alias("_decimals"),
            pl.col("_token").str.replace_all(f"[{grp}]", "").str.replace(dec, ".", literal=True)
            .cast(pl.Float64, strict=False).alias("_n"),
        )
        templated = parsed.filter(pl.col("_n").is_not_null())
        tpl_rows = []
        for prefix, decimals, suffix, unit in templated.select("_prefix", "_decimals", "_suffix", "unit").unique().iter_rows():
            got = _template_reading(prefix, decimals, suffix, unit, lang)
            if got is not None:
                rd, per_number, offset = got
                tpl_rows.append((prefix, decimals, suffix, unit, per_number, offset, *_reading_row(rd)))
        tpl = pl.DataFrame(tpl_rows, orient="row", schema={
            "_prefix": pl.Utf8, "_decimals": pl.Int64, "_suffix": pl.Utf8, "unit": pl.Utf8,
            "_per": pl.Float64, "_offset": pl.Float64, **_READING_SCHEMA})
        # the keys are distinct and a template matches at most one row of tpl, so the rows of parsed
        # split into those a template reads and the rest (no join on the four key columns)
        looked_up = parsed.join(tpl, on=["_prefix", "_decimals", "_suffix", "unit"], how="left")
        by_template = pl.col("_n").is_not_null() & pl.col("_per").is_not_null()
        joined = looked_up.filter(by_template)
        if joined.height:
            pieces.append(joined.with_columns((pl.col("_n") * pl.col("_per") + pl.col("_offset")).alias("value"),
                                              pl.lit(True).alias("phrase_ok")))
        # everything else: one distinct phrase at a time
        single = looked_up.filter(~by_template)
        single_rows: list[tuple] = []
        for stated, col, unit, lg in single.select(*KEY).iter_rows():
            read = _try_read(stated, unit, lg)
            single_rows.append((stated, col, unit, lg, read is not None,
                                *(_reading_row(read) if read is not None else (None,) * len(_READING_SCHEMA))))
        pieces.append(pl.DataFrame(single_rows, orient="row", schema={**_KEY_SCHEMA, "phrase_ok": pl.Boolean,
                                                               **_READING_SCHEMA}))
    readings = pl.concat([p.select(*KEY, "phrase_ok", *[c for c in _READING_SCHEMA if c in p.columns])
                          for p in pieces], how="diagonal_relaxed")
    for c, t in _READING_SCHEMA.items():
        if c not in readings.columns:
            readings = readings.with_columns(pl.lit(None, t).alias(c))
    steps = pl.DataFrame({"unit": list(rules()["step"]), "step": [float(v) for v in rules()["step"].values()]})
    readings = readings.join(steps, on="unit", how="left")
    ok = pl.col("phrase_ok").fill_null(False)
    out = _bounds(readings.with_columns(pl.col("is_fixed").fill_null(False), pl.col("excludes_home").fill_null(False)))
    return out.select(
        *KEY, ok.alias("phrase_ok"),
        *[pl.when(ok).then(pl.col(c)).otherwise(None).alias(c) for c in ("qualifier", "low", "high", "figure")],
        pl.lit(None, pl.Date).alias("date_low"), pl.lit(None, pl.Date).alias("date_high"),
        (ok & pl.col("excludes_home")).alias("excludes_home"),
    )


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
