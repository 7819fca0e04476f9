"""What a reader sees (issue 22): a figure as its preferred claim's phrase with its range, never the
bound a hedge only implies; a national figure where the sources give no worldwide one; totals and
their parts."""

from __future__ import annotations

import polars as pl

from opsledger.derive.display import bounds_text, claim_bounds, display
from opsledger.derive.reconcile import derive_all


def _claim(q, figure, low, high, home=False):
    return {"qualifier": q, "figure": figure, "excludes_home": home, "low": low, "high": high}


def test_phrase_not_bound():
    o = {"value": 62999.0, "value_low": 60001.0, "value_high": 62999.0, "status": "corroborated", "unit": "count"}
    claims = [_claim("nearly", 63000.0, 56700.0, 62999.0), _claim("over", 60000.0, 60001.0, None)]
    text = display(o, claims)
    assert text == "nearly 63,000 (over 60,000 to under 63,000)"
    assert "62,999" not in text and "60,001" not in text


def test_more_than_alone_and_scope():
    o = {"value": 90001.0, "value_low": 90001.0, "value_high": None, "status": "single_source", "unit": "count"}
    assert display(o, [_claim("over", 90000.0, 90001.0, None)]) == "more than 90,000"
    o = {"value": 46.0, "value_low": 46.0, "value_high": 46.0, "status": "single_source", "unit": "count"}
    assert display(o, [_claim("exact", 46.0, 46.0, 46.0)], "New Zealand") == "46, in New Zealand"


def test_disputed_shows_both_readings():
    o = {"value": 107.0, "value_low": 107.0, "value_high": 107.0, "sources_low": 47.0, "sources_high": None,
         "status": "disputed", "unit": "count"}
    text = display(o, [_claim("exact", 107.0, 107.0, 107.0), _claim("approximately", 50.0, 47.0, 53.0)])
    assert text.startswith("107 (disputed:") and "47 or more" in text


def test_strict_bounds_written_as_figures():
    assert claim_bounds("over", 90001.0, None) == "more than 90,000"
    assert claim_bounds("nearly", 56700.0, 62999.0) == "56,700 to under 63,000"
    assert claim_bounds("under", 0.0, 99.0) == "fewer than 100"
    assert bounds_text(12.0, 30.0, "months") == "12 to 30 months"


def test_headline_display_and_national_fallback(shipped):
    h = derive_all(shipped)["headline"]
    row = h.filter(pl.col("operation_id") == "h").row(0, named=True)
    # Operation H: the sources give only New Zealand's arrests; the headline shows them with their scope
    assert row["arrests"] == 46 and row["arrests_scope"] == "country"
    assert row["arrests_display"] == "46, in New Zealand"
    b = h.filter(pl.col("operation_id") == "blackwrist").row(0, named=True)
    assert b["site_users_display"].startswith("nearly 63,000")


def test_fallback_only_for_one_figure_of_that_scope(shipped):
    """Two countries' arrests and no worldwide count: no single national figure stands for the total."""
    t = dict(shipped)
    o = t["outcomes"]
    h_nz = o.filter(pl.col("outcome_id") == "h.arrests.nz")
    assert h_nz.height == 1
    twin = h_nz.with_columns(pl.lit("h.arrests.au").alias("outcome_id"), pl.lit("AU").alias("country"))
    t["outcomes"] = pl.concat([o, twin]).sort("outcome_id")
    row = derive_all(t)["headline"].filter(pl.col("operation_id") == "h").row(0, named=True)
    assert row["arrests"] is None and row["arrests_display"] is None


def test_headline_filter_is_declared(tmp_path, monkeypatch):
    from opsledger.declarations import headline_from

    unset, scopes = headline_from()
    assert scopes[0] == "worldwide" and "country" in scopes and "part_of" in unset
