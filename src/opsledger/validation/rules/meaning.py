"""Meaning rules: what a figure covers (scope), when it is true (as-of) and what it is part of
(the figure model; README "What a figure means")."""

from __future__ import annotations

import polars as pl

from opsledger.data import fmt
from opsledger.declarations import metrics_with, scope_shapes
from opsledger.derive.reconcile import headline_outcomes, period_end, running_total_window
from opsledger.validation.rules.base import Inputs, frame


def parameters(x: Inputs) -> dict:
    return {"scope_shapes": scope_shapes(), "per_offender_metrics": sorted(metrics_with("per_offender")),
            "breakdowns": ["country", "region", "subgroup", "offender"]}


def _where(prefix: str = "") -> pl.Expr:
    return pl.format("{} {}/{}", pl.col(f"{prefix}scope").fill_null("null"), pl.col(f"{prefix}country").fill_null("-"),
                     pl.col(f"{prefix}area").fill_null("-"))


def _dimension() -> pl.Expr:
    return (pl.when(pl.col("offender_role").is_not_null()).then(pl.lit("offender"))
            .when(pl.col("subgroup").is_not_null()).then(pl.lit("subgroup"))
            .otherwise(pl.col("scope")))


@frame("scope_columns", sources="sources", detail=lambda: pl.format(
    "scope {} (country {}, area {})", pl.col("scope").fill_null("null"), pl.col("country").fill_null("none"),
    pl.col("area").fill_null("none")))
def scope_columns(x: Inputs) -> pl.DataFrame:
    """A row's scope names its place exactly: a country for `country`, an area for `region`, neither
    for `worldwide` (its shape, "scope|country|area", is one of ``[scope_shape]`` in schemas/vocabularies.toml)."""
    parts = []
    for name, key in (("claims", "claim_id"), ("outcomes", "outcome_id")):
        src = pl.col("source_id") if name == "claims" else pl.lit("")
        parts.append(x.t[name].select(
            pl.col(key).alias("row_key"), pl.lit(name).alias("table"), src.alias("sources"), "scope", "country", "area",
            pl.concat_str([pl.col("scope").fill_null("null"),
                           pl.when(pl.col("country").is_null()).then(pl.lit("-")).otherwise(pl.lit("country")),
                           pl.when(pl.col("area").is_null()).then(pl.lit("-")).otherwise(pl.lit("area"))],
                          separator="|").alias("shape")))
    return pl.concat(parts)


@frame("claim_scope", sources="source_id", detail=lambda: pl.format(
    "the claim covers {}, its outcome {} covers {}", pl.col("where"), pl.col("target_id"), pl.col("t_where")))
def claim_scope(x: Inputs) -> pl.DataFrame:
    """One row per claim on an outcome: the place it covers and the place its outcome covers."""
    o = x.t["outcomes"].select(pl.col("outcome_id").alias("target_id"), _where().alias("t_where"))
    c = x.t["claims"].filter(pl.col("target_table") == "outcomes").select(
        "claim_id", "source_id", "target_id", "scope", "country", "area").join(o, on="target_id", how="inner")
    return c.select(pl.col("claim_id").alias("row_key"), pl.lit("claims").alias("table"), "source_id",
                    "target_id", _where().alias("where"), "t_where")


@frame("offender_role", detail=lambda: pl.format(
    "offender_role {} on metric {}, which counts more than one person; use subgroup or a scope",
    pl.col("offender_role"), pl.col("metric")))
def offender_role(x: Inputs) -> pl.DataFrame:
    """One row per outcome about one offender: its metric (which must describe one person)."""
    return x.t["outcomes"].filter(pl.col("offender_role").is_not_null()).select(
        pl.col("outcome_id").alias("row_key"), pl.lit("outcomes").alias("table"), "offender_role", "metric")


@frame("part_of", detail=lambda: pl.format(
    "part_of {} ({}); this row: {} ({})", pl.col("part_of"), pl.col("total").fill_null("no other row"),
    pl.col("quantity"), pl.col("dimension")))
def part_of(x: Inputs) -> pl.DataFrame:
    """One row per breakdown: the quantity it counts (operation and metric), the quantity of the row
    it names as its total (null when it names itself) and the dimension it is narrower along."""
    o = x.t["outcomes"]
    q = pl.format("{} of {}", pl.col("metric"), pl.col("operation_id"))
    tot = o.select(pl.col("outcome_id").alias("part_of"), q.alias("total"))
    p = o.filter(pl.col("part_of").is_not_null()).join(tot, on="part_of", how="left")
    return p.select(
        pl.col("outcome_id").alias("row_key"), pl.lit("outcomes").alias("table"), "part_of", q.alias("quantity"),
        pl.when(pl.col("part_of") != pl.col("outcome_id")).then(pl.col("total")).alias("total"),
        _dimension().alias("dimension"))


def headline_candidates(o: pl.DataFrame) -> pl.DataFrame:
    return o.filter((pl.col("scope") == "worldwide") & pl.col("part_of").is_null()
                    & pl.col("subgroup").is_null() & pl.col("offender_role").is_null())


@frame("breakdown_named", detail=lambda: pl.format(
    "a {} breakdown of {} while the operation has the total {}; set part_of", pl.col("dimension"),
    pl.col("metric"), pl.col("total")))
def breakdown_named(x: Inputs) -> pl.DataFrame:
    """One row per breakdown (a country, a region, a subgroup) of a metric that also has a worldwide
    total in the same operation, with the part_of it names (it must name one)."""
    o = x.t["outcomes"]
    totals = headline_candidates(o).group_by("operation_id", "metric").agg(
        pl.col("outcome_id").sort().first().alias("total"))
    parts = o.with_columns(_dimension().alias("dimension")).filter(
        pl.col("dimension").is_in(["country", "region", "subgroup"]))
    return parts.join(totals, on=["operation_id", "metric"], how="inner").select(
        pl.col("outcome_id").alias("row_key"), pl.lit("outcomes").alias("table"), "part_of", "dimension",
        "metric", "total")


@frame("parts_within_total", detail=lambda: pl.format(
    "{} part(s) by {} add up to at least {}; the total allows at most {}", pl.col("n"), pl.col("dim"),
    fmt.num_token("sum_low"), fmt.num_token("t_high")))
def parts_within_total(x: Inputs) -> pl.DataFrame:
    """The parts of one total, along one dimension, add up to no more than the total allows. Regions
    and subgroups may overlap, so each is checked on its own, countries together. For a running total
    only the parts dated by the total's own date (within the window) count."""
    o = x.t["outcomes"]
    window = running_total_window()
    total_date = o.select(pl.col("outcome_id").alias("part_of"), period_end("as_of", "as_of_precision").alias("_t_end"))
    running = list(metrics_with("running_total"))
    parts = (o.filter(pl.col("part_of").is_not_null() & pl.col("offender_role").is_null())
             .join(total_date, on="part_of", how="left")
             .filter(~pl.col("metric").is_in(running) | pl.col("as_of").is_null() | pl.col("_t_end").is_null()
                     | (pl.col("as_of") <= pl.col("_t_end") + window))
             .with_columns(_dimension().alias("dim")))
    additive = sorted(metrics_with("additive"))
    summed = (parts.filter((pl.col("dim") == "country") & pl.col("metric").is_in(additive))
              .group_by("part_of", "dim").agg(pl.col("value_low").sum().alias("sum_low"), pl.len().alias("n")))
    single = parts.filter((pl.col("dim") != "country") | ~pl.col("metric").is_in(additive)).select(
        "part_of", pl.format("{} {}", pl.col("dim"), pl.col("outcome_id")).alias("dim"),
        pl.col("value_low").alias("sum_low"), pl.lit(1, pl.UInt32).alias("n"))
    tot = o.select(pl.col("outcome_id").alias("part_of"), pl.col("value_high").alias("t_high"))
    j = pl.concat([summed, single]).join(tot, on="part_of", how="inner")
    return j.select(pl.col("part_of").alias("row_key"), pl.lit("outcomes").alias("table"), "dim", "n",
                    pl.col("sum_low").cast(pl.Float64), pl.col("t_high").cast(pl.Float64))


@frame("running_totals", sources="sources", detail=lambda: pl.format(
    "{} ({}, as of {}) is below the earlier {} ({})", pl.col("stated"), pl.col("claim_id"), pl.col("as_of"),
    pl.col("e_stated"), pl.col("e_id")))
def running_totals(x: Inputs) -> pl.DataFrame:
    """One row per pair of claims on a running total whose as-of intervals are further apart than the
    window (the later starts after the earlier's last day and the window): the most the later allows
    and the least the earlier allows, each widened to include its stated figure (the same figure with
    different hedges is not a fall). A running total never falls."""
    c = x.value_claims("outcomes").filter(
        pl.col("running") & pl.col("as_of").is_not_null())
    early = c.select("target_id", pl.col("claim_id").alias("e_id"), pl.col("as_of_end").alias("e_end"),
                     pl.min_horizontal("low", "anchor").alias("e_low"), pl.col("stated").alias("e_stated"),
                     pl.col("source_id").alias("e_src"))
    late = c.select("target_id", "claim_id", "as_of", pl.when(pl.col("high").is_null()).then(None)
                    .otherwise(pl.max_horizontal("high", "anchor")).alias("high"), "stated", "source_id")
    j = late.join(early, on="target_id").filter(pl.col("as_of") > pl.col("e_end") + running_total_window())
    return j.select(pl.col("target_id").alias("row_key"), pl.lit("outcomes").alias("table"),
                    pl.format("{},{}", pl.col("e_src"), pl.col("source_id")).alias("sources"),
                    "claim_id", "as_of", "stated", "high", "e_id", "e_stated", "e_low")


@frame("disputed_sources", detail=lambda: pl.format(
    "disputed with {} source(s): a source that contradicts itself is a curation question, not a dispute",
    pl.col("n_sources")))
def disputed_sources(x: Inputs) -> pl.DataFrame:
    """One row per disputed figure: how many sources it rests on."""
    return pl.concat([x.t[name].filter(pl.col("status") == "disputed").select(
        pl.col(key).alias("row_key"), pl.lit(name).alias("table"), "n_sources")
        for name, key in (("outcomes", "outcome_id"), ("statistics", "statistic_id"))])


@frame("claim_as_of", sources="source_id", detail=lambda: pl.format(
    "as_of {} is after the source's publication {}", pl.col("as_of"), pl.col("published")))
def claim_as_of(x: Inputs) -> pl.DataFrame:
    """One row per claim with an as-of date: that date and the last day its source may have been
    published."""
    s = x.t["sources"].select("source_id", "published", pl.coalesce(
        "published_latest", period_end("published", "published_precision")).alias("pub_end"))
    c = x.t["claims"].filter(pl.col("as_of").is_not_null()).join(s, on="source_id", how="left")
    return c.select(pl.col("claim_id").alias("row_key"), pl.lit("claims").alias("table"), "source_id", "as_of",
                    "published", "pub_end")


@frame("headline_unique", detail=lambda: pl.format("{} worldwide totals: {}", pl.col("n"), pl.col("ids")))
def headline_unique(x: Inputs) -> pl.DataFrame:
    """One row per worldwide, unbroken outcome of a headline metric: (operation, metric) must be
    unique."""
    h = headline_outcomes(x.t["outcomes"])
    g = h.group_by("operation_id", "metric").agg(pl.col("outcome_id").sort().str.join(", ").alias("ids"),
                                                 pl.len().alias("n"))
    return h.join(g, on=["operation_id", "metric"]).select(
        pl.format("{}.{}", pl.col("operation_id"), pl.col("metric")).alias("row_key"),
        pl.lit("outcomes").alias("table"), "operation_id", "metric", "ids", "n")
