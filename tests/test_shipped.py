"""The shipped curation: every figure of the five archived documents is claimed, nobody is named."""

from __future__ import annotations

import polars as pl
import pytest

from conftest import ARCHIVE, needs_archive

ARCHIVED = {
    "000_e3b1279af5136d9d.txt": "interpol-blackwrist-release",
    "001_7236ec0d1dd86e47.txt": "au-news-blackwrist",
    "002_ef426cba09778a21.txt": "feature-blackwrist-icse",
    "003_5c426f6ab4e36209.txt": "sofiaglobe-blackwrist",
    "004_4f5ee80867734b0b.txt": "interpol-operation-h-release",
}

# Every figure and date each document states, as it states it (source -> phrase -> what it supports).
EXPECTED = {
    "interpol-blackwrist-release": {
        "50 children": "blackwrist.children_safeguarded", "11 boys": "blackwrist.victims_depicted",
        "nearly 63,000": "blackwrist.site_users", "nearly 60 countries": "blackwrist.countries_referred",
        "100 more children": "blackwrist.victims_unidentified", "15 months old": "blackwrist.youngest_victim_age_months",
        "146 years": "blackwrist.sentence.main-site-administrator", "June 2018": "blackwrist.sentence.main-site-administrator",
        "40 years and three months": "blackwrist.sentence.second-site-administrator",
        "17 May 2019": "blackwrist.sentence.second-site-administrator",
        "36 years": "blackwrist.sentence.associate-of-second-administrator",
        "in 2017": "blackwrist", "June 2017": "blackwrist.th-dsi.investigation",
        "November 2017": "blackwrist.victims-first-identified", "January 2018": "blackwrist.first-arrests",
        "two-year": "blackwrist.operation_duration_months", "under 13 years old": "blackwrist.victims_depicted_max_age_months",
        "thousands of images": "blackwrist.images_seized.second-site-administrator",
    },
    "au-news-blackwrist": {
        "50 children": "blackwrist.children_safeguarded", "11 boys": "blackwrist.victims_depicted",
        "146 years": "blackwrist.sentence.main-site-administrator", "June, 2018": "blackwrist.sentence.main-site-administrator",
        "40 years": "blackwrist.sentence.second-site-administrator", "50 counts": "blackwrist.charges_pleaded.second-site-administrator",
        "15-month-old": "blackwrist.youngest_victim_age_months", "100 children": "blackwrist.victims_unidentified",
        "early 2018": "blackwrist.first-arrests", "in 2017": "blackwrist", "two-year": "blackwrist.operation_duration_months",
    },
    "feature-blackwrist-icse": {
        "50 children": "blackwrist.children_safeguarded", "9 offenders": "blackwrist.arrests",
        "nine sex offenders": "blackwrist.offenders_prosecuted", "over 60,000": "blackwrist.site_users",
        "at least 100 more children": "blackwrist.victims_unidentified", "at least 19,481": "icse.victims_identified.s002",
        "over 1.5 million": "icse.images_videos.s002", "15 children": "icse.victims_identified_per_day.2018",
        "65 percent": "study.unidentified_victims_female", "92 percent": "study.offenders_male",
        "over 80 percent": "study.images_explicit", "146 years": "blackwrist.sentence.main-site-administrator",
        "40 years and three months": "blackwrist.sentence.second-site-administrator", "May 2019": "blackwrist.sentence.second-site-administrator",
        "May 23, 2019": "blackwrist", "November 2017": "blackwrist.victims-first-identified",
    },
    "sofiaglobe-blackwrist": {
        "50 children": "blackwrist.children_safeguarded", "11 boys": "blackwrist.victims_depicted",
        "nearly 60 countries": "blackwrist.countries_referred", "100 more children": "blackwrist.victims_unidentified",
        "in 2017": "blackwrist", "June 2017": "blackwrist.th-dsi.investigation", "two-year": "blackwrist.operation_duration_months",
    },
    "interpol-operation-h-release": {
        "more than 90,000": "h.accounts_identified", "46 New Zealand based individuals": "h.arrests.nz",
        "836 cases": "h.cases_investigated", "146 children": "h.children_safeguarded", "130 countries": "h.countries_referred",
        "approximately 153,000": "h.accounts_referred", "58 member countries": "h.countries_engaged",
        "October 2019": "h", "more than 27,700": "icse.victims_identified.s004", "some 12,500": "icse.offenders_identified.s004",
        "two-year": "h.operation_duration_months", "tens of thousands of offenders": "h.offenders_reported_by_provider",
    },
}


@pytest.mark.parametrize("source_id", sorted(EXPECTED))
def test_every_figure_of_each_document_is_claimed(shipped, source_id):
    c = shipped["claims"].filter(pl.col("source_id") == source_id)
    have = {(s, t) for s, t in c.select("stated", "target_id").iter_rows()}
    for stated, target in EXPECTED[source_id].items():
        assert (stated, target) in have, f"{source_id}: no claim {stated!r} for {target}"


def test_figures_with_several_sources_have_a_claim_each(shipped):
    c = shipped["claims"].filter(pl.col("target_id") == "blackwrist.children_safeguarded")
    assert c["source_id"].n_unique() == 4


def test_database_totals_are_never_outcomes(shipped):
    metrics = set(shipped["outcomes"]["metric"])
    assert not {m for m in metrics if m.startswith(("database_", "study_"))}
    assert "database_victims_identified" in set(shipped["statistics"]["metric"])


def test_every_sentence_is_an_outcome(shipped):
    s = shipped["outcomes"].filter(pl.col("metric") == "sentence_months")
    assert s.height >= 3
    assert set(s.filter(pl.col("operation_id") == "blackwrist")["value"]) >= {1752.0, 483.0, 432.0}


@needs_archive
def test_archive_hashes_recorded(shipped):
    import hashlib

    s = shipped["sources"].filter(pl.col("archive_file").is_not_null())
    for fname, sid in ARCHIVED.items():
        row = s.filter(pl.col("source_id") == sid)
        assert row["archive_file"].item() == fname
        assert row["sha256"].item() == hashlib.sha256((ARCHIVE / fname).read_bytes()).hexdigest()


def test_unknown_url_and_date_are_null_with_a_note(shipped):
    s = shipped["sources"].filter(pl.col("archive_file").is_not_null())
    # an archived seed document's address is null unless it was found again in the store of public pages
    for url, note in s.select("url", "note").iter_rows():
        assert url is not None or (note and "address" in note), note
        assert url is None or (note and "found again" in note), note
    # no source is undated (at worst bounded), and a bounded one says why in its evidence
    assert shipped["sources"]["published"].null_count() == 0


def test_no_copied_sentences(shipped):
    """Notes and summaries are our own words: no run of 12 words from an archived text."""
    import re

    if not ARCHIVE.is_dir():
        pytest.skip("archive not present")
    texts = [re.findall(r"\w+", p.read_text().lower()) for p in ARCHIVE.glob("*.txt")]
    grams = {" ".join(w[i:i + 12]) for w in texts for i in range(len(w) - 11)}
    for name, df in shipped.items():
        for col in ("note", "summary", "title"):
            if col not in df.columns or name == "sources" and col == "title":
                continue
            for v in df[col].drop_nulls():
                words = re.findall(r"\w+", v.lower())
                for i in range(len(words) - 11):
                    assert " ".join(words[i:i + 12]) not in grams, f"{name}.{col} copies: {v}"


def test_coverage_of_operations(shipped):
    ops = shipped["operations"]
    assert ops.height >= 17
    per_op = shipped["claims"].group_by("operation_id").agg(pl.col("source_id").n_unique().alias("n"))
    multi = per_op.filter(pl.col("n") >= 2).height
    assert multi >= 17, "two or more sources per operation wherever they exist"
    assert set(ops["lead_agency_id"]) <= set(shipped["agencies"]["agency_id"])


def test_sources_outside_the_archive_have_url_and_no_sha(shipped):
    s = shipped["sources"].filter(pl.col("archive_file").is_null())
    assert s["sha256"].null_count() == s.height
    # a URL is recorded exactly as found, or withheld with a note (e.g. it contains a person's name)
    assert s.filter(pl.col("url").is_null() & pl.col("note").is_null()).height == 0
