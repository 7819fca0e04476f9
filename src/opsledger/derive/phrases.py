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
import math
import re

import polars as pl

from opsledger.declarations import per_declarations

#: A letter of any alphabet (not a digit, not "_"): words end where letters end, in every language.
from opsledger.derive.phrase_words import (  # noqa: F401  (the words are read there; re-exported)
    _alt, _normalise, _normalise_expr, _number_pattern, _words, DATE_COLUMNS, Interval, PhraseError, Reading, language, read_number, rules, step,
)


# --------------------------------------------------------------------------- step 2: arithmetic

_READING_SCHEMA = {
    "qualifier": pl.Utf8, "value": pl.Float64, "slack": pl.Float64, "half_digit": pl.Float64,
    "excludes_home": pl.Boolean, "fixed_low": pl.Float64, "fixed_high": pl.Float64, "is_fixed": pl.Boolean,
}


def _reading_row(rd: Reading) -> tuple:
    fixed = rd.fixed or (None, None)
    return (rd.qualifier, rd.value, rd.slack, rd.half_digit, rd.excludes_home, fixed[0], fixed[1],
            rd.fixed is not None)


@per_declarations
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
        order = L.get("numeric_date")
        if order and (m := re.fullmatch(r"(\d{1,2})[./](\d{1,2})[./](\d{4})", text)):
            day, month = (int(m[1]), int(m[2])) if order == "dmy" else (int(m[2]), int(m[1]))
            d = dt.date(int(m[3]), month, day)
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


# --------------------------------------------------------------------------- weekdays and relative days


def _word(word: str) -> str:
    """The pattern of a declared word or phrase standing whole in a text (not inside a longer word)."""
    return rf"(?<!\w){re.escape(word)}(?!\w)"


def _on(days: list[dt.date], weekday: object, spans: list[tuple[str, object]]) -> list[dt.date]:
    """The days that fall on ``weekday`` and on every day of the month the phrase names with it."""
    return [d for d in days if d.weekday() == weekday and all(d.day == n for k, n in spans if k == "day_of_month")]


def _relative_spans(stated: str, lang: str | None) -> list[tuple[str, object]] | None:
    """The weekdays and relative days a phrase names, read with the words of its language:
    ``[("weekday", 0..6) | ("days", (first, last)) ...]``; None when it names none."""
    L = language(lang)
    text = _normalise(stated)
    found: list[tuple[str, object]] = []
    for word, span in sorted(L.get("relative_day", {}).items(), key=lambda kv: -len(kv[0])):
        if re.search(_word(word), text):
            found.append(("days", tuple(span)))
            text = re.sub(_word(word), " ", text)
    for word, day in sorted(L.get("weekday", {}).items(), key=lambda kv: -len(kv[0])):
        if re.search(_word(word), text):
            found.append(("weekday", day))
            text = re.sub(_word(word), " ", text)
    # a weekday with its day of the month beside it ("terça-feira (19)", "quinta-feira, 30"): that day only
    days = re.findall(r"(?<![\w.])\(?(\d{1,2})\)?(?![\w.])", text)
    if any(k == "weekday" for k, _ in found) and len(days) == 1 and 1 <= int(days[0]) <= 31:
        found.append(("day_of_month", int(days[0])))
    return found or None


def _weekday_days() -> tuple[int, int]:
    rel = rules().get("relative") or {}
    first, last = rel.get("weekday_days", (-6, 0))
    return int(first), int(last)


def resolve_relative(stated: str, lang: str | None, written: tuple[dt.date, dt.date]) -> tuple[dt.date, dt.date] | None:
    """The days a weekday or relative day ("on Monday", "yesterday", "am gestrigen Montag") can be, read
    in a text written between ``written[0]`` and ``written[1]``: the first and last such day, or None
    when the phrase names none or its parts cannot all hold. The words are in
    ``[language.<code>.weekday]`` and ``relative_day``, the weekday window in ``[relative]``."""
    spans = _relative_spans(stated, lang)
    if spans is None:
        return None
    lo, hi = dt.date.min, dt.date.max
    first: int
    last: int
    for kind, what in spans:
        if kind == "days":
            first, last = what  # type: ignore[misc]
            lo, hi = max(lo, written[0] + dt.timedelta(days=first)), min(hi, written[1] + dt.timedelta(days=last))
        elif kind == "day_of_month":
            continue  # narrows the weekday's days, below
        else:
            first, last = _weekday_days()
            start = max(lo, written[0] + dt.timedelta(days=first))
            end = min(hi, written[1] + dt.timedelta(days=last))
            days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)] if end >= start else []
            days = _on(days, what, spans)
            if not days:
                return None
            lo, hi = days[0], days[-1]
        if lo > hi:
            return None
    return lo, hi


def written_from_event(stated: str, lang: str | None, event: tuple[dt.date, dt.date]) -> tuple[dt.date, dt.date] | None:
    """The other way round: when a text names an event of ``event`` (first, last day) by a weekday or
    relative day, the days the text can have been written on; None when the phrase names none, or
    names a weekday the event's days do not fall on."""
    spans = _relative_spans(stated, lang)
    if spans is None:
        return None
    lo, hi = event
    w_lo, w_hi = dt.date.min, dt.date.max
    first: int
    last: int
    for kind, what in spans:
        if kind == "day_of_month":
            continue  # narrows the event's days with its weekday, below
        if kind == "weekday":
            days = [lo + dt.timedelta(days=i) for i in range((hi - lo).days + 1)]
            days = _on(days, what, spans)
            if not days:
                return None
            lo, hi = days[0], days[-1]
            first, last = _weekday_days()
        else:
            first, last = what  # type: ignore[misc]
        w_lo, w_hi = max(w_lo, lo - dt.timedelta(days=last)), min(w_hi, hi - dt.timedelta(days=first))
    return (w_lo, w_hi) if w_lo <= w_hi else None


def _year_before(d: dt.date) -> dt.date:
    return d.replace(year=d.year - 1) if not (d.month == 2 and d.day == 29) else dt.date(d.year - 1, 2, 28)


def resolve_date(stated: str, lang: str | None, written: tuple[dt.date, dt.date]) -> tuple[dt.date, dt.date] | None:
    """The days a date phrase the rules read as undated can be, in a text written between
    ``written[0]`` and ``written[1]``: a date with a weekday before it ("Wednesday, August 3, 2011"),
    a day and month without a year ("April 24": the year of the text, or the year before when that
    day is after the text was written), or a weekday or relative day (:func:`resolve_relative`).
    None when it is none of these."""
    text = _normalise(stated)
    for word in sorted(language(lang).get("weekday", {}), key=len, reverse=True):
        text = re.sub(_word(word) + ",?", " ", text)
    text = re.sub(r"\s+", " ", text).strip(" ,")
    if text and text != _normalise(stated):
        got = derive_date(text, lang)
        if got.date_low is not None and got.date_high is not None:
            return got.date_low, got.date_high
    if text and not re.search(r"\d{4}", text):
        rel = _relative_year(text, lang)
        if rel is not None:  # "September last year": that month of that year
            rest, offset = rel
            read = [derive_date(f"{rest} {y + offset}", lang) for y in range(written[0].year, written[1].year + 1)]
            days = [(g.date_low, g.date_high) for g in read if g.date_low is not None and g.date_high is not None]
            return (min(d[0] for d in days), max(d[1] for d in days)) if days else None
        found = []
        for year in range(written[0].year - 1, written[1].year + 1):
            got = derive_date(f"{text} {year}", lang)
            lo, hi = got.date_low, got.date_high
            if lo is None or hi is None or got.qualifier not in ("day", "month"):
                continue  # only a day and month, or a month, take the text's year
            # the latest such day or month begun on or before a day of writing: after that, a year before
            if lo <= written[1] and lo > _year_before(written[0]):
                found.append((lo, hi))
        if found:
            return min(f[0] for f in found), max(f[1] for f in found)
    return resolve_relative(stated, lang, written)


def _relative_year(text: str, lang: str | None) -> tuple[str, int] | None:
    """(the phrase without its relative year, the years it adds) for "March this year", "September last
    year" (``[language.<code>.relative_year]``, in every language); None without one."""
    for word, offset in sorted(language(lang).get("relative_year", {}).items(), key=lambda kv: -len(kv[0])):
        m = re.search(_word(word), text)
        if m:
            rest = re.sub(r"\s+", " ", text[:m.start()] + " " + text[m.end():]).strip(" ,")
            return (rest, int(offset)) if rest else None
    return None
