"""Dates reconciled from date claims (an operation's launch and announcement, an event's date, an
outcome's date), the value a disputed figure shows (the reading most sources share), and the derived
columns of the sources table."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl

from opsledger.declarations import claim_keys, date_targets, table as declaration
from opsledger.derive.locate import archive_text
from opsledger.derive.periods import interval_period, period_end
from opsledger.derive.phrases import period


def dates_a_field() -> pl.Expr:
    """A date claim that dates its field: it gives a first day, a last day, or both (a one-sided claim,
    context not_before / not_after, gives one). The field's interval is the latest first day to the
    earliest last day of its claims."""
    return pl.col("date_low").is_not_null() | pl.col("date_high").is_not_null()


def _reconcile_dates(target: pl.DataFrame, table_name: str, claims: pl.DataFrame) -> pl.DataFrame:
    key = claim_keys()[table_name]
    intervals_ = declaration(table_name).intervals
    for dcol, (pcol, last_col) in intervals_.items():
        if last_col in target.columns:  # a date stored without its last day: the end of its period
            target = target.with_columns(pl.coalesce(last_col, period_end(dcol, pcol)).alias(last_col))
    for (tname, tcol), (dcol, pcol) in date_targets().items():
        if tname != table_name:
            continue
        lcol: str | None = intervals_.get(dcol, (None, None))[1]
        c = claims.filter(
            (pl.col("target_table") == tname) & (pl.col("target_column") == tcol)
            & dates_a_field()
        )
        if c.is_empty():
            continue
        agg = c.group_by("target_id").agg(
            pl.col("date_low").max().alias("lo"), pl.col("date_high").min().alias("hi")
        )
        rows: list[tuple] = []
        for tid, lo, hi in agg.iter_rows():
            if lo is not None and hi is not None and lo <= hi:
                if lcol:
                    start, prec, last = interval_period(lo, hi)
                else:
                    (start, prec), last = period(lo, hi), None
                rows.append((tid, start, prec, last))
            else:  # claims that cannot all hold, or one side only (not_before / not_after): no date
                rows.append((tid, None, None, None))
        if not rows:
            continue
        # every field with date claims is set (to nothing where they give no interval); others keep theirs
        d = pl.DataFrame(rows, schema={key: pl.Utf8, "_d": pl.Date, "_p": pl.Utf8, "_l": pl.Date},
                         orient="row").with_columns(pl.lit(True).alias("_set"))
        hit = pl.col("_set").fill_null(False)
        target = target.join(d, on=key, how="left").with_columns(
            pl.when(hit).then(pl.col("_d")).otherwise(pl.col(dcol)).alias(dcol),
            pl.when(hit).then(pl.col("_p")).otherwise(pl.col(pcol)).alias(pcol),
            *([pl.when(hit).then(pl.col("_l")).otherwise(pl.col(lcol)).alias(lcol)] if lcol else []),
        ).drop("_d", "_p", "_l", "_set")
    return target


def derive_sources(sources: pl.DataFrame, archive: Path | None) -> pl.DataFrame:
    # a publication date given without its last day is the period it names (a day, a month, a year)
    if "published_latest" in sources.columns:
        sources = sources.with_columns(
            pl.coalesce("published_latest", period_end("published", "published_precision")).alias("published_latest"))
    if archive is None:
        return sources
    sums = []
    for sid, fname in sources.select("source_id", "archive_file").drop_nulls().iter_rows():
        got = archive_text(archive, fname, sid)
        if got:
            sums.append((sid, got[1]))
    if not sums:
        return sources
    s = pl.DataFrame(sums, schema={"source_id": pl.Utf8, "_sha": pl.Utf8}, orient="row")
    return sources.join(s, on="source_id", how="left").with_columns(
        pl.coalesce("_sha", "sha256").alias("sha256")
    ).select(sources.columns)


def _claims_by_target(c: pl.DataFrame, targets: list[str]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in c.filter(pl.col("target_id").is_in(targets)).sort(["pref", "width", "claim_id"]).iter_rows(named=True):
        out.setdefault(row["target_id"], []).append(row)
    return out


def _majority(rows: list[dict]) -> tuple[float, float | None, float | None]:
    """Best value and usable bounds of a disputed figure: the stretch that the most sources allow.

    The claims are swept for the stretch of values covered by the largest number of distinct sources;
    the preferred claim among those covering it (official release first, then the narrowest) gives
    the figure, kept inside that stretch. So an outlying source does not set the value of a figure
    most sources agree on, while sources_low/sources_high still show the whole disagreement.
    Returns (value, stretch low, stretch high), a bound being None where the stretch has none.
    """
    lo = [(-math.inf if r["low"] is None else r["low"]) for r in rows]
    hi = [(math.inf if r["high"] is None else r["high"]) for r in rows]
    candidates = []  # the best stretch starts at some claim's lower bound
    for x in sorted(set(lo)):
        covering = [i for i in range(len(rows)) if lo[i] <= x <= hi[i]]
        count = len({rows[i]["source_id"] for i in covering})
        # most sources first; on a tie, the stretch the most preferred claim is in
        candidates.append((-count, min(covering), covering))
    _neg, _first, chosen = min(candidates, key=lambda c: (c[0], c[1]))
    best_lo = max(lo[i] for i in chosen)
    best_hi = min(hi[i] for i in chosen)
    first = rows[chosen[0]]  # rows are in preference order, so the first covering claim is preferred
    anchor = first.get("anchor", first.get("figure"))
    guess = anchor if anchor is not None else (first["low"] if first["low"] is not None else best_lo)
    value = float(min(max(guess, best_lo), best_hi))
    return (value, None if math.isinf(best_lo) else float(best_lo),
            None if math.isinf(best_hi) else float(best_hi))
