"""Evidence rules: a claim's stated phrase stands in its quotation, every source can be traced, and
web claims without a quotation holding their phrase are counted as unsupported (``opsledger.validation.quotations``
has the matching rules and the grounding counts)."""

from __future__ import annotations

import polars as pl

from opsledger.validation.quotations import normalise_expr
from opsledger.validation.rules.base import Family, Inputs, Rule, expect, frame, quoted


def _detail_quotations() -> pl.Expr:
    return (pl.format(
            "the stated phrase {} is not in its quotation {}", quoted("stated"), quoted("quotation")))


@frame("quotations", sources="source_id")
def quotations(x: Inputs) -> pl.DataFrame:
    """One row per claim with a quotation: where its stated phrase stands in the quotation, both
    normalised (whitespace, quotes, dashes); -1 when it does not."""
    c = x.t["claims"].filter(pl.col("quotation").is_not_null())
    return c.select(
        pl.col("claim_id").alias("row_key"), pl.lit("claims").alias("table"), "source_id", "stated", "quotation",
        pl.when(normalise_expr("stated") == "").then(pl.lit(-1, pl.Int64))  # an empty phrase is nowhere
        .otherwise(normalise_expr("quotation").str.find(normalise_expr("stated"), literal=True).cast(pl.Int64))
        .fill_null(-1).alias("phrase_at"))


def _detail_typo_corrections() -> pl.Expr:
    return (pl.format(
            "corrected by {}, which {}", pl.col("corrected_by"), pl.col("problem")))


@frame("typo_corrections", sources="source_id")
def typo_corrections(x: Inputs) -> pl.DataFrame:
    """One row per claim marked as a typo (``corrected_by``): whether the correcting claim states the
    same figure (same target row and column) from the same source or its publisher, and is not itself
    corrected. ``fits`` is 1 when it does, 0 otherwise, with the problem in words."""
    c = x.t["claims"]
    pubs = x.t["sources"].select("source_id", "publisher")
    typo = c.filter(pl.col("corrected_by").is_not_null()).join(pubs, on="source_id", how="left")
    fix = c.select(pl.col("claim_id").alias("corrected_by"), pl.col("source_id").alias("_fsrc"),
                   pl.col("target_id").alias("_ftid"), pl.col("target_column").alias("_fcol"),
                   pl.col("corrected_by").alias("_fcorr")).join(
        pubs.rename({"source_id": "_fsrc", "publisher": "_fpub"}), on="_fsrc", how="left")
    j = typo.join(fix, on="corrected_by", how="left")
    problem = (pl.when(pl.col("_fsrc").is_null()).then(pl.lit("is not a claim"))
               .when((pl.col("_ftid") != pl.col("target_id")) | (pl.col("_fcol") != pl.col("target_column")))
               .then(pl.lit("states another figure"))
               .when((pl.col("_fsrc") != pl.col("source_id"))
                     & (pl.col("_fpub").is_null() | (pl.col("_fpub") != pl.col("publisher"))))
               .then(pl.lit("comes from another publisher (a typo is corrected by its own source)"))
               .when(pl.col("_fcorr").is_not_null()).then(pl.lit("is itself corrected")))
    return j.select(pl.col("claim_id").alias("row_key"), pl.lit("claims").alias("table"), "source_id",
                    "corrected_by", problem.fill_null("").alias("problem"),
                    pl.when(problem.is_null()).then(1).otherwise(0).cast(pl.Int64).alias("fits"))


def _set(col: str) -> pl.Expr:
    return pl.when(pl.col(col).is_not_null()).then(pl.lit("set")).otherwise(pl.lit("missing"))


def _detail_traceable() -> pl.Expr:
    return (pl.format(
            "no url, no archived copy and an incomplete citation (publisher {}, title {}, published {})",
            _set("publisher"), _set("title"), _set("published")))


@frame("traceable", sources="row_key")
def traceable(x: Inputs) -> pl.DataFrame:
    """One row per source: how a reader finds it (an address, an archived copy, or a complete
    citation of publisher, title and date); null when there is no way."""
    citation = pl.col("publisher").is_not_null() & pl.col("title").is_not_null() & pl.col("published").is_not_null()
    return x.t["sources"].select(
        pl.col("source_id").alias("row_key"), pl.lit("sources").alias("table"), "publisher", "title", "published",
        pl.when(pl.col("url").is_not_null()).then(pl.lit("address"))
        .when(pl.col("archive_file").is_not_null()).then(pl.lit("archive"))
        .when(citation).then(pl.lit("citation")).alias("found_by"))


def web_claims(x: Inputs) -> tuple[str, str | None]:
    """evidence.web_claim_quoted, counted rather than a finding per claim: a claim of a source that is
    not archived and has no quotation holding its phrase is unsupported. The count is in every report
    (the grounding line); the rule's status is ``warning`` while any is left, and its detail names them.
    (As findings, each would block a release until acknowledged one by one, while the curators' notes
    already say why the page could not be quoted.)"""
    archived = x.t["sources"].filter(pl.col("archive_file").is_not_null()).get_column("source_id")
    g = x.grounding.filter(~pl.col("source_id").is_in(archived.implode()) & (pl.col("grounding") == "unsupported"))
    bad = sorted(g.get_column("claim_id").to_list())
    if bad:
        return "warning", f"{len(bad)} web claims unsupported (counted, not findings): {', '.join(bad)}"
    return "passed", None


FAMILY = Family("evidence", "Every claim is quoted and every source traceable",
                note="phrase_at is where the normalised stated phrase stands in the normalised quotation (-1: nowhere).")

RULES = [
    Rule("evidence.phrase_in_quotation", "error",
         "A claim's stated phrase stands in its quotation (exact after normalising whitespace, quotes and dashes; case kept). The quotation's limit of 200 characters is the schema rule schema.max_length.",
         frame=quotations, detail=_detail_quotations,
         decision=(expect("column_values_to_be_between", column="phrase_at", min_value=0),)),
    Rule("evidence.source_traceable", "error",
         "Every source has an address, an archived copy, or a complete citation (publisher, title, published).",
         frame=traceable, detail=_detail_traceable,
         decision=(expect("column_values_to_not_be_null", column="found_by"),)),
    Rule("evidence.typo_corrected_by_its_source", "error",
         "A claim marked as a typo (corrected_by) is corrected by a claim on the same figure from its own source or publisher, itself not corrected: a typo is never declared because other sources disagree.",
         frame=typo_corrections, detail=_detail_typo_corrections,
         decision=(expect("column_values_to_be_between", column="fits", min_value=1),)),
    Rule("evidence.web_claim_quoted", "warning",
         "A claim whose source is not archived carries a quotation holding its phrase (or is grounded "
         "in a fetched page); otherwise it is counted as unsupported.",
         decision=web_claims),
]
