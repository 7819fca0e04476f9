"""Totals and their parts: the sum of an outcome's disjoint parts (its countries together; a country and
everything outside it) is a lower bound on the total (:func:`bound_by_parts`)."""

from __future__ import annotations


import polars as pl

from opsledger.derive.periods import period_end, running_total_window

from opsledger.declarations import (metrics_with)



def _dimension() -> pl.Expr:
    return (pl.when(pl.col("offender_role").is_not_null()).then(pl.lit("offender"))
            .when(pl.col("subgroup").is_not_null()).then(pl.lit("subgroup"))
            .otherwise(pl.col("scope")))


def parts_sums(outcomes: pl.DataFrame) -> pl.DataFrame:
    """What the parts of each total say about it: one row per total and set of disjoint parts, with
    ``dim`` (what the parts are), ``n`` and ``sum_low``, the least the parts add up to.

    Disjoint parts add up, and their sum is a lower bound on their total: the countries of a total
    together; a country XX with the region ``outside_XX`` (everything outside that country); any
    other region or subgroup on its own (regions and subgroups may overlap). Only parts of additive
    metrics add up, and for a running total only parts dated by the total's own date (within the
    window) count."""
    o = outcomes
    window = running_total_window()
    total_date = o.select(pl.col("outcome_id").alias("part_of"), period_end("as_of", "as_of_precision").alias("_t_end"))
    running = list(metrics_with("running_total"))
    parts = (o.filter(pl.col("part_of").is_not_null() & pl.col("offender_role").is_null()
                      & (pl.col("part_of") != pl.col("outcome_id")))
             .join(total_date, on="part_of", how="left")
             .filter(~pl.col("metric").is_in(running) | pl.col("as_of").is_null() | pl.col("_t_end").is_null()
                     | (pl.col("as_of") <= pl.col("_t_end") + window))
             .with_columns(_dimension().alias("dim")))
    additive = pl.col("metric").is_in(sorted(metrics_with("additive")))
    countries = parts.filter((pl.col("dim") == "country") & additive)
    summed = countries.group_by("part_of").agg(
        pl.lit("country").alias("dim"), pl.col("value_low").fill_null(0).sum().alias("sum_low"), pl.len().alias("n"))
    # "outside XX" and the country XX are disjoint: together they are the whole
    outside = parts.filter((pl.col("dim") == "region") & additive & pl.col("area").str.contains(r"^outside_[a-z]{2}$"))
    home = countries.select("part_of", pl.col("country").str.to_lowercase().alias("_cc"), pl.col("value_low").alias("_home"))
    paired = (outside.with_columns(pl.col("area").str.slice(8).alias("_cc")).join(home, on=["part_of", "_cc"], how="inner")
              .select("part_of", pl.format("country {} and region {}", pl.col("_cc").str.to_uppercase(), pl.col("area"))
                      .alias("dim"), (pl.col("value_low").fill_null(0) + pl.col("_home").fill_null(0)).alias("sum_low"),
                      pl.lit(2, pl.UInt32).alias("n")))
    single = parts.filter((pl.col("dim") != "country") | ~additive).select(
        "part_of", pl.format("{} {}", pl.col("dim"), pl.col("outcome_id")).alias("dim"),
        pl.col("value_low").alias("sum_low"), pl.lit(1, pl.UInt32).alias("n"))
    return pl.concat([summed.select("part_of", "dim", "sum_low", pl.col("n").cast(pl.UInt32)), paired, single],
                     how="vertical_relaxed").with_columns(pl.col("sum_low").cast(pl.Float64))


def parts_low(outcomes: pl.DataFrame) -> pl.DataFrame:
    """(outcome_id, parts_low): the largest sum of disjoint parts of each total (:func:`parts_sums`)."""
    return parts_sums(outcomes).filter(pl.col("sum_low").is_not_null()).group_by("part_of").agg(
        pl.col("sum_low").max().alias("parts_low")).rename({"part_of": "outcome_id"})


def bound_by_parts(outcomes: pl.DataFrame) -> pl.DataFrame:
    """Totals read with their parts: the largest sum of disjoint parts (:func:`parts_sums`) is a lower
    bound on the total. Where the total's claims allow it, it raises ``value_low`` (and the value, if
    below); where they do not (the parts add up to more than the total allows), the total is
    ``disputed``: its claims and its parts cannot both hold, and ``sources_low``/``sources_high`` span
    both readings."""
    if outcomes.is_empty():
        return outcomes
    best = parts_low(outcomes).rename({"parts_low": "_parts"})
    if best.is_empty():
        return outcomes
    j = outcomes.join(best, on="outcome_id", how="left")
    p = pl.col("_parts")
    above = p.is_not_null() & (pl.col("value_low").is_null() | (p > pl.col("value_low")))
    clash = above & pl.col("value_high").is_not_null() & (p > pl.col("value_high"))
    raise_low = above & ~clash & (pl.col("status") != "disputed")
    return j.with_columns(
        pl.when(raise_low).then(p).otherwise(pl.col("value_low")).alias("value_low"),
        pl.when(raise_low & (pl.col("value") < p)).then(p).otherwise(pl.col("value")).alias("value"),
        pl.when(clash).then(pl.lit("disputed")).otherwise(pl.col("status")).alias("status"),
        pl.when(clash & pl.col("sources_high").is_not_null()).then(pl.max_horizontal("sources_high", p))
        .otherwise(pl.col("sources_high")).alias("sources_high"),
    ).select(outcomes.columns)
