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

MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})


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


def _hedge_table() -> list[tuple[str, str]]:
    """(phrase, qualifier), longest phrase first."""
    pairs = [(p, q) for q, spec in rules()["hedge"].items() for p in spec["phrases"]]
    return sorted(pairs, key=lambda pq: -len(pq[0]))


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u2011", "-").replace("\u00a0", " ")).strip().lower()


_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"


def _number(token: str) -> float | None:
    words = rules()["number_word"]
    if re.fullmatch(_NUM, token):
        return float(token.replace(",", ""))
    return float(words[token]) if token in words else None


def _read_quantity(text: str) -> tuple[float, str | None, float, str]:
    """Read ``NUMBER [scale] [unit] [and NUMBER unit]`` at the start of text.

    Returns (value in the phrase's base unit, unit, rounding slack, rest of text).
    """
    r = rules()
    word_alt = "|".join(sorted(map(re.escape, r["number_word"]), key=len, reverse=True))
    unit_alt = "|".join(sorted(map(re.escape, r["unit_word"]), key=len, reverse=True))
    scale_alt = "|".join(r["scale"])
    pat = re.compile(
        rf"(?P<num>{_NUM}|(?:{word_alt})\b)(?:[ -](?P<scale>{scale_alt})\b)?"
        rf"(?:[ -]?(?P<unit>{unit_alt})(?![a-z]))?"
    )
    m = pat.match(text)
    if not m or _number(m["num"]) is None:
        raise PhraseError(f"no figure at the start of {text!r}")
    value = _number(m["num"]) * (r["scale"][m["scale"]] if m["scale"] else 1)
    unit, slack = None, 0.0
    if m["unit"]:
        unit, factor, slack = r["unit_word"][m["unit"]]
        value *= factor
    rest = text[m.end():]
    # "40 years and three months": a second, finer part removes the coarse unit's rounding slack.
    m2 = re.match(rf"\s*(?:and|,)\s*(?P<num>{_NUM}|(?:{word_alt})\b)[ -](?P<unit>{unit_alt})(?![a-z])", rest)
    if m2 and unit is not None:
        unit2, factor2, slack2 = r["unit_word"][m2["unit"]]
        if unit2 == unit:
            value += _number(m2["num"]) * factor2
            slack = slack2
            rest = rest[m2.end():]
    return value, unit, float(slack), rest


def _round_down(x: float, step: float) -> float:
    return round(math.floor(x / step + 1e-9) * step, 6)


def _round_up(x: float, step: float) -> float:
    return round(math.ceil(x / step - 1e-9) * step, 6)


def derive_number(stated: str, metric_unit: str) -> Interval:
    """Interval that a numeric phrase allows, in ``metric_unit``."""
    r = rules()
    text = _normalise(stated)
    step = float(r["step"][metric_unit])
    for phrase, (lo, hi) in sorted(r["magnitude"].items(), key=lambda kv: -len(kv[0])):
        if text.startswith(phrase) and (len(text) == len(phrase) or not text[len(phrase)].isalnum()):
            if metric_unit != "count":
                raise PhraseError(f"{stated!r}: words of magnitude only count things")
            return Interval("magnitude", float(lo), float(hi), nominal=None, unit=metric_unit)
    qualifier = "exact"
    for phrase, q in _hedge_table():
        if text.startswith(phrase + " "):
            qualifier, text = q, text[len(phrase) + 1:]
            break
    value, unit, slack, _rest = _read_quantity(text)
    if unit is None:
        unit = "count" if metric_unit in ("count", "usd") else metric_unit
    if unit != metric_unit and not (unit == "count" and metric_unit == "usd"):
        raise PhraseError(f"{stated!r} is in {unit}, the metric counts {metric_unit}")
    spec = r["hedge"][qualifier]
    low = high = None
    if "low_factor" in spec:
        low = _round_down(value * spec["low_factor"] + spec.get("low_steps", 0) * step, step)
    if "high_factor" in spec:
        high = value * spec["high_factor"] + spec.get("high_steps", 0) * step
        if spec.get("rounding"):
            high += slack
        high = _round_up(high, step)
    return Interval(qualifier, low, high, nominal=value, unit=metric_unit)


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def derive_date(stated: str) -> Interval:
    """Interval of days that a date phrase allows."""
    text = _normalise(stated).removeprefix("in ").removeprefix("on ")
    month_alt = "|".join(sorted(MONTHS, key=len, reverse=True))
    if m := re.fullmatch(rf"(\d{{1,2}}) ({month_alt})\.?,? (\d{{4}})", text):
        d = dt.date(int(m[3]), MONTHS[m[2]], int(m[1]))
        return Interval("day", date_low=d, date_high=d)
    if m := re.fullmatch(rf"({month_alt})\.? (\d{{1,2}}),? (\d{{4}})", text):
        d = dt.date(int(m[3]), MONTHS[m[1]], int(m[2]))
        return Interval("day", date_low=d, date_high=d)
    if m := re.fullmatch(rf"({month_alt})\.?,? (\d{{4}})", text):
        y, mo = int(m[2]), MONTHS[m[1]]
        return Interval("month", date_low=dt.date(y, mo, 1), date_high=_month_end(y, mo))
    if m := re.fullmatch(r"(\d{4})", text):
        y = int(m[1])
        return Interval("year", date_low=dt.date(y, 1, 1), date_high=dt.date(y, 12, 31))
    parts = rules()["part_of_year"]
    if m := re.fullmatch(rf"({'|'.join(parts)})[ -](\d{{4}})", text):
        y, (a, b) = int(m[2]), parts[m[1]]
        return Interval("part_of_year", date_low=dt.date(y, a, 1), date_high=_month_end(y, b))
    return Interval("undated")


def derive(stated: str, target_column: str, metric_unit: str | None) -> Interval:
    """What a claim's phrase implies, given what the claim supports."""
    if target_column == "role":
        return Interval("evidence")
    if target_column in DATE_COLUMNS:
        return derive_date(stated)
    if metric_unit is None:
        raise PhraseError(f"{stated!r}: a figure needs a metric")
    return derive_number(stated, metric_unit)


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
