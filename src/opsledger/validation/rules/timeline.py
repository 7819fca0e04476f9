"""Timeline rules: an operation's stages come in order, and no claim dates an event after the
source that reports it was published. Dates are compared as the periods their precision allows
(a date known to the month is any day of that month)."""

from __future__ import annotations

import polars as pl

from opsledger.derive.reconcile import period_end
from opsledger.validation.rules.base import Inputs, frame

def _items(x: Inputs) -> pl.DataFrame:
    """Every dated stage of every operation, with its rank in the declared stage order
    (``[order.timeline_stage]`` in ``schemas/vocabularies.toml``): an item of lower rank may not start
    after an item of higher rank ends."""
    from opsledger.declarations import table, timeline_rank, timeline_stages

    rank = timeline_rank()
    items = []
    for stage, where in timeline_stages().items():  # [timeline.<stage>] in schemas/vocabularies.toml
        decl = table(where.table)
        rows = x.t[where.table]
        if where.kind is not None:
            rows = rows.filter(pl.col("kind") == where.kind)
        if where.metric is not None:
            rows = rows.filter(pl.col("metric") == where.metric)
        item = (pl.format(f"{{}}.{where.column}", "operation_id") if where.table == "operations"
                else pl.col(decl.key))
        items.append(rows.select("operation_id", item.alias("item"), pl.lit(stage).alias("stage"),
                                 pl.col(where.column).alias("d"),
                                 pl.col(str(decl.field(where.column).precision)).alias("p")))
    return pl.concat(items).filter(pl.col("d").is_not_null()).with_columns(
        pl.col("d").alias("lo"), period_end("d", "p").alias("hi"),
        pl.col("stage").replace_strict(rank).alias("rank"))


@frame("timeline", detail=lambda: pl.format("{} ({} from {}) comes after {} ({} until {})", pl.col("item"),
                                             pl.col("stage"), pl.col("lo"), pl.col("item_b"), pl.col("stage_b"),
                                             pl.col("hi_b")))
def timeline(x: Inputs) -> pl.DataFrame:
    """One row per pair of dated stages of an operation, the earlier stage first: the earlier one's
    first possible day and the later one's last."""
    items = _items(x)
    pairs = items.join(items, on="operation_id", suffix="_b").filter(pl.col("rank") < pl.col("rank_b"))
    return pairs.select(pl.format("{}>{}", pl.col("item"), pl.col("item_b")).alias("row_key"),
                        pl.lit("operations").alias("table"), "item", "stage", "lo", "item_b", "stage_b", "hi_b")


@frame("claim_dates", sources="source_id", detail=lambda: pl.format(
    "{} ({}) is after the source's publication on {}", pl.col("stated"), pl.col("date_low"), pl.col("published")))
def claim_dates(x: Inputs) -> pl.DataFrame:
    """One row per date claim of a dated source: the first day the phrase allows and the last day of
    the source's publication period."""
    src = x.t["sources"].filter(pl.col("published").is_not_null()).select(
        "source_id", "published", period_end("published", "published_precision").alias("pub_hi"))
    c = x.t["claims"].filter(pl.col("date_low").is_not_null()).join(src, on="source_id", how="inner")
    return c.select(pl.col("claim_id").alias("row_key"), pl.lit("claims").alias("table"), "source_id", "stated",
                    "date_low", "published", "pub_hi")
