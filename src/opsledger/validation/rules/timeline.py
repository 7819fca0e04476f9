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
        latest = decl.field(where.column).latest
        items.append(rows.select("operation_id", item.alias("item"), pl.lit(stage).alias("stage"),
                                 pl.col(where.column).alias("d"),
                                 pl.col(str(decl.field(where.column).precision)).alias("p"),
                                 (pl.col(latest) if latest else pl.lit(None, pl.Date)).alias("l")))
    return pl.concat(items).filter(pl.col("d").is_not_null()).with_columns(
        pl.col("d").alias("lo"), pl.coalesce("l", period_end("d", "p")).alias("hi"),
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
        "source_id", "published", pl.coalesce("published_latest", period_end("published", "published_precision"))
        .alias("pub_hi"))
    c = x.t["claims"].filter(pl.col("date_low").is_not_null()).join(src, on="source_id", how="inner")
    return c.select(pl.col("claim_id").alias("row_key"), pl.lit("claims").alias("table"), "source_id", "stated",
                    "date_low", "published", "pub_hi")


def _interval_rows(x: Inputs) -> pl.DataFrame:
    from opsledger.declarations import intervals, table

    parts = []
    for name, cols in intervals().items():
        if name not in x.t:
            continue
        key = table(name).key
        for col, (pcol, lcol) in cols.items():
            parts.append(x.t[name].filter(pl.col(col).is_not_null() | pl.col(lcol).is_not_null()).select(
                pl.format("{}.{}", pl.col(key), pl.lit(col)).alias("row_key"), pl.lit(name).alias("table"),
                pl.lit(col).alias("column"), pl.col(col).alias("earliest"), pl.col(lcol).alias("latest"),
                pl.col(pcol).alias("precision")))
    return pl.concat(parts) if parts else pl.DataFrame(schema={
        "row_key": pl.Utf8, "table": pl.Utf8, "column": pl.Utf8, "earliest": pl.Date, "latest": pl.Date,
        "precision": pl.Utf8})


@frame("date_intervals", detail=lambda: pl.format(
    "{} runs from {} to {} ({}): {}", pl.col("column"), pl.col("earliest"), pl.col("latest"),
    pl.col("precision").fill_null("no precision"),
    pl.when(pl.col("latest") < pl.col("earliest")).then(pl.lit("its last day is before its first"))
    .otherwise(pl.format("{} days apart, more than {} allows", pl.col("days"), pl.col("precision")))))
def date_intervals(x: Inputs) -> pl.DataFrame:
    """One row per date that is an interval (a column with a `latest` column in fields.toml), in every
    table: its first and last day, how many days apart they are, and the most days its precision
    allows (``[precision_days]`` of schemas/vocabularies.toml; null for bounded: any)."""
    from opsledger.declarations import precision_days

    days = precision_days()
    rows = _interval_rows(x)
    return rows.with_columns(
        (pl.col("latest") - pl.col("earliest")).dt.total_days().alias("days"),
        pl.col("precision").replace_strict(days, default=None, return_dtype=pl.Int64).alias("max_days"),
    )


@frame("as_of_events", sources="source_id", detail=lambda: pl.format(
    "as of {} to {} (its source's date), but the page reports {} ({}) from {}", pl.col("as_of"),
    pl.col("as_of_latest"), pl.col("e_id"), pl.col("e_stated"), pl.col("e_low")))
def as_of_events(x: Inputs) -> pl.DataFrame:
    """One row per claim dated by its source (its as-of is the source's publication interval) whose
    page reports a dated event: the as-of's last day and the first day of the latest event the page
    reports. A page is not published before the events it reports."""
    s = x.t["sources"].select("source_id", pl.col("published").alias("_pub"),
                              pl.col("published_precision").alias("_pubp"))
    claims = x.t["claims"]
    events = (claims.filter(pl.col("date_low").is_not_null())
              .sort("date_low", descending=True).group_by("source_id", maintain_order=True)
              .agg(pl.col("claim_id").first().alias("e_id"), pl.col("stated").first().alias("e_stated"),
                   pl.col("date_low").first().alias("e_low")))
    c = (claims.filter(pl.col("as_of").is_not_null()).join(s, on="source_id", how="left")
         .filter((pl.col("as_of") == pl.col("_pub")) & (pl.col("as_of_precision") == pl.col("_pubp")))
         .join(events, on="source_id", how="inner"))
    return c.select(pl.col("claim_id").alias("row_key"), pl.lit("claims").alias("table"), "source_id", "as_of",
                    "as_of_latest", "e_id", "e_stated", "e_low")
