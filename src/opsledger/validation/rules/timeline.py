"""Timeline rules: an operation's stages come in order, and no claim dates an event after the
source that reports it was published. Dates are compared as the periods their precision allows
(a date known to the month is any day of that month)."""

from __future__ import annotations

import polars as pl

from opsledger.derive.reconcile import period_end
from opsledger.validation.rules.base import Family, Inputs, Rule, expect, frame

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


def _detail_timeline() -> pl.Expr:
    return (pl.format("{} ({} from {}) comes after {} ({} until {})", pl.col("item"),
            pl.col("stage"), pl.col("lo"), pl.col("item_b"), pl.col("stage_b"),
            pl.col("hi_b")))


@frame("timeline")
def timeline(x: Inputs) -> pl.DataFrame:
    """One row per pair of dated stages of an operation, the earlier stage first: the earlier one's
    first possible day and the later one's last."""
    items = _items(x)
    pairs = items.join(items, on="operation_id", suffix="_b").filter(pl.col("rank") < pl.col("rank_b"))
    return pairs.select(pl.format("{}>{}", pl.col("item"), pl.col("item_b")).alias("row_key"),
                        pl.lit("operations").alias("table"), "item", "stage", "lo", "item_b", "stage_b", "hi_b")


def _detail_claim_dates() -> pl.Expr:
    return (pl.format(
            "{} ({}) is after the source's publication on {}", pl.col("stated"), pl.col("date_low"), pl.col("published")))


@frame("claim_dates", sources="source_id")
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


def _detail_date_intervals() -> pl.Expr:
    return (pl.format(
            "{} runs from {} to {} ({}): {}", pl.col("column"), pl.col("earliest"), pl.col("latest"),
            pl.col("precision").fill_null("no precision"),
            pl.when(pl.col("latest") < pl.col("earliest")).then(pl.lit("its last day is before its first"))
            .otherwise(pl.format("{} days apart, more than {} allows", pl.col("days"), pl.col("precision")))))


@frame("date_intervals")
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


def _detail_as_of_events() -> pl.Expr:
    return (pl.format(
            "as of {} to {} (its source's date), but the page reports {} ({}) from {}", pl.col("as_of"),
            pl.col("as_of_latest"), pl.col("e_id"), pl.col("e_stated"), pl.col("e_low")))


@frame("as_of_events", sources="source_id")
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


FAMILY = Family("timeline", "4. Dates are in a possible order")

RULES = [
    Rule("timeline.order", "error",
         "Within an operation: launched <= first identification <= arrests <= sentences <= announcement (periods compared by their bounds).",
         frame=timeline, detail=_detail_timeline,
         decision=(expect("column_pair_values_a_to_be_greater_than_b", column_A="hi_b", column_B="lo", or_equal=True, ignore_row_if="either_value_is_missing"),)),
    Rule("timeline.before_publication", "error",
         "No claim dates an event after the publication of the source that reports it.",
         frame=claim_dates, detail=_detail_claim_dates,
         decision=(expect("column_pair_values_a_to_be_greater_than_b", column_A="pub_hi", column_B="date_low", or_equal=True, ignore_row_if="either_value_is_missing"),)),
    Rule("timeline.interval_not_inverted", "error",
         "A date interval has both its days, and its last day is not before its first.",
         frame=date_intervals, detail=_detail_date_intervals,
         decision=(expect("column_pair_values_a_to_be_greater_than_b", column_A="latest", column_B="earliest", or_equal=True, ignore_row_if="neither"),)),
    Rule("timeline.interval_precision", "error",
         "A date interval is no wider than its precision says (day: one day, week: at most seven days apart, month: 30, year: 365; bounded: any).",
         frame=date_intervals, detail=_detail_date_intervals,
         decision=(expect("column_pair_values_a_to_be_greater_than_b", column_A="max_days", column_B="days", or_equal=True, ignore_row_if="either_value_is_missing"),)),
    Rule("timeline.as_of_after_events", "error",
         "A figure dated by its source is not dated before the events the same page reports (a page is published after them).",
         frame=as_of_events, detail=_detail_as_of_events,
         decision=(expect("column_pair_values_a_to_be_greater_than_b", column_A="as_of_latest", column_B="e_low", or_equal=True, ignore_row_if="either_value_is_missing"),)),
]
