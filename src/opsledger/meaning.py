"""Frames of the meaning rules: what a figure covers (scope), when it is true (as-of) and what it is
part of. Each frame has one row per thing checked (``row_key``, ``table``, ``sources``, ``detail``)
and a boolean column the suite ``checks/suites/meaning.json`` expects to be true."""

from __future__ import annotations


import polars as pl

from opsledger import fmt

from opsledger.metadata import metrics_with, vocabularies
from opsledger.reconcile import headline_outcomes, period_end, running_total_window, value_claims

#: units whose figures do not add up across parts
NOT_ADDITIVE = {"months", "days", "percent"}


def _scope_ok(df: pl.DataFrame) -> pl.Expr:
    s = pl.col("scope")
    return (
        ((s == "worldwide") & pl.col("country").is_null() & pl.col("area").is_null())
        | ((s == "country") & pl.col("country").is_not_null() & pl.col("area").is_null())
        | ((s == "region") & pl.col("area").is_not_null() & pl.col("country").is_null())
    ).fill_null(False)


def _where() -> pl.Expr:
    return pl.format("scope {} (country {}, area {})", pl.col("scope").fill_null("null"),
                     pl.col("country").fill_null("none"), pl.col("area").fill_null("none"))


def frame_scope_columns(t) -> pl.DataFrame:
    """A row's scope names its place exactly: a country for `country`, an area for `region`, neither
    for `worldwide`."""
    parts = []
    for name, key in (("claims", "claim_id"), ("outcomes", "outcome_id")):
        df = t[name]
        src = pl.col("source_id") if name == "claims" else pl.lit("")
        parts.append(df.select(pl.col(key).alias("row_key"), pl.lit(name).alias("table"), src.alias("sources"),
                               _scope_ok(df).alias("scope_ok"), _where().alias("detail")))
    return pl.concat(parts)


def frame_claim_scope(t) -> pl.DataFrame:
    """A claim covers the same area as the outcome it supports."""
    o = t["outcomes"].select(pl.col("outcome_id").alias("target_id"), pl.col("scope").alias("t_scope"),
                             pl.col("country").alias("t_country"), pl.col("area").alias("t_area"))
    c = t["claims"].filter(pl.col("target_table") == "outcomes").join(o, on="target_id", how="inner")
    same = (pl.col("scope").eq_missing(pl.col("t_scope")) & pl.col("country").eq_missing(pl.col("t_country"))
            & pl.col("area").eq_missing(pl.col("t_area")))
    return c.select(
        pl.col("claim_id").alias("row_key"), pl.lit("claims").alias("table"), pl.col("source_id").alias("sources"),
        same.alias("same_scope"),
        pl.format("the claim covers {} {}/{}, its outcome {} covers {} {}/{}", pl.col("scope"),
                  pl.col("country").fill_null("-"), pl.col("area").fill_null("-"), pl.col("target_id"),
                  pl.col("t_scope"), pl.col("t_country").fill_null("-"), pl.col("t_area").fill_null("-"))
        .alias("detail"),
    )


def frame_offender_role(t) -> pl.DataFrame:
    """offender_role only on rows about one offender, with a metric that can describe one person."""
    per = list(metrics_with("per_offender"))
    o = t["outcomes"].filter(pl.col("offender_role").is_not_null())
    return o.select(
        pl.col("outcome_id").alias("row_key"), pl.lit("outcomes").alias("table"), pl.lit("").alias("sources"),
        pl.col("metric").is_in(per).alias("per_offender"),
        pl.format("offender_role {} on metric {}, which counts more than one person; use subgroup or a scope",
                  pl.col("offender_role"), pl.col("metric")).alias("detail"),
    )


def _dimension() -> pl.Expr:
    return (pl.when(pl.col("offender_role").is_not_null()).then(pl.lit("offender"))
            .when(pl.col("subgroup").is_not_null()).then(pl.lit("subgroup"))
            .otherwise(pl.col("scope")))


def frame_part_of(t) -> pl.DataFrame:
    """A breakdown is of the same quantity as its total: same operation and metric, and it is
    narrower (a place, a subgroup or one offender)."""
    o = t["outcomes"]
    tot = o.select(pl.col("outcome_id").alias("part_of"), pl.col("operation_id").alias("t_op"),
                   pl.col("metric").alias("t_metric"))
    p = o.filter(pl.col("part_of").is_not_null()).join(tot, on="part_of", how="left")
    ok = (pl.col("operation_id").eq_missing(pl.col("t_op")) & pl.col("metric").eq_missing(pl.col("t_metric"))
          & (_dimension() != "worldwide") & (pl.col("part_of") != pl.col("outcome_id")))
    return p.select(
        pl.col("outcome_id").alias("row_key"), pl.lit("outcomes").alias("table"), pl.lit("").alias("sources"),
        ok.fill_null(False).alias("same_quantity"),
        pl.format("part_of {} ({} of {}); this row: {} of {}, {}", pl.col("part_of"),
                  pl.col("t_metric").fill_null("?"), pl.col("t_op").fill_null("?"), pl.col("metric"),
                  pl.col("operation_id"), _dimension()).alias("detail"),
    )


def frame_breakdown_named(t) -> pl.DataFrame:
    """A breakdown (a country, a region, a subgroup) of a metric that also has a worldwide total in
    the same operation names that total in part_of, so it is never read as the total."""
    o = t["outcomes"]
    totals = headline_candidates(o).select("operation_id", "metric", pl.col("outcome_id").alias("total"))
    parts = o.filter((_dimension().is_in(["country", "region", "subgroup"])) & pl.col("part_of").is_null())
    j = parts.join(totals, on=["operation_id", "metric"], how="inner")
    return j.select(
        pl.col("outcome_id").alias("row_key"), pl.lit("outcomes").alias("table"), pl.lit("").alias("sources"),
        pl.lit(False).alias("names_total"),
        pl.format("a {} breakdown of {} while the operation has the total {}; set part_of",
                  _dimension(), pl.col("metric"), pl.col("total")).alias("detail"),
    ).unique("row_key")


def headline_candidates(o: pl.DataFrame) -> pl.DataFrame:
    return o.filter((pl.col("scope") == "worldwide") & pl.col("part_of").is_null()
                    & pl.col("subgroup").is_null() & pl.col("offender_role").is_null())


def frame_parts_within_total(t) -> pl.DataFrame:
    """The parts of one total, along one dimension (countries, regions, subgroups), add up to no
    more than the total allows. Regions and subgroups may overlap, so each of them is checked on its
    own, and countries together. For a running total only the parts dated by the total's own date
    (within the window) count: a later country count may exceed an earlier worldwide one."""
    o = t["outcomes"]
    window = running_total_window()
    total_date = o.select(pl.col("outcome_id").alias("part_of"), period_end("as_of", "as_of_precision").alias("_t_end"))
    running = list(metrics_with("running_total"))
    # a running total is compared with the parts counted by its own date, not with later counts
    parts = (o.filter(pl.col("part_of").is_not_null() & pl.col("offender_role").is_null())
             .join(total_date, on="part_of", how="left")
             .filter(~pl.col("metric").is_in(running) | pl.col("as_of").is_null() | pl.col("_t_end").is_null()
                     | (pl.col("as_of") <= pl.col("_t_end") + window))
             .with_columns(_dimension().alias("dim")))
    # only quantities that add up are summed (counts, money, volumes); durations and ages are not
    additive = [m for m, spec in vocabularies()["metric"].items() if spec["unit"] not in NOT_ADDITIVE]
    summed = (parts.filter((pl.col("dim") == "country") & pl.col("metric").is_in(additive))
              .group_by("part_of", "dim")
              .agg(pl.col("value_low").sum().alias("sum_low"), pl.len().alias("n")))
    single = parts.filter((pl.col("dim") != "country") | ~pl.col("metric").is_in(additive)).select(
        "part_of", pl.format("{} {}", pl.col("dim"), pl.col("outcome_id")).alias("dim"),
        pl.col("value_low").alias("sum_low"), pl.lit(1, pl.UInt32).alias("n"))
    tot = o.select(pl.col("outcome_id").alias("part_of"), pl.col("value_high").alias("t_high"))
    j = pl.concat([summed, single]).join(tot, on="part_of", how="inner")
    return j.select(
        pl.col("part_of").alias("row_key"), pl.lit("outcomes").alias("table"), pl.lit("").alias("sources"),
        (pl.col("t_high").is_null() | (pl.col("sum_low") <= pl.col("t_high"))).alias("within_total"),
        pl.format("{} part(s) by {} add up to at least {}; the total allows at most {}", pl.col("n"),
                  pl.col("dim"), fmt.num_token("sum_low"),
                  pl.when(pl.col("t_high").is_null()).then(pl.lit("any")).otherwise(fmt.num_token("t_high"))
                  ).alias("detail"),
    )


def frame_running_totals(t) -> pl.DataFrame:
    """A running total never falls: no claim dated later (beyond the window) allows only less than a
    claim dated earlier allows at least."""
    c = value_claims(t["claims"], "outcomes", t["sources"], t["outcomes"], "outcome_id").filter(
        pl.col("running") & pl.col("as_of").is_not_null())
    early = c.select("target_id", pl.col("claim_id").alias("e_id"), pl.col("as_of_end").alias("e_end"),
                     pl.col("low").alias("e_low"), pl.col("stated").alias("e_stated"),
                     pl.col("source_id").alias("e_src"))
    late = c.select("target_id", "claim_id", "as_of", "high", "stated", "source_id")
    window = running_total_window()
    # claims within the window are the same count at the same time: a difference there is a dispute
    j = late.join(early, on="target_id").filter(
        (pl.col("as_of") > pl.col("e_end") + window) & pl.col("high").is_not_null() & pl.col("e_low").is_not_null()
        & (pl.col("high") < pl.col("e_low")))
    return j.select(
        pl.col("target_id").alias("row_key"), pl.lit("outcomes").alias("table"),
        pl.format("{},{}", pl.col("e_src"), pl.col("source_id")).alias("sources"),
        pl.lit(False).alias("never_falls"),
        pl.format("{} ({}, as of {}) is below the earlier {} ({})", pl.col("stated"), pl.col("claim_id"),
                  pl.col("as_of"), pl.col("e_stated"), pl.col("e_id")).alias("detail"),
    ).unique(["row_key", "detail"])


def frame_disputed_sources(t) -> pl.DataFrame:
    """A dispute is a disagreement between sources: a disputed row has two or more."""
    parts = []
    for name, key in (("outcomes", "outcome_id"), ("statistics", "statistic_id")):
        d = t[name].filter(pl.col("status") == "disputed")
        parts.append(d.select(pl.col(key).alias("row_key"), pl.lit(name).alias("table"), pl.lit("").alias("sources"),
                              (pl.col("n_sources") >= 2).alias("two_sources"),
                              pl.format("disputed with {} source(s): a source that contradicts itself is a "
                                        "curation question, not a dispute", pl.col("n_sources")).alias("detail")))
    return pl.concat(parts)


def frame_claim_as_of(t) -> pl.DataFrame:
    """A figure cannot be true at a date after its source was published."""
    s = t["sources"].select("source_id", "published", "published_precision")
    c = t["claims"].filter(pl.col("as_of").is_not_null()).join(s, on="source_id", how="left")
    return c.select(
        pl.col("claim_id").alias("row_key"), pl.lit("claims").alias("table"), pl.col("source_id").alias("sources"),
        (pl.col("published").is_null() | (pl.col("as_of") <= period_end("published", "published_precision")))
        .alias("not_after_source"),
        pl.format("as_of {} is after the source's publication {}", pl.col("as_of"), pl.col("published"))
        .alias("detail"),
    )


def frame_headline_unique(t) -> pl.DataFrame:
    """At most one worldwide, unbroken outcome per operation and headline metric."""
    h = headline_outcomes(t["outcomes"]).group_by("operation_id", "metric").agg(
        pl.col("outcome_id").sort().str.join(", ").alias("ids"), pl.len().alias("n"))
    return h.select(
        pl.format("{}.{}", pl.col("operation_id"), pl.col("metric")).alias("row_key"),
        pl.lit("outcomes").alias("table"), pl.lit("").alias("sources"),
        (pl.col("n") == 1).alias("one_total"),
        pl.format("{} worldwide totals: {}", pl.col("n"), pl.col("ids")).alias("detail"),
    )


def frames(t) -> dict[str, pl.DataFrame]:
    return {
        "scope_columns": frame_scope_columns(t),
        "claim_scope": frame_claim_scope(t),
        "offender_role": frame_offender_role(t),
        "part_of": frame_part_of(t),
        "breakdown_named": frame_breakdown_named(t),
        "parts_within_total": frame_parts_within_total(t),
        "running_totals": frame_running_totals(t),
        "disputed_sources": frame_disputed_sources(t),
        "claim_as_of": frame_claim_as_of(t),
        "headline_unique": frame_headline_unique(t),
    }
