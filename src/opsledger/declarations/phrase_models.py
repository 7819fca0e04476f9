"""Typed models of ``schemas/phrase_rules.toml``: how a stated phrase becomes an interval (each hedge's
bounds, each language's words, number marks, weekdays and relative days, the reconciliation settings).
The other declarations' models are in :mod:`opsledger.declarations.models`."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field as _PField, model_validator

from opsledger.declarations.base import _Decl


class Hedge(_Decl):
    """``[hedge.<qualifier>]`` of phrase_rules.toml: how a hedge turns the figure into bounds."""

    low_factor: float | None = None
    low_steps: int = 0
    high_factor: float | None = None
    high_steps: int = 0
    rounding: bool = False
    #: the words a reader sees before the figure ("more than"); "" for none
    display: str = ""
    why: str


class ExcludesHome(_Decl):
    other: tuple[str, ...] = ()
    country: tuple[str, ...] = ()


class Language(_Decl):
    """``[language.<iso 639-1>]`` of phrase_rules.toml: every word the phrase rules read in a language."""

    decimal: str
    group: tuple[str, ...]
    range_prefix: tuple[str, ...] = ()
    range_joiner: tuple[str, ...] = ()
    range_joiner_after_prefix: tuple[str, ...] = ()
    part_joiner: tuple[str, ...] = ()
    date_preposition: tuple[str, ...] = ()
    date_filler: tuple[str, ...] = ()
    year_filler: tuple[str, ...] = ()
    excludes_home: ExcludesHome = ExcludesHome()
    hedge: dict[str, str] = {}
    magnitude: dict[str, tuple[float, float]] = {}
    #: word -> (unit, factor to the unit, rounding slack in the unit)
    unit_word: dict[str, tuple[str, float, float]] = {}
    scale: dict[str, float] = {}
    number_word: dict[str, float] = {}
    #: what joins a tens word to a units word in a compound number ("trinta e uma" = 31, "veinte y
    #: dos" = 22, "vingt-deux" = 22): every tens word (20..90) + joiner + units word (1..9) of
    #: ``number_word`` is read as their sum. A joiner of letters is a word, so spaces stand around it.
    compound_joiner: tuple[str, ...] = ()
    part_of_year: dict[str, tuple[int, int]] = {}
    month: dict[str, int] = {}
    #: noun -> the kind of thing it counts (a term of the ``noun_kind`` vocabulary)
    noun: dict[str, str] = {}
    #: words that make a figure a part adding to another count when they stand directly before or
    #: after it ("another 29", "68 additional suspects", "weitere 68"): meaning.additional_is_a_part
    additional: tuple[str, ...] = ()
    #: the order of a date written in figures ("18/02/2020", "05.11.2007"): dmy or mdy; none where the
    #: language's sources write both (English), so such a date is not read
    numeric_date: Literal["dmy", "mdy"] | None = None
    #: weekday name (any inflection the sources print) -> 0 (Monday) .. 6 (Sunday)
    weekday: dict[str, int] = {}
    #: relative day ("yesterday", "last week") -> (first, last) day it may be, counted from publication
    relative_day: dict[str, tuple[int, int]] = {}
    #: relative year ("last year", "del pasado año") -> years from the year the text was written (-1, 0)
    relative_year: dict[str, int] = {}

    @model_validator(mode="after")
    def _check(self) -> Language:
        for word, d in self.weekday.items():
            if not 0 <= d <= 6:
                raise ValueError(f"weekday {word!r}: {d} is not 0 (Monday) to 6 (Sunday)")
        for word, (first, last) in self.relative_day.items():
            if first > last:
                raise ValueError(f"relative_day {word!r}: {first} is after {last}")
        for word, (lo, hi) in self.magnitude.items():
            if lo > hi:
                raise ValueError(f"magnitude {word!r}: {lo:g} is above {hi:g}")
        for word, (first, last) in self.part_of_year.items():
            if not 1 <= first <= last <= 12:
                raise ValueError(f"part_of_year {word!r}: months {first} to {last} are not within 1 to 12")
        for word, m in self.month.items():
            if not 1 <= m <= 12:
                raise ValueError(f"month {word!r}: {m} is not a month (1 to 12)")
        return self


class ReconcileRules(_Decl):
    running_total_window_days: int = _PField(ge=0)
    series_span_days: int = _PField(default=0, ge=0)
    wording: str


class RelativeRules(_Decl):
    """``[relative]`` of phrase_rules.toml: how a weekday or relative day is placed against a date."""

    #: a bare weekday names a day this many days (first, last) from the date of the text that names it
    weekday_days: tuple[int, int]
    why: str


class PhraseRules(_Decl):
    """``schemas/phrase_rules.toml``."""

    hedge: dict[str, Hedge]
    step: dict[str, float]
    currency: dict[str, tuple[str, ...]] = {}
    language: dict[str, Language]
    reconcile: ReconcileRules
    relative: RelativeRules | None = None

    @model_validator(mode="after")
    def _check(self) -> PhraseRules:
        for unit, s in self.step.items():
            if s <= 0:
                raise ValueError(f"[step]: the step of {unit!r} must be above 0, not {s:g}")
        for sign, units in self.currency.items():
            for u in units:
                if u not in self.step:
                    raise ValueError(f"[currency]: {sign!r} stands for {u!r}, which has no rounding step in [step]")
        for code, lang in self.language.items():
            if not re.fullmatch(r"[a-z]{2}", code):
                raise ValueError(f"[language.{code}]: a language is named by its ISO 639-1 code (two letters)")
            for word, q in lang.hedge.items():
                if q not in self.hedge:
                    raise ValueError(f"[language.{code}.hedge]: {word!r} names hedge {q!r}, which has no [hedge.{q}]")
            for word, (unit, _f, _s) in lang.unit_word.items():
                if unit not in self.step:
                    raise ValueError(f"[language.{code}.unit_word]: {word!r} names unit {unit!r}, "
                                     "which has no rounding step in [step]")
        return self
