"""Grounding rules, run when the source archive is given (``--sources DIR``): each archived file is
the one the data names (its SHA-256), and each claim's phrase stands at its locator in that file."""

from __future__ import annotations

import polars as pl

from opsledger.validation.rules.base import Family, Inputs, Rule, expect, frame, quoted


def skip(x: Inputs) -> str | None:
    """Why the family cannot run (None: it runs)."""
    if x.sources is None:
        return "skipped: no source archive given (--sources DIR)"
    if x.archive is None:
        return f"skipped: source archive {x.sources} does not exist"
    return None


def _detail_source_files() -> pl.Expr:
    return (pl.when(pl.col("file_sha256").is_null())
            .then(pl.format("{} is not in the archive", pl.col("archive_file")))
            .otherwise(pl.format("sha256 is {}, the file {} has {}", pl.col("sha256"), pl.col("archive_file"),
                                 pl.col("file_sha256"))))


@frame("source_files", sources="row_key")
def source_files(x: Inputs) -> pl.DataFrame:
    """One row per archived source: the SHA-256 the data states and the archived file's (null when
    the file is not there)."""
    from opsledger.derive.reconcile import archive_text

    s = x.t["sources"].filter(pl.col("archive_file").is_not_null())
    got = [archive_text(x.archive, f, sid) for sid, f in s.select("source_id", "archive_file").iter_rows()]  # type: ignore[arg-type]
    return s.select(pl.col("source_id").alias("row_key"), pl.lit("sources").alias("table"), "archive_file",
                    "sha256").with_columns(pl.Series("file_sha256", [g[1] if g else None for g in got], pl.Utf8))


def _detail_claim_locators() -> pl.Expr:
    return (pl.when(pl.col("in_file").is_null())
            .then(pl.format("{} is not in the archive", pl.col("archive_file")))
            .when(~pl.col("in_file"))
            .then(pl.format("{} does not occur in {} (the phrase must be copied exactly as the source writes it)",
                            quoted("stated"), pl.col("archive_file")))
            .otherwise(pl.format("{} is not at offset {} of {} (run `opsledger reconcile --write` to re-locate it)",
                                 quoted("stated"), pl.col("locator_offset"), pl.col("archive_file"))))


@frame("claim_locators", sources="source_id")
def claim_locators(x: Inputs) -> pl.DataFrame:
    """One row per claim of an archived source: its stated phrase and the text standing at its
    locator in the archived file (null when there is no file or no locator)."""
    from opsledger.derive.reconcile import archive_text

    files = dict(x.t["sources"].select("source_id", "archive_file").drop_nulls().iter_rows())
    c = x.t["claims"].filter(pl.col("source_id").is_in(list(files)))
    at, found = [], []
    for sid, stated, off in c.select("source_id", "stated", "locator_offset").iter_rows():
        got = archive_text(x.archive, files[sid], sid)  # type: ignore[arg-type]
        text = got[0] if got else None
        at.append(text[off:off + len(stated)] if text is not None and off is not None else None)
        found.append(None if text is None else stated in text)
    return c.select(pl.col("claim_id").alias("row_key"), pl.lit("claims").alias("table"), "source_id", "stated",
                    "locator_offset", pl.col("source_id").replace_strict(files, default=None).alias("archive_file")
                    ).with_columns(pl.Series("text_at_locator", at, pl.Utf8), pl.Series("in_file", found, pl.Boolean))


def not_archived(x: Inputs) -> tuple[str, str | None] | None:
    """An informational line: how many sources are cited by address only (not grounded here)."""
    if x.archive is None:
        return None
    n = x.t["sources"].filter(pl.col("archive_file").is_null()).height
    if not n:
        return None
    return "skipped", f"skipped for {n} sources that are not archived (cited by URL; not grounded)"


FAMILY = Family("grounding", "6. Every source and phrase is found in the archive", skip=skip)

RULES = [
    Rule("grounding.sha256", "error",
         "Each archived source's sha256 matches its file in the archive.",
         frame=source_files, detail=_detail_source_files,
         decision=(expect("column_pair_values_to_be_equal", column_A="sha256", column_B="file_sha256"),)),
    Rule("grounding.phrase_at_locator", "error",
         "Each claim's stated phrase stands in its source's archived text at its locator.",
         frame=claim_locators, detail=_detail_claim_locators,
         decision=(expect("column_pair_values_to_be_equal", column_A="stated", column_B="text_at_locator"),)),
    Rule("grounding.not_archived", "warning", "Sources outside the archive cannot be grounded here.",
         decision=not_archived),
]
