"""Time (issue 21): dates as intervals, as-of ordering of running totals, series, and the rules that
break on an inverted interval, an as-of before the events a page reports and a falling total."""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys

import polars as pl
import pytest

from opsledger.derive.reconcile import derive_all, interval_period
from opsledger.validation.rules import evaluate

from conftest import REPO, small_tables
from conftest import set_cells as _set

D = dt.date(2022, 3, 2)
OUT = "h.arrests.nz"  # arrests: a running total




def _with_claims(shipped: dict, figures: list[tuple[str, dt.date, dt.date, str]], based_on: str | None = None) -> dict:
    """The shipped tables with the claims of OUT replaced by one claim per (stated, earliest, latest,
    precision), each from its own source published over that interval; ``based_on``: what every one of
    those pages repeats (one line of reporting), else each is its own line. Only operation H's rows
    (with what they need) are kept and derived: OUT is one of its figures."""
    t = small_tables(shipped, ["h"])
    src = t["sources"].filter(pl.col("source_id") == "interpol-operation-h-release")
    base = t["claims"].filter(pl.col("claim_id") == "h.arrests.nz.s004")
    new_s, new_c = [], []
    for i, (stated, lo, hi, prec) in enumerate(figures):
        sid = f"time-test-{i}"
        # each page its own line of reporting (its own publisher, repeating nothing)
        new_s.append(src.with_columns(pl.lit(sid).alias("source_id"), pl.lit(f"publisher {i}").alias("publisher"),
                                      pl.lit(based_on, pl.Utf8).alias("based_on"), pl.lit(lo).alias("published"),
                                      pl.lit(hi).alias("published_latest"), pl.lit(prec).alias("published_precision"),
                                      pl.lit(None, pl.Utf8).alias("archive_file"), pl.lit(None, pl.Utf8).alias("sha256")))
        new_c.append(base.with_columns(pl.lit(f"h.arrests.nz.t{i}").alias("claim_id"), pl.lit(sid).alias("source_id"),
                                       pl.lit(stated).alias("stated"), pl.lit(None, pl.Date).alias("as_of"),
                                       pl.lit(None, pl.Utf8).alias("as_of_precision"),
                                       pl.lit(None, pl.Utf8).alias("quotation"),
                                       pl.lit(None, pl.Int64).alias("locator_paragraph"),
                                       pl.lit(None, pl.Int64).alias("locator_offset")))
    t["sources"] = pl.concat([t["sources"], *new_s]).sort("source_id")
    t["claims"] = pl.concat([t["claims"].filter(pl.col("target_id") != OUT), *new_c]).sort("claim_id")
    return derive_all(t)


def _outcome(t: dict) -> dict:
    return t["outcomes"].filter(pl.col("outcome_id") == OUT).row(0, named=True)


# --------------------------------------------------------------------------- series and ties


def test_rising_counts_from_one_day_are_a_series(shipped):
    # the morning and the evening of one day
    o = _outcome(_with_claims(shipped, [("40 arrests", D, D, "day"), ("46 arrests", D, D, "day")]))
    assert o["status"] != "disputed" and o["value"] == 46.0 and o["as_of"] == D


def test_rising_counts_from_one_week_are_a_series(shipped):
    later = D + dt.timedelta(days=6)
    o = _outcome(_with_claims(shipped, [("40 arrests", D, D, "day"), ("46 arrests", later, later, "day")]))
    assert o["status"] != "disputed" and o["value"] == 46.0
    assert (o["as_of"], o["as_of_latest"], o["as_of_precision"]) == (later, later, "day")


def test_a_series_does_not_depend_on_which_claim_of_the_top_figure_comes_first(shipped):
    # "59" and "around 59" both state the top figure of one day; "56" is the earlier count of that day
    figures = [("56 arrests", D, D, "day"), ("59 arrests", D, D, "day"), ("around 59 arrests", D, D, "day")]
    for order in (figures, figures[::-1], [figures[2], figures[0], figures[1]]):
        o = _outcome(_with_claims(shipped, order))
        assert o["status"] != "disputed" and o["value"] == 59.0, order


def test_a_count_that_falls_within_a_week_stays_disputed(shipped):
    later = D + dt.timedelta(days=3)
    o = _outcome(_with_claims(shipped, [("46 arrests", D, D, "day"), ("40 arrests", later, later, "day")]))
    assert o["status"] == "disputed"


def test_a_bounded_claim_never_displaces_the_dated_figure_on_a_tie(shipped):
    read = dt.date(2026, 11, 30)
    o = _outcome(_with_claims(shipped, [("46 arrests", D, read, "bounded"), ("46 arrests", D, D, "day")]))
    # the figure is the same; the outcome is as of the day, not of the bounds
    assert o["value"] == 46.0 and o["status"] == "corroborated"
    assert (o["as_of"], o["as_of_latest"], o["as_of_precision"]) == (D, D, "day")


def test_a_claim_known_only_within_bounds_does_not_dispute_a_later_figure(shipped):
    # an undated page (bounded from the first report to the day it was read) with the early count,
    # and a later dated figure: the later figure is reported, as of its own date
    read = dt.date(2026, 11, 30)
    later = D + dt.timedelta(days=300)
    o = _outcome(_with_claims(shipped, [("40 arrests", D, read, "bounded"), ("46 arrests", later, later, "day")]))
    assert o["status"] == "single_source" and o["value"] == 46.0 and o["as_of"] == later


def test_an_earlier_claim_of_the_same_figure_corroborates_the_latest(shipped):
    earlier = D - dt.timedelta(days=60)
    o = _outcome(_with_claims(shipped, [("46 arrests", earlier, earlier, "day"), ("46 arrests", D, D, "day")]))
    assert o["status"] == "corroborated" and o["n_sources"] == 2 and o["as_of"] == D


def test_copies_of_one_release_are_one_line_of_reporting_not_corroboration(shipped):
    figures = [("46 arrests", D, D, "day"), ("46 arrests", D, D, "day")]
    o = _outcome(_with_claims(shipped, figures, based_on="one wire story"))
    assert o["status"] == "single_source" and o["n_sources"] == 2
    assert _outcome(_with_claims(shipped, figures))["status"] == "corroborated"


def test_a_later_total_reports_the_latest_figure(shipped):
    earlier = D - dt.timedelta(days=60)
    o = _outcome(_with_claims(shipped, [("40 arrests", earlier, earlier, "day"), ("46 arrests", D, D, "day")]))
    assert o["value"] == 46.0 and o["status"] == "single_source" and o["as_of"] == D


def test_claim_as_of_is_its_source_interval(shipped):
    read = dt.date(2026, 11, 30)
    t = _with_claims(shipped, [("46 arrests", D, read, "bounded")])
    c = t["claims"].filter(pl.col("claim_id") == "h.arrests.nz.t0").row(0, named=True)
    assert (c["as_of"], c["as_of_latest"], c["as_of_precision"]) == (D, read, "bounded")


def test_interval_period():
    assert interval_period(D, D) == (D, "day", D)
    assert interval_period(D, D + dt.timedelta(days=7)) == (D, "week", D + dt.timedelta(days=7))
    # the interval itself, never widened to its calendar month or year (Bamberg's four weeks were 2023)
    assert interval_period(dt.date(2022, 3, 1), dt.date(2022, 3, 20)) == (dt.date(2022, 3, 1), "month",
                                                                           dt.date(2022, 3, 20))
    assert interval_period(dt.date(2023, 1, 27), dt.date(2023, 2, 24)) == (dt.date(2023, 1, 27), "month",
                                                                           dt.date(2023, 2, 24))
    assert interval_period(dt.date(2019, 9, 1), dt.date(2019, 12, 31)) == (dt.date(2019, 9, 1), "year",
                                                                           dt.date(2019, 12, 31))
    assert interval_period(dt.date(2022, 1, 1), dt.date(2022, 12, 31))[1] == "year"
    assert interval_period(dt.date(2021, 12, 1), dt.date(2022, 2, 1))[1] == "bounded"
    assert interval_period(dt.date(2021, 6, 1), dt.date(2022, 3, 1))[1] == "bounded"


# --------------------------------------------------------------------------- rules


def test_inverted_interval_is_found(shipped):
    t = _set(shipped, "sources", "interpol-operation-h-release", published_latest=dt.date(2021, 12, 31))
    got = evaluate(t, ["timeline.interval_not_inverted"])["timeline.interval_not_inverted"]
    assert got == {"interpol-operation-h-release.published"}


def test_interval_wider_than_its_precision_is_found(shipped):
    t = _set(shipped, "sources", "interpol-operation-h-release", published_precision="week")
    got = evaluate(t, ["timeline.interval_precision"])["timeline.interval_precision"]
    assert got == {"interpol-operation-h-release.published"}


def test_as_of_before_the_events_the_page_reports_is_found(shipped):
    # the INTERPOL release dated to the day before the launch it reports
    day = dt.date(2019, 1, 1)
    t = _set(shipped, "sources", "interpol-operation-h-release", published=day, published_latest=day,
             published_precision="day")
    t = _set(t, "claims", "h.arrests.nz.s004", as_of=None, as_of_precision=None)  # dated by its source
    t = derive_all(t)
    got = evaluate(t, ["timeline.as_of_after_events"])["timeline.as_of_after_events"]
    assert "h.arrests.nz.s004" in got


def _bounds(shipped: dict, op: str, bounds: list[tuple[str, str]]) -> dict:
    """The shipped tables with the announcement claims of ``op`` replaced by one per (stated, context),
    each from a test page dated 20 August 2013 (phrases written for the test, not a source's). Only the
    rows of ``op`` and of operation H (whose release the page copies) are kept and derived."""
    t = small_tables(shipped, ["h", op])
    src = t["sources"].filter(pl.col("source_id") == "interpol-operation-h-release").with_columns(
        pl.lit("bounds-test-page").alias("source_id"), pl.lit(dt.date(2013, 8, 20)).alias("published"),
        pl.lit(dt.date(2013, 8, 20)).alias("published_latest"), pl.lit("day").alias("published_precision"),
        pl.lit(None, pl.Utf8).alias("archive_file"), pl.lit(None, pl.Utf8).alias("sha256"))
    tpl = t["claims"].filter(pl.col("target_column") == "announced").head(1)
    rows = [tpl.with_columns(pl.lit(f"{op}.announced.b{i}").alias("claim_id"), pl.lit("bounds-test-page").alias("source_id"),
                             pl.lit(op).alias("operation_id"), pl.lit(op).alias("target_id"),
                             pl.lit(stated).alias("stated"), pl.lit(ctx).alias("context"),
                             pl.lit(None, pl.Utf8).alias("quotation"))
            for i, (stated, ctx) in enumerate(bounds)]
    others = t["claims"].filter((pl.col("target_id") != op) | (pl.col("target_column") != "announced"))
    t["sources"] = pl.concat([t["sources"], src]).sort("source_id")
    t["claims"] = pl.concat([others, *rows]).sort("claim_id")
    return derive_all(t)


def _op(t: dict, op: str) -> dict:
    return t["operations"].filter(pl.col("operation_id") == op).row(0, named=True)


def test_an_announcement_known_only_between_two_bounds_is_that_interval(shipped):
    # raids of 9 August come before the announcement; a page of 16 August already gives the results
    after, report = ("9 August 2013", "not_before"), ("16 August 2013", "not_after")
    t = _bounds(shipped, "pureza_ii", [after, report])
    op = _op(t, "pureza_ii")
    assert (op["announced"], op["announced_latest"], op["announced_precision"]) == (
        dt.date(2013, 8, 9), dt.date(2013, 8, 16), "week")
    c = t["claims"].filter(pl.col("claim_id").str.starts_with("pureza_ii.announced.b")).sort("claim_id")
    assert c.select("date_low", "date_high").rows() == [(dt.date(2013, 8, 9), None), (None, dt.date(2013, 8, 16))]
    assert "pureza_ii.announced" not in evaluate(t, ["reconciliation.dates_agree"])["reconciliation.dates_agree"]
    # one side alone dates nothing
    assert _op(_bounds(shipped, "pureza_ii", [report]), "pureza_ii")["announced"] is None
    # bounds that cannot both hold are a date dispute
    t = _bounds(shipped, "pureza_ii", [("17 August 2013", "not_before"), report])
    assert "pureza_ii.announced" in evaluate(t, ["reconciliation.dates_agree"])["reconciliation.dates_agree"]
    # and the field they date is left empty, even where it held a date before
    assert _op(shipped, "belfort")["announced"] is not None
    t = _bounds(shipped, "belfort", [("17 August 2013", "not_before"), report])
    assert "belfort.announced" in evaluate(t, ["reconciliation.dates_agree"])["reconciliation.dates_agree"]
    assert (_op(t, "belfort")["announced"], _op(t, "belfort")["announced_precision"]) == (None, None)


def test_a_dated_page_that_already_reports_the_results_bounds_the_announcement(shipped):
    # not_after_page: the phrase shows the page reports the results; the bound is the page's own date
    t = _bounds(shipped, "pureza_ii", [("9 August 2013", "not_before"), ("more than 100 arrests", "not_after_page")])
    op = _op(t, "pureza_ii")
    assert (op["announced"], op["announced_latest"]) == (dt.date(2013, 8, 9), dt.date(2013, 8, 20))
    c = t["claims"].filter(pl.col("claim_id") == "pureza_ii.announced.b1").row(0, named=True)
    assert (c["date_low"], c["date_high"]) == (None, dt.date(2013, 8, 20))
    got = evaluate(t, ["reconciliation.phrase_readable", "reconciliation.claim_matches_phrase"])
    assert not any(k.startswith("pureza_ii.") for found in got.values() for k in found)


def test_a_date_across_calendar_years_gives_no_headline_year(shipped):
    # an announcement bounded from 2005 to 2008 does not say 2005: the year comes from the next date
    t = _bounds(shipped, "pureza_ii", [("2012", "not_before"), ("16 August 2013", "not_after")])
    op = _op(t, "pureza_ii")
    assert (op["announced"], op["announced_latest"]) == (dt.date(2012, 1, 1), dt.date(2013, 8, 16))
    h = t["headline"].filter(pl.col("operation_id") == "pureza_ii").row(0, named=True)
    assert h["year_from"] != "announced"
    t = _bounds(shipped, "pureza_ii", [("1 August 2013", "not_before"), ("16 August 2013", "not_after")])
    h = t["headline"].filter(pl.col("operation_id") == "pureza_ii").row(0, named=True)
    assert (h["year"], h["year_from"]) == (2013, "announced")


def test_running_total_that_falls_is_found_and_same_figure_is_not(shipped):
    later = D + dt.timedelta(days=60)
    t = _with_claims(shipped, [("46 arrests", D, D, "day"), ("40 arrests", later, later, "day")])
    assert OUT in evaluate(t, ["meaning.running_total_falls"])["meaning.running_total_falls"]
    # the same figure with a different hedge is not a fall
    t = _with_claims(shipped, [("more than 46 arrests", D, D, "day"), ("46 arrests", later, later, "day")])
    assert OUT not in evaluate(t, ["meaning.running_total_falls"])["meaning.running_total_falls"]


# --------------------------------------------------------------------------- the data


def test_every_source_claim_and_outcome_is_placed_in_time(shipped):
    s = shipped["sources"]
    assert s["published"].null_count() == 0 and s["published_latest"].null_count() == 0
    assert s["published_evidence"].null_count() == 0
    for name in ("claims", "outcomes"):
        assert shipped[name]["as_of"].null_count() == 0 and shipped[name]["as_of_latest"].null_count() == 0


def test_the_datasheet_says_how_well_the_data_is_placed_in_time(shipped):
    from opsledger.declarations.coverage import coverage_markdown

    src = shipped["sources"]
    from opsledger.declarations import precision_days

    year = src.filter((pl.col("published_latest") - pl.col("published")).dt.total_days()
                      <= precision_days()["year"]).height
    line = next(x for x in str(coverage_markdown(shipped)).splitlines() if x.startswith("- Time:"))
    assert line.startswith(f"- Time: {year} of {src.height} sources")
    # one source widened to two years leaves the count one lower
    sid = src.filter((pl.col("published_latest") == pl.col("published")))["source_id"][0]
    wide = _set(shipped, "sources", sid, published_latest=src.filter(pl.col("source_id") == sid)["published"][0]
                + dt.timedelta(days=730))
    line = next(x for x in str(coverage_markdown(wide)).splitlines() if x.startswith("- Time:"))
    assert line.startswith(f"- Time: {year - 1} of {src.height} sources")


def test_headline_year_says_where_it_comes_from(shipped):
    h = shipped["headline"]
    assert h["year_from"].null_count() == 0
    assert set(h["year_from"]) <= {"announced", "launched", "events", "claims"}


# --------------------------------------------------------------------------- curation script


def _dates_script():
    spec = importlib.util.spec_from_file_location("dates_to_changeset", REPO / "curation" / "dates_to_changeset.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["dates_to_changeset"] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("lo,hi,want", [
    ("2020-01-01", "2020-01-01", "day"), ("2020-01-30", "2020-02-06", "week"), ("2020-01-02", "2020-01-31", "month"),
    ("2020-01-02", "2020-12-31", "year"), ("2019-12-01", "2020-03-01", "bounded")])
def test_precision_of_an_interval(lo, hi, want):
    assert _dates_script().precision_of(dt.date.fromisoformat(lo), dt.date.fromisoformat(hi)) == want


#: what a source known only within bounds holds (every source has at least its bounds)
BOUNDED = {"published": dt.date(2020, 1, 1), "published_latest": dt.date(2026, 11, 30),
           "published_precision": "bounded", "published_evidence": "bounded"}
BOUNDED_EXPECT = {"published": "2020-01-01", "published_latest": "2026-11-30", "published_precision": "bounded",
                  "published_evidence": "bounded"}


HEAD = "source_id\tearliest\tlatest\tprecision\tevidence\tdetail\tpage_address\n"


def _dates_log(tmp_path, sources: dict[str, dict], logs: dict[str, str], claims: list[dict] = ()):
    """A data directory with these sources (id -> publication columns) and claims, and a review folder
    with these date logs (file name -> rows after the header): what build_intervals returns for them."""
    from conftest import write_empty_tables
    from opsledger.data import io as oio

    data = tmp_path / "datasets"
    data.mkdir()
    write_empty_tables(data)
    t = oio.read_tables(data)
    t["sources"] = pl.DataFrame([{c: None for c in t["sources"].columns} | {"source_id": sid, "kind": "news",
                                                                           "language": "de"} | pub
                                 for sid, pub in sources.items()], schema=t["sources"].schema)
    if claims:
        t["claims"] = pl.DataFrame([{c: None for c in t["claims"].columns} | c for c in claims], schema=t["claims"].schema)
    oio.write_tables(t, data, keep_backup=False)
    review = tmp_path / "review"
    review.mkdir()
    for name, rows in logs.items():
        (review / name).write_text(HEAD + rows, encoding="utf-8")
    return _dates_script().build_intervals(data, review)


def test_log_becomes_interval_changes_citing_evidence(tmp_path):
    changes, problems = _dates_log(tmp_path, {"a-page": BOUNDED, "b-page": BOUNDED}, {
        "source_dates_a.tsv": "a-page\t2023-08-07\t2023-08-10\tweek\trelative\t'am Montag' the raids; no year shown\t\n"
                              "missing\t2020-01-01\t2020-01-01\tday\tpage\tx\t\n",
        "source_dates_b.tsv": "b-page\t2023-08-10\t2023-08-07\tday\tpage\tinverted\t\n"})
    assert len(changes) == 1 and any("b-page" in p and "after latest" in p for p in problems), problems
    ch = changes[0]
    assert ch["set"] == {"published": "2023-08-07", "published_latest": "2023-08-10", "published_precision": "week",
                         "published_evidence": "relative"}
    assert ch["expect"] == BOUNDED_EXPECT
    assert "without a year" in ch["reason"] and "am Montag" in ch["reason"]
    assert any("missing is not in the data" in p for p in problems)
    assert any("after latest" in p for p in problems)


def test_a_later_log_replaces_an_earlier_reading_of_the_same_source(tmp_path):
    changes, problems = _dates_log(tmp_path, {"a-page": BOUNDED}, {
        "source_dates_a.tsv": "a-page\t2023-08-07\t2026-11-30\tbounded\tbounded\tno date\t\n",
        "source_dates_c.tsv": "a-page\t2023-08-09\t2023-08-09\tday\tpage\tits stamp\t\n"})
    assert not problems and [c["set"] for c in changes] == [
        {"published": "2023-08-09", "published_latest": "2023-08-09", "published_precision": "day",
         "published_evidence": "page"}]


def test_claims_dated_by_their_source_follow_its_new_interval(tmp_path):
    old = {"published": dt.date(2023, 1, 1), "published_latest": dt.date(2026, 11, 30), "published_precision": "bounded",
           "published_evidence": "bounded"}
    claim = {"source_id": "a-page", "stated": "40", "target_table": "outcomes", "target_column": "value",
             "excludes_home": False, "scope": "worldwide", "target_id": "x", "operation_id": "x", "qualifier": "exact"}
    changes, problems = _dates_log(tmp_path, {"a-page": old}, {
        "source_dates_c.tsv": "a-page\t2023-08-09\t2023-08-09\tday\tpage\tits stamp\t\n"}, claims=[
        claim | {"claim_id": "x.by-source", "as_of": old["published"], "as_of_latest": old["published_latest"],
                 "as_of_precision": "bounded"},
        claim | {"claim_id": "x.by-sentence", "as_of": dt.date(2023, 3, 1), "as_of_latest": dt.date(2023, 3, 31),
                 "as_of_precision": "month"}])
    claims = [c for c in changes if c["table"] == "claims"]
    assert not problems and [(c["key"], c["expect"], c["set"]) for c in claims] == [
        ("x.by-source", {"as_of": "2023-01-01", "as_of_precision": "bounded"},
         {"as_of": "2023-08-09", "as_of_precision": "day"})]


# --------------------------------------------------------------------------- weekdays and relative days

MON = dt.date(2023, 8, 28)  # a Monday


@pytest.mark.parametrize("lang,phrase,written,want", [
    # phrases as the sources print them (curation/review/*dates*.tsv), in every shipped language
    ("es", "este lunes", MON, (MON, MON)),
    ("es", "el martes", dt.date(2024, 9, 26), (dt.date(2024, 9, 24), dt.date(2024, 9, 24))),
    ("es", "este miércoles", dt.date(2024, 9, 26), (dt.date(2024, 9, 25), dt.date(2024, 9, 25))),
    ("de", "am Donnerstag", dt.date(2014, 1, 17), (dt.date(2014, 1, 16), dt.date(2014, 1, 16))),
    ("de", "am gestrigen Montag", dt.date(2007, 12, 25), (dt.date(2007, 12, 24), dt.date(2007, 12, 24))),
    ("de", "heute", dt.date(2022, 12, 6), (dt.date(2022, 12, 6), dt.date(2022, 12, 6))),
    ("pt", "na quarta-feira", dt.date(2019, 9, 5), (dt.date(2019, 9, 4), dt.date(2019, 9, 4))),
    ("pt", "nesta quarta-feira (4)", dt.date(2019, 9, 4), (dt.date(2019, 9, 4), dt.date(2019, 9, 4))),
    ("en", "on Monday", dt.date(2021, 5, 4), (dt.date(2021, 5, 3), dt.date(2021, 5, 3))),
    ("en", "yesterday", dt.date(2002, 5, 21), (dt.date(2002, 5, 20), dt.date(2002, 5, 20))),
    ("en", "last week", MON, (dt.date(2023, 8, 15), dt.date(2023, 8, 27))),
    ("fr", "mardi", dt.date(2016, 8, 24), (dt.date(2016, 8, 23), dt.date(2016, 8, 23))),
    ("it", "martedì", dt.date(2016, 8, 24), (dt.date(2016, 8, 23), dt.date(2016, 8, 23))),
    ("it", "la settimana scorsa", MON, (dt.date(2023, 8, 15), dt.date(2023, 8, 27))),
    ("nl", "vrijdag", dt.date(2023, 2, 4), (dt.date(2023, 2, 3), dt.date(2023, 2, 3))),
    ("da", "fredag", dt.date(2025, 3, 1), (dt.date(2025, 2, 28), dt.date(2025, 2, 28))),
    ("no", "i går", dt.date(2025, 3, 1), (dt.date(2025, 2, 28), dt.date(2025, 2, 28))),
    ("is", "á föstudaginn", dt.date(2025, 3, 1), (dt.date(2025, 2, 28), dt.date(2025, 2, 28))),
    ("ru", "в среду", dt.date(2019, 5, 24), (dt.date(2019, 5, 22), dt.date(2019, 5, 22))),
    ("cs", "ve středu", dt.date(2019, 5, 24), (dt.date(2019, 5, 22), dt.date(2019, 5, 22))),
    ("pl", "w środę", dt.date(2025, 4, 10), (dt.date(2025, 4, 9), dt.date(2025, 4, 9))),
])
def test_weekday_and_relative_day_in_every_language(lang, phrase, written, want):
    from opsledger.derive.phrases import resolve_relative

    assert resolve_relative(phrase, lang, (written, written)) == want


def test_weekday_against_a_week_and_no_such_phrase():
    from opsledger.derive.phrases import resolve_relative

    # a text written some day from a Tuesday to the Monday after names either Monday
    tue = MON + dt.timedelta(days=1)
    assert resolve_relative("on Monday", "en", (tue, tue + dt.timedelta(days=6))) == (MON, MON + dt.timedelta(days=7))
    assert resolve_relative("in June 2017", "en", (MON, MON)) is None


def test_weekday_with_its_day_of_the_month_is_that_day():
    from opsledger.derive.phrases import resolve_date, written_from_event

    # real phrases of shipped Brazilian reports: the day in brackets pins the weekday
    weeks = (dt.date(2013, 10, 29), dt.date(2013, 11, 26))  # four Tuesdays
    assert resolve_date("terça-feira (19)", "pt", weeks) == (dt.date(2013, 11, 19),) * 2
    assert resolve_date("nesta quarta-feira (4)", "pt", (dt.date(2019, 8, 28), dt.date(2019, 10, 1))) == (dt.date(2019, 9, 4),) * 2
    assert resolve_date("terça-feira (20)", "pt", weeks) is None  # no Tuesday is the 20th then
    assert resolve_date("nesta terça-feira (06.12)", "pt", (dt.date(2022, 12, 6),) * 2) == (dt.date(2022, 12, 6),) * 2
    tue = dt.date(2013, 11, 19)
    assert written_from_event("terça-feira (19)", "pt", (tue - dt.timedelta(days=7), tue)) == (tue, tue + dt.timedelta(days=6))


@pytest.mark.parametrize("phrase,lang,written,want", [
    # shipped phrases: a month without a year is the latest such month begun by the day of writing;
    # a relative year counts from the year of writing
    ("In January", "en", "2002-08-09", ("2002-01-01", "2002-01-31")),
    ("February", "en", "2020-11-12", ("2020-02-01", "2020-02-29")),
    ("April last year", "en", "2003-08-26", ("2002-04-01", "2002-04-30")),
    ("October last year", "en", "1998-09-03", ("1997-10-01", "1997-10-31")),
    ("junio del pasado año", "es", "2017-04-18", ("2016-06-01", "2016-06-30")),
    ("March this year", "en", "2024-05-02", ("2024-03-01", "2024-03-31")),
    ("en diciembre", "es", "2004-05-14", ("2003-12-01", "2003-12-31")),
])
def test_month_without_a_year_and_relative_years(phrase, lang, written, want):
    from opsledger.derive.phrases import resolve_date

    w = dt.date.fromisoformat(written)
    assert resolve_date(phrase, lang, (w, w)) == tuple(dt.date.fromisoformat(d) for d in want)


def test_publication_from_a_dated_event():
    from opsledger.derive.phrases import written_from_event

    fri = dt.date(2023, 2, 3)
    # "am Freitag" of an event on a Friday: written that day or in the six days after
    assert written_from_event("am Freitag", "de", (fri, fri)) == (fri, fri + dt.timedelta(days=6))
    assert written_from_event("yesterday", "en", (fri, fri)) == (fri + dt.timedelta(days=1),) * 2
    assert written_from_event("am Montag", "de", (fri, fri)) is None  # the event is no Monday


# --------------------------------------------------------------------------- what a person sees


def test_timeline_leaves_no_operation_out(shipped):
    from opsledger.publishing.outputs import charts
    from opsledger.publishing.outputs.site import _placed

    ops = shipped["operations"].to_dicts()
    placed = {op["operation_id"]: _placed(op, shipped) for op in ops}
    assert [k for k, v in placed.items() if v == (None, None)] == []
    svg = charts.timeline([(op["operation_id"], *placed[op["operation_id"]]) for op in ops], "t")
    assert all(op["operation_id"] in svg for op in ops)


def test_a_date_known_to_its_precision_is_drawn_as_a_band():
    from opsledger.publishing.outputs import charts

    year = (dt.date(2017, 1, 1), dt.date(2017, 12, 31))
    day = (dt.date(2019, 5, 23), dt.date(2019, 5, 23))
    band = charts.timeline([("band-only", None, year)], "one band")
    dot = charts.timeline([("dot-only", None, day)], "one dot")
    assert band != dot and "band-only" in band and "dot-only" in dot


@pytest.mark.parametrize("lo,hi,prec,want", [
    ("2019-05-23", "2019-05-23", "day", "23 May 2019"),
    ("2017-06-01", "2017-06-30", "month", "June 2017"),
    ("2017-01-01", "2017-12-31", "year", "2017"),
    ("2016-08-23", "2016-08-29", "week", "23 August 2016 to 29 August 2016 (within a week)"),
    ("2016-08-23", "2026-11-30", "bounded", "23 August 2016 to 30 November 2026 (bounds only)"),
])
def test_as_of_reads_with_its_precision(lo, hi, prec, want):
    from opsledger.data import fmt

    assert fmt.interval(dt.date.fromisoformat(lo), dt.date.fromisoformat(hi), prec) == want


def test_an_outcomes_as_of_is_a_real_day_of_its_claims_on_the_benchmark_data():
    # the benchmark's synthetic data (every claim as of one day): polars 2.2 once aggregated the latest
    # as-of into garbage dates, at random; the reconciled as-of is always a day a claim gives
    spec = importlib.util.spec_from_file_location("synthetic", REPO / "benchmarks" / "synthetic.py")
    synthetic = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(synthetic)

    for _ in range(3):
        o = synthetic.generate(2000)["outcomes"]
        assert set(o["as_of"]) == set(o["as_of_latest"]) == {synthetic.PUBLISHED}
