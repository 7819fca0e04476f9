"""The reconciliation settings (``[reconcile]`` of ``schemas/phrase_rules.toml``) and date periods: the
running-total window, the span of a same-day or same-week series, the last day of a dated period."""

from __future__ import annotations

import datetime as dt

import polars as pl

from opsledger.declarations import (precision_days)
from opsledger.derive.phrases import rules as phrase_rules



def reconcile_settings() -> dict:
    """The ``[reconcile]`` section of the phrase-rule table."""
    return phrase_rules().get("reconcile", {})


def running_total_window() -> dt.timedelta:
    """How far before the latest as-of date a running total's claims still count as the same count."""
    return dt.timedelta(days=int(reconcile_settings().get("running_total_window_days", 0)))


def series_span() -> dt.timedelta:
    """Rising counts of a running total whose as-of dates start at most this far apart are a series."""
    return dt.timedelta(days=int(reconcile_settings().get("series_span_days", 0)))


def period_end(col: str, precision: str) -> pl.Expr:
    """The last day of the period a date column and its precision column describe."""
    d = pl.col(col)
    return (pl.when(pl.col(precision) == "year").then(pl.date(d.dt.year(), 12, 31))
            .when(pl.col(precision) == "month").then(d.dt.month_end())
            .otherwise(d))


def interval_period(lo: dt.date, hi: dt.date) -> tuple[dt.date, str, dt.date]:
    """(first day, precision, last day) of the interval [lo, hi] as a date with a latest column: the
    interval itself, never widened, labelled with the finest precision of ``[precision_days]`` its width
    fits (day, week, month, year), the same measure the sources' publication intervals use; an interval
    over a year wide, or a year-wide one across two calendar years, is bounded."""
    if lo == hi:
        return lo, "day", hi
    width = (hi - lo).days
    for prec, days in sorted(precision_days().items(), key=lambda kv: kv[1]):
        if width <= days and prec != "day":
            return lo, "bounded" if prec == "year" and lo.year != hi.year else prec, hi
    return lo, "bounded", hi
