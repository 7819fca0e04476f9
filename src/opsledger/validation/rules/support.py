"""Support rules: every figure and date rests on claims, claims point at a column that can be
claimed, in their own operation, and every source is cited."""

from __future__ import annotations

import polars as pl

from opsledger.declarations import metrics, tables
from opsledger.validation.rules.base import Family, Inputs, Rule, expect, frame

def parameters(x: Inputs) -> dict:
    """The table.column pairs a claim may support (``claim_targets`` of each table in ``schemas/``)."""
    from opsledger.declarations import target_columns

    return {"claim_target_columns": sorted(f"{t}.{c}" for t, cols in target_columns().items() for c in cols)}


@frame("backing")  # a failing row has no claim, hence no source
def backing(x: Inputs) -> pl.DataFrame:
    """One row per figure, role, event and dated field: how many claims back it."""
    from opsledger.derive.reconcile import DATE_TARGETS, KEYS

    t = x.t
    counts = t["claims"].group_by("target_table", "target_id", "target_column").agg(pl.len().alias("n"))
    parts = []
    needs = {name: [None if c == "*" else c for c in t.claim_required]
             for name, t in tables().items() if t.claim_required}
    for name, cols in needs.items():
        key = KEYS[name]
        for col in cols:
            cc = counts.filter(pl.col("target_table") == name)
            if col:
                cc = cc.filter(pl.col("target_column") == col)
            cc = cc.group_by("target_id").agg(pl.col("n").sum())
            parts.append(
                t[name].select(pl.col(key).alias("target_id"))
                .join(cc, on="target_id", how="left")
                .select(pl.col("target_id").alias("row_key"), pl.lit(name).alias("table"),
                        pl.col("n").fill_null(0).alias("n_claims"),
                        pl.lit(f"no claim for {col or 'any column'}").alias("detail")))
    for (name, col), (dcol, _prec) in DATE_TARGETS.items():
        key = KEYS[name]
        cc = counts.filter((pl.col("target_table") == name) & (pl.col("target_column") == col))
        parts.append(
            t[name].filter(pl.col(dcol).is_not_null()).select(pl.col(key).alias("target_id"))
            .join(cc.select("target_id", "n"), on="target_id", how="left")
            .select(pl.format("{}.{}", pl.col("target_id"), pl.lit(col)).alias("row_key"),
                    pl.lit(name).alias("table"),
                    pl.col("n").fill_null(0).alias("n_claims"),
                    pl.lit(f"{col} is set but no claim dates it").alias("detail")))
    return pl.concat(parts)


def _targets(x: Inputs) -> pl.DataFrame:
    """(target_table, target_id, target_operation) of every row a claim can support."""
    from opsledger.derive.reconcile import KEYS

    parts = []
    for name, key in KEYS.items():
        df = x.t[name]
        op = pl.col("operation_id") if "operation_id" in df.columns and name != "statistics" else pl.col(key)
        if name == "statistics":
            op = pl.lit(None, pl.Utf8)
        parts.append(df.select(pl.lit(name).alias("target_table"), pl.col(key).alias("target_id"),
                               op.alias("target_operation")))
    return pl.concat(parts)


def _detail_claim_targets() -> pl.Expr:
    return (pl.format(
            "{}.{} of {} (claim operation {}, target operation {})", pl.col("target_table"), pl.col("target_column"),
            pl.col("target_id"), pl.col("operation_id").fill_null("none"), pl.col("target_operation").fill_null("none")))


@frame("claim_targets", sources="source_id")
def claim_targets(x: Inputs) -> pl.DataFrame:
    """One row per claim whose target exists (a missing target is the referential rule's): the
    table.column it claims, its operation and its target's operation (statistics have none)."""
    c = x.t["claims"].select("claim_id", "source_id", "operation_id", "target_table", "target_id", "target_column")
    return c.join(_targets(x), on=["target_table", "target_id"], how="inner").select(
        pl.col("claim_id").alias("row_key"), pl.lit("claims").alias("table"), "source_id", "target_table",
        "target_id", "target_column", "operation_id",
        pl.when(pl.col("target_table") == "statistics").then(pl.col("operation_id"))
        .otherwise(pl.col("target_operation")).alias("target_operation"),
        pl.format("{}.{}", pl.col("target_table"), pl.col("target_column")).alias("claimed"),
    )


def _detail_statistic_claims() -> pl.Expr:
    return (pl.format("claim on statistic {} is attributed to operation {}", pl.col("target_id"),
            pl.col("operation_id")))


@frame("statistic_claims", sources="source_id")
def statistic_claims(x: Inputs) -> pl.DataFrame:
    """One row per claim on a statistic: a statistic belongs to no operation."""
    return x.t["claims"].filter(pl.col("target_table") == "statistics").select(
        pl.col("claim_id").alias("row_key"), pl.lit("claims").alias("table"), "source_id", "target_id",
        "operation_id")


def _detail_source_use() -> pl.Expr:
    return pl.lit("no claim cites this source")


@frame("source_use", sources="row_key")
def source_use(x: Inputs) -> pl.DataFrame:
    n = x.t["claims"].group_by("source_id").agg(pl.len().alias("n_claims"))
    return x.t["sources"].select("source_id").join(n, on="source_id", how="left").select(
        pl.col("source_id").alias("row_key"), pl.lit("sources").alias("table"),
        pl.col("n_claims").fill_null(0))


def _detail_metric_scope() -> pl.Expr:
    return (pl.format("metric {} is a {} metric, not an {} one", pl.col("metric"),
            pl.col("applies_to"), pl.col("kind")))


@frame("metric_scope")
def metric_scope(x: Inputs) -> pl.DataFrame:
    """One row per outcome and statistic: the kind of row its metric applies to, and its own kind."""
    scope = {m: spec.applies_to for m, spec in metrics().items()}
    parts = []
    for name, key, kind in (("outcomes", "outcome_id", "outcome"), ("statistics", "statistic_id", "statistic")):
        parts.append(x.t[name].select(
            pl.col(key).alias("row_key"), pl.lit(name).alias("table"), "metric",
            pl.col("metric").replace_strict(scope, default="unknown").alias("applies_to"), pl.lit(kind).alias("kind")))
    return pl.concat(parts)


FAMILY = Family("support", "2. Every fact is backed by a claim, and every claim supports something", parameters=parameters)

RULES = [
    Rule("support.backed_by_claims", "error",
         "Every outcome, statistic, participation and event, and every dated operation field, has at least one claim.",
         frame=backing,
         decision=(expect("column_values_to_be_between", column="n_claims", min_value=1),)),
    Rule("support.claim_column", "error",
         "A claim's target_column is one that its target table takes (value/date for outcomes, role/date for participations ...).",
         frame=claim_targets, detail=_detail_claim_targets,
         decision=(expect("column_values_to_be_in_set", column="claimed", value_set={"$PARAMETER": "claim_target_columns"}),)),
    Rule("support.claim_operation", "error",
         "A claim's operation_id is the operation of the row it supports.",
         frame=claim_targets, detail=_detail_claim_targets,
         decision=(expect("column_pair_values_to_be_equal", column_A="operation_id", column_B="target_operation", ignore_row_if="both_values_are_missing"),)),
    Rule("support.statistic_not_attributed", "warning",
         "A database or study statistic is not attributed to an operation; a source that does so is flagged here.",
         frame=statistic_claims, detail=_detail_statistic_claims,
         decision=(expect("column_values_to_be_null", column="operation_id"),)),
    Rule("support.source_cited", "warning",
         "Every source is cited by at least one claim (a source nothing cites should be retired).",
         frame=source_use, detail=_detail_source_use,
         decision=(expect("column_values_to_be_between", column="n_claims", min_value=1),)),
    Rule("support.metric_scope", "error",
         "Outcomes use operation metrics and statistics use database/study metrics (vocabulary `applies_to`).",
         frame=metric_scope, detail=_detail_metric_scope,
         decision=(expect("column_pair_values_to_be_equal", column_A="applies_to", column_B="kind"),)),
]
