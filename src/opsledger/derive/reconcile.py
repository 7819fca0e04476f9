"""Derive every computed column from the claims.

Curators write claims (source, target, stated phrase) and skeleton rows; everything a claim implies is
computed here and nowhere else:

- claims: ``metric`` and ``unit`` (from the target row), ``qualifier``, ``low``, ``high``,
  ``date_low``, ``date_high`` (from the phrase rules), and the locator in the archived text;
- outcomes and statistics: ``value_low``/``value_high`` (intersection of the claims' intervals, or
  their union when the intersection is empty and the row is disputed), ``value`` (the preferred
  claim's figure kept inside the bounds), ``status``, ``n_sources``, and ``date``/``as_of``;
- operations, events, participations: their dates from date claims;
- sources: ``sha256`` of the archived file.

The checks run :func:`derive_all` again and report every stored value that differs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import polars as pl

from opsledger.data.io import DEFAULT_ARCHIVE
from opsledger.declarations import (LiveMapping, claim_keys, date_columns, date_targets, headline_from, headline_metrics,
                                metric_unit, metrics_with, source_preference, table as declaration,
                                target_columns, vocabularies, year_order)
from opsledger.declarations.coverage import reporting_line
from opsledger.derive.phrases import resolve_date
from opsledger.derive.tablediff import Diff, diff_tables
# the parts of the derivation in their own modules, re-exported here for the rules and callers
from opsledger.derive.frames import (aligned, apply_context, ascending, join_aligned, phrase_frame,  # noqa: F401
                                     reading_language)
from opsledger.derive.locate import _archive_text, _paragraph, archive_text, locate  # noqa: F401
from opsledger.derive.parts import _dimension, bound_by_parts, parts_low, parts_sums  # noqa: F401
from opsledger.derive.dates import _claims_by_target, _majority, _reconcile_dates, derive_sources  # noqa: F401
from opsledger.derive.periods import (interval_period, period_end, reconcile_settings,  # noqa: F401
                                      running_total_window, series_span)

#: Which source kinds are preferred when choosing the best value (lower first):
#: ``[order.source_kind]`` of schemas/vocabularies.toml.
SOURCE_PREFERENCE = LiveMapping(source_preference)

#: (table, target column) -> (date column, precision column) derived from date claims: the date
#: columns among the ``claim_targets`` of schemas/<table>.toml.
DATE_TARGETS = LiveMapping(date_targets)

#: The tables a claim can support -> their key column (tables declaring ``claim_targets``).
KEYS = LiveMapping(claim_keys)












def _claim_metric_unit(tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    claims = tables["claims"]
    metrics = pl.concat(
        [
            tables["outcomes"].select(pl.lit("outcomes").alias("target_table"),
                                      pl.col("outcome_id").alias("target_id"), "metric"),
            tables["statistics"].select(pl.lit("statistics").alias("target_table"),
                                        pl.col("statistic_id").alias("target_id"), "metric"),
        ]
    )
    units = pl.DataFrame(
        {"metric": list(vocabularies()["metric"]),
         "unit": [metric_unit(m) for m in vocabularies()["metric"]]}
    )
    metrics = metrics.join(units, on="metric", how="left")
    out = claims.drop("metric", "unit").join(metrics, on=["target_table", "target_id"], how="left")
    # A claim that dates an outcome carries no metric or unit.
    is_value = pl.col("target_column") == "value"
    return out.with_columns(
        pl.when(is_value).then(pl.col("metric")).otherwise(None).alias("metric"),
        pl.when(is_value).then(pl.col("unit")).otherwise(None).alias("unit"),
    ).select(claims.columns)










def derive_claims(tables: dict[str, pl.DataFrame], archive: Path | None,
                  phrases: pl.DataFrame | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Claims with every derived column filled, and the phrase frame they were derived from."""
    claims = _claim_metric_unit(tables)
    phrases = phrase_frame(claims, tables["sources"]) if phrases is None else phrases
    ph = phrases.select(
        "claim_id", "d_qualifier", "d_low", "d_high", "d_date_low", "d_date_high", "d_figure", "d_excludes_home"
    )
    published = tables["sources"].select("source_id", pl.col("published").alias("_pub"),
                                         pl.col("published_precision").alias("_pubp"),
                                         pl.col("published_latest").alias("_publ"))
    has_own = pl.col("as_of").is_not_null()
    # the claim is dated by its source (as_of is the source's interval start at its precision): the
    # source's interval; else the period its own date and precision name
    by_source = ~has_own | ((pl.col("as_of") == pl.col("_pub")) & (pl.col("as_of_precision") == pl.col("_pubp")))
    claims = join_aligned(claims, ph, "claim_id").join(published, on="source_id", how="left").with_columns(
        pl.coalesce("d_qualifier", "qualifier").alias("qualifier"),
        pl.col("d_low").alias("low"),
        pl.col("d_high").alias("high"),
        pl.col("d_date_low").alias("date_low"),
        pl.col("d_date_high").alias("date_high"),
        pl.col("d_figure").alias("figure"),
        pl.when(pl.col("d_qualifier").is_null()).then(None)
        .otherwise(pl.col("d_excludes_home").fill_null(False)).alias("excludes_home"),
        # a claim is true at its source's publication date unless the curator dated it otherwise
        pl.when(has_own).then(pl.col("as_of")).otherwise(pl.col("_pub")).alias("as_of"),
        pl.when(has_own).then(pl.col("as_of_precision")).otherwise(pl.col("_pubp")).alias("as_of_precision"),
        pl.when(by_source).then(pl.col("_publ"))
        .otherwise(period_end("as_of", "as_of_precision")).alias("as_of_latest"),
    ).drop("d_qualifier", "d_low", "d_high", "d_date_low", "d_date_high", "d_figure", "d_excludes_home",
           "_pub", "_pubp")
    claims = apply_context(_resolve_undated(claims, tables["sources"])).drop("_publ")
    if archive is not None:
        files = tables["sources"].select("source_id", "archive_file").drop_nulls()
        arch = dict(files.iter_rows())
        located = claims.filter(pl.col("source_id").is_in(list(arch)))
        updates = []
        for cid, sid, stated, hint in located.select(
            "claim_id", "source_id", "stated", "locator_offset"
        ).iter_rows():
            got = archive_text(archive, arch[sid], sid)
            loc = locate(got[0], stated, hint) if got else None
            if loc:
                updates.append((cid, loc[0], loc[1]))
        if updates:
            upd = pl.DataFrame(updates, schema={"claim_id": pl.Utf8, "p": pl.Int64, "o": pl.Int64},
                               orient="row")
            claims = claims.join(upd, on="claim_id", how="left").with_columns(
                pl.coalesce("p", "locator_paragraph").alias("locator_paragraph"),
                pl.coalesce("o", "locator_offset").alias("locator_offset"),
            ).drop("p", "o")
    return claims.select(tables["claims"].columns), phrases


def counted(c: pl.DataFrame) -> pl.Expr:
    """The value claims that count in reconciliation: the current ones (see :func:`value_claims`),
    leaving out a typo that another claim corrects (``claims.corrected_by``)."""
    return pl.col("current") & (pl.col("corrected_by").is_null() if "corrected_by" in c.columns else pl.lit(True))


def _resolve_undated(claims: pl.DataFrame, sources: pl.DataFrame) -> pl.DataFrame:
    """Date claims the phrase rules read as undated, placed against their source's publication
    interval where they name a weekday, a relative day, or a day and month without a year
    (``phrases.resolve_date``): qualifier ``relative`` and the days they can be."""
    undated = claims.filter((pl.col("qualifier") == "undated") & pl.col("date_low").is_null()
                            & pl.col("target_column").is_in(list(date_columns())))
    if undated.is_empty():
        return claims
    lang = dict(sources.select("source_id", "language").iter_rows())
    pub = {sid: (lo, hi) for sid, lo, hi in sources.select("source_id", "published", "published_latest").iter_rows()
           if lo is not None and hi is not None}
    rows = []
    for cid, sid, stated in undated.select("claim_id", "source_id", "stated").iter_rows():
        if sid not in pub:
            continue
        got = resolve_date(stated, lang.get(sid), pub[sid])
        if got:
            rows.append((cid, got[0], got[1]))
    if not rows:
        return claims
    r = pl.DataFrame(rows, schema={"claim_id": pl.Utf8, "_rlo": pl.Date, "_rhi": pl.Date}, orient="row")
    hit = pl.col("_rlo").is_not_null()
    return claims.join(r, on="claim_id", how="left", maintain_order="left").with_columns(
        pl.when(hit).then(pl.lit("relative")).otherwise(pl.col("qualifier")).alias("qualifier"),
        pl.when(hit).then(pl.col("_rlo")).otherwise(pl.col("date_low")).alias("date_low"),
        pl.when(hit).then(pl.col("_rhi")).otherwise(pl.col("date_high")).alias("date_high"),
    ).drop("_rlo", "_rhi")


def value_claims(claims: pl.DataFrame, table_name: str, sources: pl.DataFrame,
                  target: pl.DataFrame, key: str) -> pl.DataFrame:
    """The value claims of a table's rows, with what reconciliation needs: preference, width, the
    anchor (the stated figure as a total), as-of period, and whether the claim is in the reported
    group (for a running total: within the window of the latest as-of date; otherwise every claim)."""
    return _value_claims(claims, table_name, sources, target, key)[0]


def _value_claims(claims: pl.DataFrame, table_name: str, sources: pl.DataFrame,
                  target: pl.DataFrame, key: str) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """(:func:`value_claims`, the aggregate of its counted claims by ``target_id`` when it is
    already known: when no claim left the reported group as an earlier count of a series, the
    aggregate computed to find the series is that of the final group)."""
    running = metrics_with("running_total")
    window = running_total_window()
    c = (
        claims.filter((pl.col("target_table") == table_name) & (pl.col("target_column") == "value"))
        .join(sources.select("source_id", "kind", reporting_line().alias("line")), on="source_id", how="left")
        .join(target.select(pl.col(key).alias("target_id"), pl.col("metric").alias("_metric")),
              on="target_id", how="left")
        .with_columns(
            pl.col("kind").replace_strict(source_preference(), default=9).alias("pref"),
            (pl.col("high").fill_null(math.inf) - pl.col("low").fill_null(-math.inf)).alias("width"),
            (pl.col("figure") + pl.when(pl.col("excludes_home").fill_null(False)).then(1).otherwise(0))
            .alias("anchor"),
            pl.col("_metric").is_in(list(running)).alias("running"),
            pl.coalesce("as_of_latest", period_end("as_of", "as_of_precision")).alias("as_of_end"),
        )
        .with_columns((pl.col("as_of_end") - pl.col("as_of")).alias("as_of_width"))
    )
    # the latest as-of date of the claims on the same row (none for a claim without a target_id)
    latest = pl.when(pl.col("target_id").is_not_null()).then(pl.col("as_of").max().over("target_id"))
    # a claim whose as-of interval is wider than the window and starts before the window of the latest
    # merely overlaps it (a page known only within bounds): an earlier count of the series, which never
    # displaces the figure dated within the window
    overlaps_only = ((pl.col("as_of_width") > window) & (pl.col("as_of") < latest - window)).fill_null(False)
    recent = (~pl.col("running") | pl.col("as_of").is_null() | latest.is_null()
              | ((pl.col("as_of_end") >= latest - window) & ~overlaps_only))
    c = c.with_columns(recent.alias("current"))
    # an earlier claim that states the same figure as a recent one corroborates it (the count had not
    # moved); it never disputes the latest figure, as it cannot
    same = c.filter(pl.col("current") & pl.col("anchor").is_not_null()).select(
        "target_id", "anchor").unique().with_columns(pl.lit(True).alias("_same"))
    c = (c.join(same, on=["target_id", "anchor"], how="left", maintain_order="left")
         .with_columns((pl.col("current") | pl.col("_same").fill_null(False)).alias("current"))
         .drop("_metric", "_same"))
    # rising counts from one day or one week: the earlier counts leave the reported group
    agg = _aggregate(c.filter(counted(c)), "target_id")
    series = _series(c.filter(counted(c)), agg, "target_id")
    if series:
        return c.with_columns((pl.col("current") & ~pl.col("claim_id").is_in(series)).alias("current")), None
    return c, agg




def _reconcile_values(target: pl.DataFrame, key: str, table_name: str,
                      claims: pl.DataFrame, sources: pl.DataFrame,
                      keep: dict[str, pl.DataFrame] | None = None) -> pl.DataFrame:
    """value, bounds, sources' bounds, status, n_sources and as_of of outcomes or statistics.

    Only the claims of the reported group count (see :func:`value_claims`); within it the claims'
    intervals are intersected; when that is empty, the wording rule (same figure, different hedges)
    is tried; when that is empty too the figure is disputed. ``keep``: receives the value claims.
    """
    c, known = _value_claims(claims, table_name, sources, target, key)
    if keep is not None:
        keep[table_name] = c
    c = c.filter(counted(c))
    agg = _aggregate(c, key) if known is None else known.rename({"target_id": key})
    disputed = agg.filter(pl.col("status") == "disputed").get_column(key).to_list()
    if disputed:
        best = {tid: _majority(rows) for tid, rows in _claims_by_target(c, disputed).items()}
        col = pl.col(key)
        agg = agg.with_columns(
            col.replace_strict({k: v[0] for k, v in best.items()}, default=None, return_dtype=pl.Float64)
            .fill_null(pl.col("value")).alias("value"),
            pl.when(col.is_in(disputed)).then(
                col.replace_strict({k: v[1] for k, v in best.items()}, default=None, return_dtype=pl.Float64))
            .otherwise(pl.col("value_low")).alias("value_low"),
            pl.when(col.is_in(disputed)).then(
                col.replace_strict({k: v[2] for k, v in best.items()}, default=None, return_dtype=pl.Float64))
            .otherwise(pl.col("value_high")).alias("value_high"),
        )
    # a statistic's as_of is the date it describes, dated by its own date claims
    derived_cols = [c for c in agg.columns if c != key and c in target.columns
                    and not (table_name == "statistics" and c.startswith("as_of"))]
    out = target.join(agg, on=key, how="left", suffix="_d")
    has = pl.col("status_d").is_not_null()
    return out.with_columns(
        [pl.when(has).then(pl.col(f"{c}_d")).otherwise(pl.col(c)).alias(c) for c in derived_cols]
    ).select(target.columns)


def _series(c: pl.DataFrame, agg: pl.DataFrame, key: str) -> list[str]:
    """Claim ids that are earlier counts of a rising series: for each disputed running total whose
    claims' as-of dates start within ``series_span`` of each other and never fall (a claim dated later
    is never below one dated earlier), every claim whose widened interval does not allow the top figure
    (the highest stated among the latest). Rising counts from one day or one week are a series, not a
    dispute. (In polars, one pass over the disputed totals' claims; independent of their order.)"""
    disputed = agg.filter(pl.col("status") == "disputed").select(pl.col(key).alias("target_id"))
    if disputed.is_empty():
        return []
    g = (c.select("target_id", "claim_id", "running", "as_of", "low", "high", "anchor")
         .join(disputed, on="target_id", how="semi", maintain_order="left"))
    tid = "target_id"
    # every claim of the total dated and with a figure (else nothing can be ordered), all within the span
    orderable = g.group_by(tid).agg(
        (pl.col("running").fill_null(False) & pl.col("as_of").is_not_null()).all().alias("_ok"),
        pl.col("anchor").null_count().alias("_nulls"),
        (pl.col("as_of").max() - pl.col("as_of").min()).alias("_span"),
    ).filter(pl.col("_ok") & (pl.col("_nulls") == 0) & (pl.col("_span") <= series_span())).select(tid)
    g = g.join(orderable, on=tid, how="semi", maintain_order="left")
    if g.is_empty():
        return []
    # it falls when a claim is below one dated earlier: below the highest figure of the earlier dates
    by_day = g.group_by(tid, "as_of").agg(pl.col("anchor").max().alias("_hi"), pl.col("anchor").min().alias("_lo"))
    falls = by_day.sort(tid, "as_of").with_columns(
        pl.col("_hi").cum_max().shift(1).over(tid).alias("_before")
    ).filter(pl.col("_lo") < pl.col("_before")).select(tid).unique()
    g = g.join(falls, on=tid, how="anti", maintain_order="left")
    lo_w = pl.min_horizontal("low", "anchor")  # the interval widened to include its stated figure
    hi_w = pl.when(pl.col("high").is_null()).then(None).otherwise(pl.max_horizontal("high", "anchor"))
    g = g.with_columns(lo_w.alias("_lo"), hi_w.alias("_hi"))
    # the top figure: the highest stated figure among the latest. An earlier count is a claim whose
    # widened interval does not allow it (so which of several claims stating it is "the top" is moot:
    # the result never depends on the order of the claims)
    top = g.group_by(tid).agg(pl.col("anchor").filter(pl.col("as_of") == pl.col("as_of").max()).max().alias("_t"))
    miss = ((pl.col("_hi") < pl.col("_t")).fill_null(False) | (pl.col("_lo") > pl.col("_t")).fill_null(False))
    return sorted(g.join(top, on=tid, how="left").filter(miss).get_column("claim_id").to_list())


def _aggregate(c: pl.DataFrame, key: str) -> pl.DataFrame:
    """The reported group's claims, aggregated per target: bounds, status, n_sources, as-of."""
    low_w = pl.min_horizontal("low", "anchor")   # interval widened to include its stated figure
    high_w = pl.max_horizontal("high", "anchor")
    # a claim whose as-of interval merely overlaps the latest (wider than the window) comes after one
    # dated within it: on a tie it never gives the reported figure
    c = c.with_columns((pl.col("running") & (pl.col("as_of_width") > running_total_window()))
                       .fill_null(False).alias("_wide"))
    used = c.select("claim_id", "target_id", "source_id", "line", "pref", "width", "low", "high", "anchor", "as_of",
                    "as_of_precision", "as_of_end", "as_of_width", "_wide")
    if ascending(used.get_column("claim_id")):
        # claim ids distinct and ascending (the claims table is stored in that order): a stable sort on
        # preference and width orders the claims as sorting on (pref, width, claim_id) does
        ordered = used.sort(["_wide", "pref", "width"], maintain_order=True)
    else:
        ordered = used.sort(["_wide", "pref", "width", "claim_id"])
    return (
        ordered
        .with_columns(low_w.alias("w_low"),
                      pl.when(pl.col("high").is_null()).then(None).otherwise(high_w).alias("w_high"))
        .group_by("target_id", maintain_order=True)
        .agg(
            pl.col("low").max().alias("i_low"),
            pl.col("high").min().alias("i_high"),
            pl.col("w_low").max().alias("w_low"),
            pl.col("w_high").min().alias("w_high"),
            pl.col("low").min().alias("u_low"),
            pl.col("high").max().alias("u_high"),
            pl.col("low").null_count().alias("low_nulls"),
            pl.col("high").null_count().alias("high_nulls"),
            pl.col("source_id").n_unique().alias("n_sources"),
            pl.col("line").n_unique().alias("n_lines"),
            pl.col("anchor").first().alias("pref_anchor"),
            pl.col("low").first().alias("pref_low"),
            pl.col("as_of").max().alias("as_of_d"),  # the last as_of once sorted with nulls first
        )
        # the precision and last day of the latest as-of date, from the claim that gives it with the
        # narrowest as-of interval, then the most preferred (the claims are in preference order). Picked
        # outside the aggregation: polars 2.2 returned garbage dates, at random, for sort_by().first() of a
        # filtered column inside group_by (seen on the benchmark's synthetic data)
        .join(ordered.select("target_id", "as_of", "as_of_width", "as_of_precision", "as_of_end")
              .filter(pl.col("as_of") == pl.col("as_of").max().over("target_id"))
              .sort("as_of_width", maintain_order=True, nulls_last=True)
              .group_by("target_id", maintain_order=True)
              .agg(pl.col("as_of_precision").first().alias("as_of_precision_d"),
                   pl.col("as_of_end").first().alias("as_of_latest_d")),
              on="target_id", how="left", maintain_order="left")
        .with_columns(
            (pl.col("i_low").is_not_null() & pl.col("i_high").is_not_null()
             & (pl.col("i_low") > pl.col("i_high"))).alias("empty"),
            (pl.col("w_low").is_not_null() & pl.col("w_high").is_not_null()
             & (pl.col("w_low") > pl.col("w_high"))).alias("w_empty"),
        )
        .with_columns(
            (pl.col("empty") & pl.col("w_empty")).alias("disputed"),
            (pl.col("empty") & ~pl.col("w_empty")).alias("wording"),
        )
        .with_columns(
            pl.when(pl.col("wording")).then(pl.col("w_low")).otherwise(pl.col("i_low")).alias("value_low"),
            pl.when(pl.col("wording")).then(pl.col("w_high")).otherwise(pl.col("i_high")).alias("value_high"),
            pl.when(pl.col("low_nulls") > 0).then(None).otherwise(pl.col("u_low")).alias("sources_low"),
            pl.when(pl.col("high_nulls") > 0).then(None).otherwise(pl.col("u_high")).alias("sources_high"),
            pl.when(pl.col("disputed")).then(pl.lit("disputed"))
            .when(pl.col("n_lines") >= 2).then(pl.lit("corroborated"))
            .otherwise(pl.lit("single_source")).alias("status"),
        )
        .with_columns(
            pl.when(pl.col("wording")).then(pl.col("pref_anchor")).otherwise(
                pl.coalesce("pref_anchor", "pref_low", "value_low", "value_high"))
            .clip(pl.col("value_low"), pl.col("value_high")).alias("value")
        )
        .select(pl.col("target_id").alias(key), "value", "value_low", "value_high", "sources_low",
                "sources_high", "status", pl.col("n_sources").cast(pl.Int64),
                pl.col("as_of_d").alias("as_of"), pl.col("as_of_latest_d").alias("as_of_latest"),
                pl.col("as_of_precision_d").alias("as_of_precision"))
    )












def derive_all(tables: dict[str, pl.DataFrame], archive: Path | None = None) -> dict[str, pl.DataFrame]:
    """Every derived column recomputed from the claims (and the archive, when given)."""
    return derive_all_with_phrases(tables, archive)[0]


def derive_all_with_phrases(tables: dict[str, pl.DataFrame], archive: Path | None = None,
                            value_claims_of: dict[str, pl.DataFrame] | None = None
                            ) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """:func:`derive_all`, also returning what each claim's phrase implies (``phrase_frame``).
    ``value_claims_of``, when given, receives the value claims (:func:`value_claims` of the derived
    claims) of each table reconciled from figure claims."""
    out = dict(tables)
    kept: dict[str, pl.DataFrame] = {} if value_claims_of is None else value_claims_of
    out["sources"] = derive_sources(tables["sources"], archive)
    claims, phrases = derive_claims({**tables, "sources": out["sources"]}, archive)
    out["claims"] = claims
    # claim targets with a `value` column are reconciled from figure claims, the others from date claims only
    value_tables = [name for name, cols in target_columns().items() if "value" in cols]
    for name in value_tables:
        df = _reconcile_values(tables[name], claim_keys()[name], name, claims, out["sources"], kept)
        units = {m: metric_unit(m) for m in vocabularies()["metric"]}
        df = df.with_columns(pl.col("metric").replace_strict(units, default=None).alias("unit")
                             if df.height else pl.col("unit"))
        out[name] = _reconcile_dates(df, name, claims)
    for name in claim_keys():
        if name not in value_tables:
            out[name] = _reconcile_dates(tables[name], name, claims)
    if "outcomes" in value_tables:
        out["outcomes"] = bound_by_parts(out["outcomes"])
    # the headline's value claims are those just computed: the same claims, sources and outcome metrics
    out["headline"] = derive_headline(out, kept.get("outcomes"))
    return out, phrases










def headline_outcomes(outcomes: pl.DataFrame, scope: str | None = None) -> pl.DataFrame:
    """The outcomes a headline figure can come from (``[from_outcomes]`` of schemas/headline.toml):
    none of its ``unset`` columns set, a headline metric, and the given scope (default: the first of
    its ``scopes``, worldwide)."""
    unset, scopes = headline_from()
    keep = pl.col("metric").is_in(list(headline_metrics())) & (pl.col("scope") == (scope or scopes[0]))
    for c in unset:
        keep = keep & pl.col(c).is_null()
    return outcomes.filter(keep)


def headline_choice(outcomes: pl.DataFrame) -> pl.DataFrame:
    """One outcome per (operation, headline metric): of the declared scopes, the first the operation has
    a figure for; a scope after the first only when it holds exactly one figure (one country's arrests
    stand in for a missing worldwide count; five countries' arrests do not)."""
    _unset, scopes = headline_from()
    chosen = []
    taken = pl.DataFrame(schema={"operation_id": pl.Utf8, "metric": pl.Utf8})
    for i, sc in enumerate(scopes):
        cand = headline_outcomes(outcomes, sc).join(taken, on=["operation_id", "metric"], how="anti")
        if i > 0:
            cand = cand.filter(pl.len().over("operation_id", "metric") == 1)
        cand = cand.sort("outcome_id").unique(["operation_id", "metric"], keep="first", maintain_order=True)
        chosen.append(cand)
        taken = pl.concat([taken, cand.select("operation_id", "metric")])
    return pl.concat(chosen) if chosen else outcomes.clear()


def derive_headline(t: dict[str, pl.DataFrame], outcome_claims: pl.DataFrame | None = None) -> pl.DataFrame:
    """The headline table: one row per operation (see ``schemas/headline.toml``). ``outcome_claims``:
    the value claims of ``t["outcomes"]`` (:func:`value_claims` of ``t``'s claims and sources), when
    already computed."""
    from opsledger.derive.display import displays

    decl = declaration("headline")
    ops = t["operations"]
    outcomes = t["outcomes"]
    # the year: from the first date in the declared order ([year] of schemas/headline.toml) that gives one
    ev_year = t["events"].filter(pl.col("date").is_not_null()).group_by("operation_id").agg(
        pl.col("date").min().dt.year().alias("_events"))
    # a date gives a year only when its interval lies within one calendar year
    cl_year = t["claims"].filter(pl.col("operation_id").is_not_null() & pl.col("as_of").is_not_null()
                                 & (pl.col("as_of").dt.year() == pl.col("as_of_latest").dt.year())).group_by(
        "operation_id").agg(pl.col("as_of").min().dt.year().alias("_claims"))

    def one_year(col: str) -> pl.Expr:
        return pl.when(pl.col(col).dt.year() == pl.col(f"{col}_latest").dt.year()).then(pl.col(col).dt.year())

    years = {"announced": one_year("announced"), "launched": one_year("launched"),
             "events": pl.col("_events"), "claims": pl.col("_claims")}
    order = year_order()
    year_from: pl.Expr = pl.lit(None, pl.Utf8)
    for name in reversed(order):
        year_from = pl.when(years[name].is_not_null()).then(pl.lit(name)).otherwise(year_from)
    counts = outcomes.group_by("operation_id").agg(
        pl.len().cast(pl.Int64).alias("n_outcomes"),
        (pl.col("status") == "disputed").sum().cast(pl.Int64).alias("n_disputed"))
    h = (
        ops.join(ev_year, on="operation_id", how="left").join(cl_year, on="operation_id", how="left")
        .join(counts, on="operation_id", how="left")
        .with_columns(
            pl.coalesce([years[name] for name in order]).cast(pl.Int64).alias("year"),
            year_from.alias("year_from"),
            pl.col("n_outcomes").fill_null(0), pl.col("n_disputed").fill_null(0),
        )
    )
    heads = headline_choice(outcomes)
    vc = (outcome_claims if outcome_claims is not None
          else value_claims(t["claims"], "outcomes", t["sources"], outcomes, "outcome_id"))
    vc = vc.filter(counted(vc))
    heads = heads.join(displays(heads, vc, with_scope=True, parts_low=parts_low(outcomes)), on="outcome_id", how="left")
    for metric in headline_metrics():
        m = heads.filter(pl.col("metric") == metric).select(
            "operation_id",
            pl.col("value").alias(metric), pl.col("value_low").alias(f"{metric}_low"),
            pl.col("value_high").alias(f"{metric}_high"), pl.col("status").alias(f"{metric}_status"),
            pl.col("n_sources").alias(f"{metric}_n_sources"), pl.col("as_of").alias(f"{metric}_as_of"),
            pl.col("scope").alias(f"{metric}_scope"), pl.col("display").alias(f"{metric}_display"),
            pl.col("as_of_latest").alias(f"{metric}_as_of_latest"),
            pl.col("as_of_precision").alias(f"{metric}_as_of_precision"),
        )
        h = h.join(m, on="operation_id", how="left")
    return h.select(decl.columns).sort("operation_id")


def shown_figures(t: dict[str, pl.DataFrame], keys: dict[str, set] | None = None) -> dict[tuple[str, Any], str]:
    """(table, key) -> how a reader sees each outcome and statistic (of ``keys`` per table, else all):
    its preferred claim's phrase with its range and, where not worldwide, its scope, as the headline's
    ``*_display`` and the site show it (never 91 for "more than 90")."""
    from opsledger.derive.display import displays

    out: dict[tuple[str, Any], str] = {}
    if "claims" not in t or "sources" not in t:
        return out
    for name, key in (("outcomes", "outcome_id"), ("statistics", "statistic_id")):
        rows = t.get(name)
        if rows is None or rows.is_empty() or (keys is not None and not keys.get(name)):
            continue
        if keys is not None:
            rows = rows.filter(pl.col(key).is_in(list(keys[name])))
        rows = rows.rename({key: "outcome_id"}) if key != "outcome_id" else rows
        vc = value_claims(t["claims"], name, t["sources"], rows, "outcome_id")
        vc = vc.filter(counted(vc))
        low = parts_low(t[name]) if name == "outcomes" else None
        for k, text in displays(rows, vc, with_scope=True, parts_low=low).iter_rows():
            if text:
                out[(name, k)] = text
    return out


def show_figures(diff: Diff, old: dict[str, pl.DataFrame], new: dict[str, pl.DataFrame]) -> Diff:
    """The diff with each moved figure's text on either side (:func:`shown_figures`), for
    :meth:`Diff.figures_text`."""
    keys: dict[str, set] = {}
    for f in diff.figures():
        keys.setdefault(f["table"], set()).add(f["key"])
    if keys:
        diff.shown_old = shown_figures(old, keys)
        diff.shown_new = shown_figures(new, keys)
    return diff


def rederive(data_dir=None, archive=DEFAULT_ARCHIVE, write: bool = False) -> Diff:
    """Recompute every derived column of a data directory; with ``write``, store the result (the old
    tables are kept in ``.backup/``). Returns the row-level changes (:class:`~opsledger.derive.tablediff.Diff`).
    ``archive`` is the source archive (default: ``../shared/sources`` when present; None: none).

    Needed after a change to the phrase or reconciliation rules themselves; curated data changes go
    through change sets, which re-derive on their own.
    """
    from opsledger.data import io as oio

    import contextlib

    archive = oio.source_archive(archive)
    data_dir = oio.path_arg(data_dir, "data_dir") or oio.default_data_dir()
    oio.flag_arg(write, "write")
    # writing: one lock from reading the tables to writing them, so no change set lands in between
    with oio.locked(data_dir) if write and data_dir.is_dir() else contextlib.nullcontext():
        tables = oio.read_tables(data_dir)
        derived = derive_all(tables, archive)
        changes = diff_tables(tables, derived)
        if write and changes.any_changed():
            oio.write_tables(derived, data_dir)
    return changes


__all__ = ["derive_all", "derive_headline", "headline_outcomes", "derive_all_with_phrases", "rederive", "phrase_frame", "locate", "archive_text"]
