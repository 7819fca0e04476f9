"""Values as a person writes them: the one formatter used by the reports, the CLI, the site and notes.

``number(100.0)`` is ``"100"``, ``span(100, 120)`` is ``"100 to 120"``, ``span(400000, None)`` is
``"400,000 or more"``, ``date(d, "month")`` is ``"June 2017"``. Never ``100.0 to null``.
:func:`plain` is the machine-neutral text of a cell (CSV, ``opsledger show``): ISO dates, integral
floats without ``.0``, empty for null. This module imports nothing beyond the standard library.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
#: How a unit reads after a number ("count" reads as nothing: the metric names what is counted).
UNITS = {"count": "", "months": "months", "percent": "%", "terabytes": "TB", "usd": "US dollars",
         "eur": "euros", "gbp": "pounds sterling", "cad": "Canadian dollars", "hours": "hours", "days": "days"}
EMPTY = "empty"


def _num(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, str):
        v = v.strip()
        if v in ("", "null", "None", "nan"):
            return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def number(v: Any, unit: str | None = None) -> str:
    """``1234.0`` -> ``"1,234"``, ``2.5`` -> ``"2.5"``, ``None`` -> ``"empty"``; with a unit: ``"40 months"``."""
    x = _num(v)
    if x is None:
        return EMPTY if v is None or str(v).strip() in ("", "null", "None", "nan") else str(v)
    if x.is_integer():
        s = f"{int(x):,}"
    else:
        s = f"{x:,.2f}".rstrip("0").rstrip(".")
    return _with_unit(s, unit)


def _with_unit(s: str, unit: str | None) -> str:
    u = UNITS.get(unit or "count", unit or "")
    if not u:
        return s
    return f"{s}{u}" if u == "%" else f"{s} {u}"


def span(low: Any, high: Any, unit: str | None = None) -> str:
    """The interval a figure's sources allow: "100 to 120", "400,000 or more", "up to 120", "any number"."""
    lo, hi = _num(low), _num(high)
    if lo is None and hi is None:
        return "any number"
    if hi is None:
        return f"{number(lo, unit)} or more"
    if lo is None or lo == 0 and hi > 0:
        return f"up to {number(hi, unit)}"
    if lo == hi:
        return number(lo, unit)
    return f"{number(lo)} to {number(hi, unit)}"


def figure(value: Any, low: Any, high: Any, unit: str | None = None) -> str:
    """A reconciled figure with its bounds: "62,999 (60,001 to 62,999)", or just "50" when exact."""
    v, lo, hi = _num(value), _num(low), _num(high)
    if v is None:
        return span(lo, hi, unit)
    if lo == v and hi == v:
        return number(v, unit)
    return f"{number(v, unit)} ({span(lo, hi)})"


def date(d: Any, precision: str | None = "day") -> str:
    """A date at its precision: "17 May 2019", "June 2017", "2017"; "unknown" for none."""
    if d is None or d == "":
        return "unknown"
    if isinstance(d, str):
        try:
            d = dt.date.fromisoformat(d[:10])
        except ValueError:
            return d
    if isinstance(d, dt.datetime):
        d = d.date()
    if precision == "year":
        return str(d.year)
    if precision == "month":
        return f"{MONTHS[d.month - 1]} {d.year}"
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"


#: how an interval's precision reads after its two days
_WITHIN = {"week": "within a week", "month": "within a month", "year": "within a year", "bounded": "bounds only"}


def interval(d: Any, latest: Any, precision: str | None = "day") -> str:
    """A date that is an interval (earliest, latest) at its precision: "17 May 2019", "June 2017",
    "2017" where it is that day or calendar period; else its two days and how precisely it is known:
    "23 August 2016 to 29 August 2016 (within a week)", "... (bounds only)"; "unknown" for none."""
    if d is None or d == "":
        return "unknown"
    if isinstance(d, str):
        d = dt.date.fromisoformat(d[:10])
    if isinstance(latest, str):
        latest = dt.date.fromisoformat(latest[:10])
    if latest is None or latest == d or precision == "day":
        return date(d, precision if precision in ("day", "month", "year") else "day")
    if _calendar(d, latest, precision):
        return date(d, precision)
    return f"{date(d)} to {date(latest)} ({_WITHIN.get(precision or '', precision or '')})"


def _calendar(d: dt.date, latest: dt.date, precision: str | None) -> bool:
    """Whether ``d`` .. ``latest`` is exactly one calendar month (precision month) or year (year)."""
    if precision == "month":
        return d.day == 1 and (latest + dt.timedelta(days=1)).day == 1 and latest.month == d.month
    if precision == "year":
        return (d.month, d.day, latest.month, latest.day) == (1, 1, 12, 31) and d.year == latest.year
    return False


def period(d: Any, precision: str | None = "day", latest: Any = None) -> str:
    """A date at its precision in ISO form: "2017", "2019-10", "2019-05-23"; "" for none. A date known
    only within a week or bounds, or within a month or year that is not one calendar month or year,
    given its last day, is its two days ("2007-10-16..2007-10-18"), never the first of them."""
    if d is None or d == "":
        return ""
    if isinstance(d, dt.datetime):
        d = d.date()
    if not isinstance(d, dt.date):
        return str(d)
    if (isinstance(latest, dt.date) and latest != d and precision in ("week", "bounded", "month", "year")
            and not _calendar(d, latest, precision)):
        return f"{d.isoformat()}..{latest.isoformat()}"
    return {"year": f"{d.year:04d}", "month": f"{d.year:04d}-{d.month:02d}"}.get(precision or "day", d.isoformat())


def plain(v: Any) -> str:
    """A cell as neutral text: "" for null, ISO dates, "100" for 100.0, numbers without grouping."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return str(int(v)) if v.is_integer() else repr(v)
    return str(v)


def words(s: str | None) -> str:
    """A vocabulary term as words: ``children_safeguarded`` -> ``children safeguarded``."""
    return (s or "").replace("_", " ")


# ---------------------------------------------------------------- tokens in rule messages

#: Rule frames are built with polars expressions; numbers inside their messages are written as tokens
#: (``⟦n:100.0⟧``, ``⟦r:100.0|null⟧``) that :func:`expand` turns into words when a finding is made.
TOKEN = re.compile(r"⟦([nr]):([^⟧]*)⟧")


def num_token(col: str):
    """A polars expression writing column ``col`` as a number token (polars imported only here)."""
    import polars as pl

    return pl.format("⟦n:{}⟧", pl.col(col).cast(pl.Utf8).fill_null(""))


def span_token(low: str, high: str):
    """A polars expression writing two columns as an interval token ("100 to 120" once expanded)."""
    import polars as pl

    return pl.format("⟦r:{}|{}⟧", pl.col(low).cast(pl.Utf8).fill_null(""), pl.col(high).cast(pl.Utf8).fill_null(""))


def expand(text: str | None) -> str | None:
    """Replace number tokens by their readable form: ``⟦r:250000.0|null⟧`` -> ``250,000 or more``."""
    if not text or "⟦" not in text:
        return text

    def sub(m: re.Match) -> str:
        kind, body = m.group(1), m.group(2)
        if kind == "r":
            lo, _, hi = body.partition("|")
            return span(lo, hi)
        return number(body) if _num(body) is not None or body in ("", "null") else body

    return TOKEN.sub(sub, text)
