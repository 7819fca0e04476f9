"""Frames of the evidence rules (suite ``checks/suites/evidence.json``) and the grounding counts.

A claim is, in this run:

- **grounded** when its phrase was found in a text read here: its source's archived copy (the
  archive directory given with ``--sources``) or a page fetched into that directory by
  ``opsledger sources fetch`` (its quotation, or its phrase when it has none, stands on the page);
- **quotation-only** when it is not grounded but carries a quotation that holds its phrase;
- **unsupported** otherwise (no quotation, or a quotation without the phrase, and no text read).

Phrase matching is exact after normalisation (:func:`normalise`): whitespace runs (NBSP included)
become one space, curly quotes straight ones, dashes and minus signs a hyphen; case is kept, since
the phrase and its quotation are both copied from the same sentence (case-folding would let a
reworded capitalisation pass).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from opsledger.text import normalise  # one definition, shared with sources (no import cycle)

GROUNDING = ("grounded", "quotation_only", "unsupported")


def _in(needle: str | None, hay: str | None) -> bool:
    if not needle or not hay:
        return False
    return normalise(needle) in normalise(hay)


def archive_texts(t, archive: Path | None) -> dict[str, str]:
    """source_id -> normalised archived text, for the archived sources whose file is in ``archive``
    (file names confined to the directory)."""
    from opsledger.sources import confined

    if archive is None or not Path(archive).is_dir():
        return {}
    out = {}
    for sid, fname in t["sources"].select("source_id", "archive_file").drop_nulls().iter_rows():
        p = confined(Path(archive), fname)
        if p is not None and p.is_file():
            out[sid] = normalise(p.read_text(encoding="utf-8", errors="replace"))
    return out


def grounding_frame(t, archive: Path | None = None) -> pl.DataFrame:
    """One row per claim: claim_id, source_id, ``grounding`` (grounded | quotation_only |
    unsupported) and how (``via``: archive | fetched | quotation | none)."""
    from opsledger.sources import cached_texts

    archived = archive_texts(t, archive)
    pages = cached_texts(archive) if archive is not None and Path(archive).is_dir() else {}
    urls = dict(t["sources"].select("source_id", "url").iter_rows())
    rows = []
    for cid, sid, stated, quotation in t["claims"].select("claim_id", "source_id", "stated", "quotation").iter_rows():
        s = normalise(stated or "")
        q = normalise(quotation) if quotation else None
        if sid in archived and s and s in archived[sid]:
            rows.append((cid, sid, "grounded", "archive"))
        elif urls.get(sid) in pages and (q or s) and (q or s) in pages[urls[sid]] and (q is None or s in q):
            rows.append((cid, sid, "grounded", "fetched"))
        elif q and s and s in q:
            rows.append((cid, sid, "quotation_only", "quotation"))
        else:
            rows.append((cid, sid, "unsupported", "none"))
    return pl.DataFrame(rows, schema={"claim_id": pl.Utf8, "source_id": pl.Utf8, "grounding": pl.Utf8,
                                      "via": pl.Utf8}, orient="row")


def grounding_counts(t, archive: Path | None = None) -> dict[str, int]:
    g = grounding_frame(t, archive).get_column("grounding")
    return {k: int((g == k).sum()) for k in GROUNDING}


def describe_counts(c: dict[str, int]) -> str:
    from opsledger.findings import grounding_line

    return grounding_line(c)


# --------------------------------------------------------------------------- rule frames


def frame_quotations(t) -> pl.DataFrame:
    """evidence.phrase_in_quotation: a claim's stated phrase stands in its quotation."""
    c = t["claims"].filter(pl.col("quotation").is_not_null())
    ok = [_in(s, q) for s, q in c.select("stated", "quotation").iter_rows()]
    return c.select(
        pl.col("claim_id").alias("row_key"), pl.lit("claims").alias("table"), pl.col("source_id").alias("sources"),
        pl.Series("in_quotation", ok, dtype=pl.Boolean),
        pl.format("the stated phrase {} is not in its quotation {}",
                  pl.col("stated").map_elements(repr, return_dtype=pl.Utf8),
                  pl.col("quotation").map_elements(repr, return_dtype=pl.Utf8)).alias("detail"),
    )


def frame_traceable(t) -> pl.DataFrame:
    """evidence.source_traceable: an address, an archived copy, or a complete citation."""
    s = t["sources"]
    citation = pl.col("publisher").is_not_null() & pl.col("title").is_not_null() & pl.col("published").is_not_null()
    return s.select(
        pl.col("source_id").alias("row_key"), pl.lit("sources").alias("table"), pl.col("source_id").alias("sources"),
        (pl.col("url").is_not_null() | pl.col("archive_file").is_not_null() | citation).alias("traceable"),
        pl.format("no url, no archived copy and an incomplete citation (publisher {}, title {}, published {})",
                  pl.col("publisher").is_not_null().cast(pl.Utf8).replace({"true": "set", "false": "missing"}),
                  pl.col("title").is_not_null().cast(pl.Utf8).replace({"true": "set", "false": "missing"}),
                  pl.col("published").is_not_null().cast(pl.Utf8).replace({"true": "set", "false": "missing"}))
        .alias("detail"),
    )


def frame_web_claims(t, grounding: pl.DataFrame) -> pl.DataFrame:
    """evidence.web_claim_quoted (warning): a claim of a source that is not archived carries a
    quotation holding its phrase, or is grounded in a fetched page."""
    archived = t["sources"].filter(pl.col("archive_file").is_not_null()).get_column("source_id")
    g = grounding.filter(~pl.col("source_id").is_in(archived.implode()))
    return g.select(
        pl.col("claim_id").alias("row_key"), pl.lit("claims").alias("table"), pl.col("source_id").alias("sources"),
        (pl.col("grounding") != "unsupported").alias("supported"),
        pl.lit("unsupported: the source is not archived and the claim has no quotation holding its phrase "
               "(the note should say why)").alias("detail"),
    )


def frames(t) -> dict[str, pl.DataFrame]:
    return {
        "quotations": frame_quotations(t),
        "traceable": frame_traceable(t),
    }


def web_claims_rule(t, grounding: pl.DataFrame):
    """evidence.web_claim_quoted, counted rather than a finding per claim: a claim of a source that is
    not archived and has no quotation holding its phrase is unsupported. The count is in every report
    (the grounding line); the rule's status is ``warning`` while any is left, and its detail names them.
    (As findings, each would block a release until acknowledged one by one, while the curators' notes
    already say why the page could not be quoted.)"""
    from opsledger.findings import RuleRun

    bad = sorted(_failing_keys(frame_web_claims(t, grounding)))
    run = RuleRun("evidence.web_claim_quoted", "cross", "warning",
                  "A claim whose source is not archived carries a quotation holding its phrase (or is grounded "
                  "in a fetched page); otherwise it is counted as unsupported.")
    if bad:
        run.status = "warning"
        run.detail = f"{len(bad)} web claims unsupported (counted, not findings): {', '.join(bad)}"
    return run


def _failing_keys(frame: pl.DataFrame) -> list[str]:
    return frame.filter(~pl.col("supported")).get_column("row_key").to_list()
