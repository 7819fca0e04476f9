"""Frames of the evidence rules (``opsledger.validation.rules.evidence``) and the grounding counts.

A claim is, in this run:

- **grounded** when its phrase was found in a text read here: its source's archived copy (the
  archive directory given with ``--sources``) or a page fetched into that directory by
  ``opsledger sources fetch`` (its quotation, or its phrase when it has none, stands on the page);
- **quotation-only** when it is not grounded but carries a quotation that holds its phrase, and, where
  its page can no longer be read (``sources.unreadable_on``), the day and place the quotation was read
  (``claims.quoted_on``, ``claims.quoted_from``);
- **unsupported** otherwise (no quotation, or a quotation without the phrase, and no text read).

Phrase matching is exact after normalisation (:func:`normalise`): whitespace runs (NBSP included)
become one space, curly quotes straight ones, dashes and minus signs a hyphen; case is kept, since
the phrase and its quotation are both copied from the same sentence (case-folding would let a
reworded capitalisation pass).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from opsledger.data.text import QUOTES as _QUOTES, normalise  # one definition, shared with sources (no import cycle)

GROUNDING = ("grounded", "quotation_only", "unsupported")


def _in(needle: str | None, hay: str | None) -> bool:
    if not needle or not hay:
        return False
    return normalise(needle) in normalise(hay)


def archive_texts(t, archive: Path | None) -> dict[str, str]:
    """source_id -> normalised archived text, for the archived sources whose file is in ``archive``
    (file names confined to the directory)."""
    from opsledger.data.io import inside

    if archive is None or not Path(archive).is_dir():
        return {}
    out = {}
    for sid, fname in t["sources"].select("source_id", "archive_file").drop_nulls().iter_rows():
        p = inside(Path(archive), fname)
        if p is not None and p.is_file():
            out[sid] = normalise(p.read_text(encoding="utf-8", errors="replace"))
    return out


def normalise_expr(col: str) -> pl.Expr:
    """:func:`normalise` as a polars expression (the same text, vectorised)."""
    table = {chr(k): (v or "") for k, v in _QUOTES.items()}
    return (pl.col(col).str.normalize("NFC").str.replace_many(list(table), list(table.values()))
            .str.replace_all(r"\s+", " ").str.strip_chars(" "))


def grounding_frame(t, archive: Path | None = None) -> pl.DataFrame:
    """One row per claim: claim_id, source_id, ``grounding`` (grounded | quotation_only |
    unsupported) and how (``via``: archive | fetched | quotation | none). The phrase in quotation test
    is vectorised; only the claims of sources with a text read here are looked up one by one."""
    from opsledger.refetch import cached_texts

    archived = archive_texts(t, archive)
    pages = cached_texts(archive) if archive is not None and Path(archive).is_dir() else {}
    urls = dict(t["sources"].select("source_id", "url").iter_rows())
    with_text = set(archived) | {sid for sid, u in urls.items() if u in pages}
    c = t["claims"].select("claim_id", "source_id", normalise_expr("stated").alias("s"),
                           normalise_expr("quotation").alias("q"))
    quoted = (pl.col("s") != "") & pl.col("q").is_not_null() & (pl.col("q") != "") \
        & pl.col("q").str.contains(pl.col("s"), literal=True).fill_null(False)
    # a quotation from a page that can no longer be read counts only with the day and place it was read
    if "unreadable_on" in t["sources"].columns and "quoted_on" in t["claims"].columns:
        gone = t["sources"].filter(pl.col("unreadable_on").is_not_null()).get_column("source_id")
        kept = t["claims"].select("claim_id", (pl.col("quoted_on").is_not_null() & pl.col("quoted_from").is_not_null())
                                  .alias("_kept"))
        c = join_claims(c, kept)
        quoted = quoted & (~pl.col("source_id").is_in(gone.implode()) | pl.col("_kept"))
    out = c.with_columns(
        pl.when(quoted).then(pl.lit("quotation_only")).otherwise(pl.lit("unsupported")).alias("grounding"),
        pl.when(quoted).then(pl.lit("quotation")).otherwise(pl.lit("none")).alias("via"))
    if with_text:
        rows = []
        for cid, sid, s, q in c.filter(pl.col("source_id").is_in(list(with_text))).select(
                "claim_id", "source_id", "s", "q").iter_rows():
            s, q = s or "", q or None
            if sid in archived and s and s in archived[sid]:
                rows.append((cid, "grounded", "archive"))
            elif urls.get(sid) in pages and (q or s) and (q or s) in pages[urls[sid]] and (q is None or s in q):
                rows.append((cid, "grounded", "fetched"))
        if rows:
            g = pl.DataFrame(rows, schema={"claim_id": pl.Utf8, "_g": pl.Utf8, "_v": pl.Utf8}, orient="row")
            out = out.join(g, on="claim_id", how="left").with_columns(
                pl.coalesce("_g", "grounding").alias("grounding"), pl.coalesce("_v", "via").alias("via"))
    return out.select("claim_id", "source_id", "grounding", "via")


def join_claims(c: pl.DataFrame, other: pl.DataFrame) -> pl.DataFrame:
    """Columns of ``other`` beside the rows of ``c`` (both one row per claim, in the claims' order)."""
    if c.height == other.height and c.get_column("claim_id").equals(other.get_column("claim_id")):
        return c.hstack(other.drop("claim_id"))
    return c.join(other, on="claim_id", how="left", maintain_order="left")


def grounding_counts(t, archive: Path | None = None) -> dict[str, int]:
    g = grounding_frame(t, archive).get_column("grounding")
    return {k: int((g == k).sum()) for k in GROUNDING}


def describe_counts(c: dict[str, int]) -> str:
    from opsledger.validation.findings import grounding_line

    return grounding_line(c)
