"""Reconciliation rules: every derived column equals what the claims give, every phrase can be read,
every reported value stands inside what its claims allow, and disagreement is flagged.

Stored and derived rows are compared through a hash of their derived columns (one 52-bit hash of
the row's derived columns on each side; see ``gx.HASH_MASK``): great-expectations decides that the pair is equal; for a
failing row, the detail names each column that differs and both values.
"""

from __future__ import annotations

import polars as pl

from opsledger.data import fmt
from opsledger.declarations import tables as declarations
from opsledger.derive.dates import dates_a_field
from opsledger.derive.reconcile import aligned, join_aligned
from opsledger.validation.rules.base import Family, Inputs, Rule, expect, frame, phrases_said
from opsledger.validation.rules.gx import HASH_MASK


def _diffs(cols: list[str], wording: str) -> pl.Expr:
    parts = [pl.when(pl.col(c).eq_missing(pl.col(f"{c}__d"))).then(pl.lit(None, pl.Utf8))
             .otherwise(pl.format(f"{{}} is {{}} {wording} {{}}", pl.lit(c), fmt.num_token(c), fmt.num_token(f"{c}__d")))
             for c in cols]
    return pl.concat_str(parts, separator="; ", ignore_nulls=True)


def _row_hashes(stored: pl.DataFrame, derived: pl.DataFrame, key: str, cols: list[str]) -> pl.DataFrame:
    """Stored columns, derived columns (``<c>__d``) and a hash of each side (null: the row is missing
    on that side)."""
    d = derived.select(key, *[pl.col(c).cast(stored.schema[c]).alias(f"{c}__d") for c in cols])
    s = stored.select(key, *cols)
    stored_hash = (pl.struct(cols).hash() & HASH_MASK).cast(pl.Int64)
    derived_hash = (pl.struct([pl.col(f"{c}__d").alias(c) for c in cols]).hash() & HASH_MASK).cast(pl.Int64)
    if aligned(s.get_column(key), d.get_column(key)):  # every row on both sides, in the same order
        return s.hstack(d.drop(key)).with_columns(stored_hash.alias("stored_hash"),
                                                  derived_hash.alias("derived_hash"))
    j = s.with_columns(pl.lit(True).alias("_s")).join(
        d.with_columns(pl.lit(True).alias("_d")), on=key, how="full", coalesce=True)
    return j.with_columns(
        pl.when(pl.col("_s")).then(stored_hash).alias("stored_hash"),
        pl.when(pl.col("_d")).then(derived_hash).alias("derived_hash"),
    ).drop("_s", "_d")


def _derived_claims(x: Inputs) -> pl.DataFrame:
    d = x.derived["claims"]
    if x.archive is None:  # without the archive the locators cannot be re-derived: keep the stored ones
        keep = x.t["claims"].select("claim_id", "locator_paragraph", "locator_offset")
        d = join_aligned(d.drop("locator_paragraph", "locator_offset"), keep, "claim_id")
    return d


CLAIM_COLUMNS = lambda: [*declarations()["claims"].derived, "as_of", "as_of_precision"]  # noqa: E731


def _detail_claims_derived() -> pl.Expr:
    return (pl.when(pl.col("phrase_ok"))
            .then(pl.format("{}: {}", pl.col("stated"), pl.col("diff")))
            .otherwise(pl.format("phrase {} cannot be read", pl.col("stated"))))


@frame("claims_derived", sources="source_id")
def claims_derived(x: Inputs) -> pl.DataFrame:
    """One row per claim: a hash of its derived columns as stored and as the phrase gives them (and
    the as-of date it takes from its source when it has none), whether the phrase rules can read it,
    and, for the rows whose hashes differ, the columns that differ (``diff``)."""
    cols = CLAIM_COLUMNS()
    stored = x.t["claims"]
    j = _row_hashes(stored, _derived_claims(x), "claim_id", cols)
    differ = pl.col("stored_hash").ne_missing(pl.col("derived_hash"))
    diff = j.filter(differ).select("claim_id", _diffs(cols, "but the phrase gives").alias("diff"))
    out = j.select("claim_id", "stored_hash", "derived_hash").join(diff, on="claim_id", how="left",
                                                                    maintain_order="left")
    out = join_aligned(join_aligned(out, stored.select("claim_id", "source_id", "stated"), "claim_id"),
                       x.phrases.select("claim_id", "phrase_ok"), "claim_id")
    return out.select(
        pl.col("claim_id").alias("row_key"), pl.lit("claims").alias("table"), "source_id", "stated",
        pl.col("phrase_ok").fill_null(False), "stored_hash", "derived_hash", "diff")


@frame("derived", sources="sources")
def derived(x: Inputs) -> pl.DataFrame:
    """One row per row of every table with derived columns (claims aside): a hash of its derived
    columns as stored and as re-derived; a row only one side has has a null hash on the other."""
    parts = []
    for name, decl in declarations().items():
        cols = [c for c in decl.derived if c not in decl.primary_key]
        if name == "claims" or not cols or name not in x.t:
            continue
        d = x.derived[name] if not (name == "sources" and x.archive is None) else x.t["sources"]
        j = _row_hashes(x.t[name], d, decl.key, cols)
        detail = pl.when(pl.col("stored_hash").is_null()).then(pl.lit("row is missing; the other tables give it")) \
            .otherwise(_diffs(cols, "but the claims give"))
        sources = pl.col(decl.key) if name == "sources" else pl.lit("")
        parts.append(j.select(pl.col(decl.key).alias("row_key"), pl.lit(name).alias("table"),
                              sources.alias("sources"), "stored_hash", "derived_hash", detail.alias("detail")))
    df = pl.concat(parts)
    # the sources of a differing row of a claimed table are the sources of its claims (a headline
    # row's key is an operation's: it has no claims of its own)
    claimed = pl.col("table").is_in(["sources", "headline"]).not_() & pl.col("stored_hash").ne_missing(pl.col("derived_hash"))
    srcs = x.target_sources(df.filter(claimed).get_column("row_key"))
    return df.join(srcs.rename({"target_id": "row_key", "sources": "_s"}), on="row_key", how="left").with_columns(
        pl.when(pl.col("table").is_in(["sources", "headline"])).then(pl.col("sources"))
        .otherwise(pl.col("_s").fill_null("")).alias("sources")
    ).drop("_s")


def _detail_value_inside() -> pl.Expr:
    return (pl.format(
            "value {} is outside claim {} ({}: {})", fmt.num_token("value"), pl.col("claim_id"), pl.col("stated"),
            fmt.span_token("low", "high")))


@frame("value_inside", sources="source_id")
def value_inside(x: Inputs) -> pl.DataFrame:
    """One row per claim of a reported group (for a running total: the latest) and the value of its
    row: the claim's interval, widened to include the figure it states (the wording rule). Rows of an
    acknowledged dispute are left out (the dispute says the sources disagree)."""
    from opsledger.derive.reconcile import KEYS, counted

    parts = []
    for name in ("outcomes", "statistics"):
        key = KEYS[name]
        vc = x.value_claims(name)
        c = vc.filter(counted(vc)).select(
            "target_id", "source_id", "claim_id", "stated", "low", "high", "anchor")
        j = c.join(x.t[name].select(pl.col(key).alias("target_id"), "value"), on="target_id", how="inner",
                   maintain_order="left")
        parts.append(j.filter(~pl.col("target_id").is_in(list(x.acked_disputes))).select(
            pl.col("target_id").alias("row_key"), pl.lit(name).alias("table"), "source_id", "claim_id", "stated",
            "value", pl.min_horizontal("low", "anchor").alias("low"),
            pl.when(pl.col("high").is_null()).then(None).otherwise(pl.max_horizontal("high", "anchor")).alias("high")))
    return pl.concat(parts)


def _detail_disputes() -> pl.Expr:
    return (pl.format(
            "sources cannot all be right: they say {}", pl.col("phrases")))


@frame("disputes", sources="target")
def disputes(x: Inputs) -> pl.DataFrame:
    """One row per figure with its status; a disputed one carries what its sources say, phrase by phrase
    as written (a reader is never shown a bound's artefact such as 1,000,001 for "more than a million")."""
    from opsledger.derive.reconcile import KEYS, counted

    parts = []
    for name in ("outcomes", "statistics"):
        rows = x.t[name].select(pl.col(KEYS[name]).alias("row_key"), pl.lit(name).alias("table"), "status")
        disputed = rows.filter(pl.col("status") == "disputed").get_column("row_key")
        vc = x.value_claims(name)
        said = vc.filter(counted(vc) & pl.col("target_id").is_in(disputed.implode())).group_by("target_id").agg(
            phrases_said().alias("phrases"))
        parts.append(rows.join(said.rename({"target_id": "row_key"}), on="row_key", how="left", maintain_order="left"))
    return pl.concat(parts)


def _detail_date_disputes() -> pl.Expr:
    return (pl.format(
            "date claims cannot all be true ({}); the field is left empty", pl.col("phrases")))


@frame("date_disputes", sources="sources")
def date_disputes(x: Inputs) -> pl.DataFrame:
    """One row per dated field with date claims: the latest start and the earliest end they allow."""
    c = x.t["claims"].filter(dates_a_field())
    g = c.group_by("target_table", "target_id", "target_column").agg(
        pl.col("date_low").max().alias("lo"), pl.col("date_high").min().alias("hi"),
        pl.col("source_id").unique().sort().str.join(",").alias("sources"),
        pl.col("stated").unique().sort().str.join(" / ").alias("phrases"))
    return g.select(pl.format("{}.{}", pl.col("target_id"), pl.col("target_column")).alias("row_key"),
                    pl.col("target_table").alias("table"), "sources", "lo", "hi", "phrases")


FAMILY = Family("reconciliation", "3. Claims agree with their phrases, and outcomes with their claims",
                note="Stored and re-derived rows are compared as one 64-bit hash of their derived columns each (stored_hash, derived_hash); a failing row's detail names every column that differs. phrase_ok is the phrase rules' verdict (schemas/phrase_rules.toml): GX cannot read phrases.")

RULES = [
    Rule("reconciliation.phrase_readable", "error",
         "The phrase rules can read every figure and date phrase.",
         frame=claims_derived, detail=_detail_claims_derived,
         decision=(expect("column_values_to_be_in_set", column="phrase_ok", value_set=[True]),)),
    Rule("reconciliation.claim_matches_phrase", "error",
         "A claim's stored qualifier, bounds, unit, metric and locator are what its phrase and target imply.",
         frame=claims_derived, detail=_detail_claims_derived,
         decision=(expect("column_pair_values_to_be_equal", column_A="stored_hash", column_B="derived_hash"),)),
    Rule("reconciliation.derived_columns", "error",
         "Reconciled columns (value, bounds, status, n_sources, dates) equal what the claims give; nobody hand-types them.",
         frame=derived,
         decision=(expect("column_pair_values_to_be_equal", column_A="stored_hash", column_B="derived_hash", ignore_row_if="both_values_are_missing"),)),
    Rule("reconciliation.value_inside_claims", "error",
         "Each outcome's value lies inside every supporting claim's interval, unless the outcome is an acknowledged dispute.",
         frame=value_inside, detail=_detail_value_inside,
         decision=(expect("column_pair_values_a_to_be_greater_than_b", column_A="value", column_B="low", or_equal=True, ignore_row_if="either_value_is_missing"),
                   expect("column_pair_values_a_to_be_greater_than_b", column_A="high", column_B="value", or_equal=True, ignore_row_if="either_value_is_missing"))),
    Rule("reconciliation.dates_agree", "error",
         "The date claims for one field can all be true together (their periods overlap); otherwise the field stays empty and this must be acknowledged.",
         frame=date_disputes, detail=_detail_date_disputes,
         decision=(expect("column_pair_values_a_to_be_greater_than_b", column_A="hi", column_B="lo", or_equal=True, ignore_row_if="either_value_is_missing"),)),
    Rule("reconciliation.not_disputed", "error",
         "Claims for one figure can all be true together; a dispute must be acknowledged in checks/acknowledgements.toml.",
         frame=disputes, detail=_detail_disputes,
         decision=(expect("column_values_to_not_be_in_set", column="status", value_set=["disputed"]),)),
]
