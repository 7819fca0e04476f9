"""Frame helpers of the derivation: the language a phrase is read in, the phrases of the claims, what
the sentence around a phrase adds (claims.context), and joins of frames whose keys are already aligned
(the tables are stored sorted by key)."""

from __future__ import annotations


import polars as pl

from opsledger.derive.phrases import derive_rows



def reading_language(sources: pl.DataFrame) -> pl.DataFrame:
    """``source_id`` -> the language a source's phrases are read in: its ``language``, joined to the
    language of its number marks where it declares other ones (``"pt@en"``: ``sources.number_marks``)."""
    lang = pl.col("language")
    if "number_marks" in sources.columns:
        lang = (pl.when(pl.col("number_marks").is_not_null() & (pl.col("number_marks") != pl.col("language")))
                .then(pl.format("{}@{}", pl.col("language"), pl.col("number_marks"))).otherwise(lang))
    return sources.select("source_id", lang.alias("language"))


def phrase_frame(claims: pl.DataFrame, sources: pl.DataFrame) -> pl.DataFrame:
    """What each claim's phrase implies (read in its source's language): one row per claim_id, with
    ``phrase_ok`` false when the rules cannot read it. Each distinct (phrase, target column, unit,
    language) is read once, and phrases that differ only in their number share one reading
    (``phrases.derive_frame``); the rows are in the claims' order."""
    keyed = claims.select("claim_id", "source_id", "stated", "target_column", "unit").join(
        reading_language(sources), on="source_id", how="left", maintain_order="left")
    derived = derive_rows(keyed).rename({
        "qualifier": "d_qualifier", "low": "d_low", "high": "d_high", "date_low": "d_date_low",
        "date_high": "d_date_high", "figure": "d_figure", "excludes_home": "d_excludes_home",
    })
    return keyed.hstack(derived).drop("source_id", "language")


def aligned(left: pl.Series, right: pl.Series) -> bool:
    """Whether a left join of the rows of ``right`` onto those of ``left`` on these key columns is just
    putting them side by side: the same keys in the same order, none null, none twice (checked
    cheaply when the keys are sorted, as the tables are by their primary key)."""
    if left.len() != right.len() or left.null_count() or not left.equals(right, null_equal=True):
        return False
    return ascending(left) or left.n_unique() == left.len()


def ascending(keys: pl.Series) -> bool:
    """Whether the keys are all there and strictly ascending (so distinct)."""
    n = keys.len()
    return keys.null_count() == 0 and (n < 2 or bool((keys.slice(1) > keys.slice(0, n - 1)).all()))


def join_aligned(left: pl.DataFrame, right: pl.DataFrame, on: str) -> pl.DataFrame:
    """``left.join(right, on=on, how="left")``, without hashing the keys when the rows are aligned."""
    clash = set(right.columns).intersection(left.columns) - {on}
    if not clash and aligned(left.get_column(on), right.get_column(on)):
        return left.hstack(right.drop(on))
    return left.join(right, on=on, how="left", maintain_order="left")


def apply_context(claims: pl.DataFrame) -> pl.DataFrame:
    """What the sentence around a phrase adds (``claims.context``, the ``claim_context`` vocabulary):
    ``home_excluded`` reads the count as leaving the home country out (the interval is the total, one
    more, as for "70 other countries"); ``enumeration`` reads the count of a list of places as a lower
    bound (a list names at least those); ``not_before`` / ``not_after`` keep only the first / last day
    a date phrase allows (it bounds the dated field from one side); ``not_after_page`` gives only a last
    day, the last day its page can have been published (``_publ``, the source's ``published_latest``)."""
    if "context" not in claims.columns:
        return claims
    ctx = pl.col("context")
    home = ((ctx == "home_excluded") & ~pl.col("excludes_home").fill_null(False) & pl.col("figure").is_not_null())
    return claims.with_columns(
        pl.when(home).then(pl.col("low") + 1).otherwise(pl.col("low")).alias("low"),
        pl.when(ctx == "enumeration").then(None).when(home).then(pl.col("high") + 1)
        .otherwise(pl.col("high")).alias("high"),
        pl.when(home).then(True).otherwise(pl.col("excludes_home")).alias("excludes_home"),
        pl.when(ctx.is_in(["not_after", "not_after_page"])).then(None).otherwise(pl.col("date_low")).alias("date_low"),
        pl.when(ctx == "not_before").then(None)
        .when(ctx == "not_after_page").then(pl.col("_publ") if "_publ" in claims.columns else pl.lit(None, pl.Date))
        .otherwise(pl.col("date_high")).alias("date_high"),
    )
