"""The figure model: scope, as-of and part-of. Each rule is broken on an in-memory copy of the shipped
tables and must report that row; reconciliation is tested on small planted claims."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from opsledger import meaning
from opsledger.metadata import repo_root, table
from opsledger.reconcile import derive_all


def _set(t: dict, name: str, key: str, **values) -> dict:
    t = dict(t)
    k = table(name).key
    df = t[name]
    assert key in df[k].to_list(), f"{name} has no row {key}"
    t[name] = df.with_columns([
        pl.when(pl.col(k) == key).then(pl.lit(v, dtype=df.schema[c])).otherwise(pl.col(c)).alias(c)
        for c, v in values.items()
    ])
    return t


def _failing(frame: pl.DataFrame) -> set[str]:
    flag = [c for c in frame.columns if frame.schema[c] == pl.Boolean]
    assert len(flag) == 1
    return set(frame.filter(~pl.col(flag[0])).get_column("row_key"))


def test_shipped_data_passes_every_meaning_rule(shipped):
    from opsledger.expectations import load_acknowledgements, load_suites

    suite = next(s for s in load_suites() if s["name"] == "meaning")
    rule_of = {e["meta"]["frame"]: e["meta"]["rule"] for e in suite["expectations"]}
    acks = {(a["rule"], a["key"]) for a in load_acknowledgements()}
    for name, frame in meaning.frames(shipped).items():
        assert {(rule_of[name], k) for k in _failing(frame)} <= acks, name


def test_suite_names_existing_frames_and_columns(shipped):
    suite = json.loads((repo_root() / "checks" / "suites" / "meaning.json").read_text())
    frames = meaning.frames(shipped)
    for e in suite["expectations"]:
        assert e["kwargs"]["column"] in frames[e["meta"]["frame"]].columns


def test_scope_must_name_its_place(shipped):
    t = _set(shipped, "outcomes", "pacifier.arrests", scope="country")
    assert "pacifier.arrests" in _failing(meaning.frame_scope_columns(t))


def test_regional_claim_cannot_support_worldwide_outcome(shipped):
    t = _set(shipped, "claims", "rescue.arrests.s01", scope="region", area="europe")
    assert _failing(meaning.frame_claim_scope(t)) == {"rescue.arrests.s01"}


def test_offender_role_only_for_one_offender(shipped):
    t = _set(shipped, "outcomes", "tantalio.arrests.es", offender_role="suspect in Spain")
    assert _failing(meaning.frame_offender_role(t)) == {"tantalio.arrests.es"}


def test_part_of_must_be_same_quantity(shipped):
    t = _set(shipped, "outcomes", "tantalio.arrests.es", part_of="spade.arrests")
    assert "tantalio.arrests.es" in _failing(meaning.frame_part_of(t))


def test_breakdown_must_name_its_total(shipped):
    t = _set(shipped, "outcomes", "tantalio.arrests.es", part_of=None)
    assert _failing(meaning.frame_breakdown_named(t)) == {"tantalio.arrests.es"}


def test_parts_never_exceed_total(shipped):
    t = _set(shipped, "outcomes", "tantalio.arrests.es", value_low=500.0)
    assert "tantalio.arrests" in _failing(meaning.frame_parts_within_total(t))


def test_later_running_total_below_earlier_is_found(shipped):
    t = _set(shipped, "claims", "rescue.arrests.s09", as_of=dt.date(2012, 1, 1), as_of_precision="day")
    t = _set(t, "claims", "rescue.arrests.s09", high=100.0, low=100.0)
    assert "rescue.arrests" in _failing(meaning.frame_running_totals(t))


def test_dispute_needs_two_sources(shipped):
    t = _set(shipped, "outcomes", "rescue.arrests", status="disputed", n_sources=1)
    assert _failing(meaning.frame_disputed_sources(t)) == {"rescue.arrests"}


def test_claim_not_dated_after_its_source(shipped):
    t = _set(shipped, "claims", "rescue.arrests.s06", as_of=dt.date(2020, 1, 1))
    assert _failing(meaning.frame_claim_as_of(t)) == {"rescue.arrests.s06"}


def test_one_headline_figure_per_metric(shipped):
    t = _set(shipped, "outcomes", "tantalio.arrests.es", scope="worldwide", country=None, part_of=None)
    assert "tantalio.arrests" in _failing(meaning.frame_headline_unique(t))


# --------------------------------------------------------------------------- reconciliation


def _with_claims(shipped, target: str, rows: list[tuple[str, str, str | None]]) -> dict:
    """Replace the value claims of ``target`` by (source_id, stated, as_of) rows."""
    c = shipped["claims"]
    template = c.filter(pl.col("target_id") == target).row(0, named=True)
    keep = c.filter(pl.col("target_id") != target)
    new = []
    for i, (src, stated, as_of) in enumerate(rows):
        r = dict(template, claim_id=f"{target}.t{i}", source_id=src, stated=stated,
                 as_of=dt.date.fromisoformat(as_of) if as_of else None, as_of_precision="day" if as_of else None)
        new.append(r)
    return {**shipped, "claims": pl.concat([keep, pl.DataFrame(new, schema=c.schema)])}


def _english(shipped) -> list[str]:
    return shipped["sources"].filter(pl.col("language") == "en")["source_id"].sort().to_list()


def _outcome(t, key):
    return derive_all(t)["outcomes"].filter(pl.col("outcome_id") == key).row(0, named=True)


def test_same_figure_different_hedges_is_not_a_dispute(shipped):
    srcs = _english(shipped)[:3]
    t = _with_claims(shipped, "boystown.site_users",
                     [(srcs[0], "more than 400,000", None), (srcs[1], "up to 400,000", None), (srcs[2], "400,000", None)])
    o = _outcome(t, "boystown.site_users")
    assert o["status"] == "corroborated" and o["value"] == o["value_low"] == o["value_high"] == 400000
    assert o["sources_low"] == 0 and o["sources_high"] is None


def test_different_figures_are_a_dispute_with_a_usable_range(shipped):
    srcs = _english(shipped)[:3]
    t = _with_claims(shipped, "boystown.site_users",
                     [(srcs[0], "400,000", None), (srcs[1], "400,000", None), (srcs[2], "100,000", None)])
    o = _outcome(t, "boystown.site_users")
    assert o["status"] == "disputed"
    assert (o["value"], o["value_low"], o["value_high"]) == (400000, 400000, 400000)
    assert (o["sources_low"], o["sources_high"]) == (100000, 400000)


def test_running_total_takes_latest_and_earlier_are_not_a_dispute(shipped):
    srcs = _english(shipped)[:3]
    t = _with_claims(shipped, "rescue.arrests",
                     [(srcs[0], "100 arrests", "2001-08-08"), (srcs[1], "120 arrests", "2003-06-01"),
                      (srcs[2], "120 arrests", "2003-06-05")])
    o = _outcome(t, "rescue.arrests")
    assert o["status"] == "corroborated" and o["value"] == 120 and o["n_sources"] == 2
    assert o["as_of"] == dt.date(2003, 6, 5)


def test_not_running_metric_disputes_across_dates(shipped):
    srcs = _english(shipped)[:2]
    t = _with_claims(shipped, "koala.site_users", [(srcs[0], "2,500", "2007-01-01"), (srcs[1], "3,000", "2008-01-01")])
    assert _outcome(t, "koala.site_users")["status"] == "disputed"


def test_headline_has_every_operation_with_a_year(shipped):
    h = derive_all(shipped)["headline"]
    assert h.height == shipped["operations"].height
    assert h["year"].null_count() == 0
    assert set(h.columns) == set(table("headline").columns)


def test_headline_ignores_breakdowns(shipped):
    h = derive_all(shipped)["headline"].filter(pl.col("operation_id") == "pacifier").row(0, named=True)
    o = shipped["outcomes"].filter(pl.col("outcome_id") == "pacifier.arrests").row(0, named=True)
    assert h["arrests"] == o["value"]
