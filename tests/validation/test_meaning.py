"""The figure model: scope, as-of and part-of. Each rule is broken on an in-memory copy of the shipped
tables and must report that row; reconciliation is tested on small planted claims."""

from __future__ import annotations

import datetime as dt

import polars as pl

from opsledger.validation.rules import evaluate, load_acknowledgements
from opsledger.declarations import table
from conftest import derived_outcome as _outcome, set_cells as _set




def failing(t: dict, rule: str) -> set[str]:
    """Keys of the rows great-expectations finds failing ``rule`` on ``t`` (no acknowledgement applied)."""
    return evaluate(t, [rule])[rule]


def test_shipped_data_passes_every_meaning_rule(shipped):
    from opsledger.validation.rules import load_rules

    acks = {(a["rule"], a["key"]) for a in load_acknowledgements()}
    names = [r.name for r in load_rules() if r.family == "meaning"]
    assert len(names) == 14
    for rule, keys in evaluate(shipped, names).items():
        assert {(rule, k) for k in keys} <= acks, rule


def test_scope_must_name_its_place(shipped):
    t = _set(shipped, "outcomes", "pacifier.arrests", scope="country")
    assert "pacifier.arrests" in failing(t, "meaning.scope_named")


def test_regional_claim_cannot_support_worldwide_outcome(shipped):
    t = _set(shipped, "claims", "rescue.arrests.s01", scope="region", area="europe")
    assert failing(t, "meaning.claim_scope_matches_outcome") == {"rescue.arrests.s01"}


def test_offender_role_only_for_one_offender(shipped):
    t = _set(shipped, "outcomes", "tantalio.arrests.es", offender_role="suspect in Spain")
    assert failing(t, "meaning.offender_role_is_one_person") == {"tantalio.arrests.es"}


def test_part_of_must_be_same_quantity(shipped):
    t = _set(shipped, "outcomes", "tantalio.arrests.es", part_of="spade.arrests")
    assert "tantalio.arrests.es" in failing(t, "meaning.part_of_same_quantity")


def test_breakdown_must_name_its_total(shipped):
    t = _set(shipped, "outcomes", "tantalio.arrests.es", part_of=None)
    assert failing(t, "meaning.breakdown_names_total") == {"tantalio.arrests.es"}


def test_parts_never_exceed_total(shipped):
    t = _set(shipped, "outcomes", "vibora.arrests.es", value_low=500.0)
    assert "vibora.arrests" in failing(t, "meaning.parts_within_total")
    # a country and "outside" it are disjoint: they add up (7 in Spain + 14 outside > 20)
    t = _set(shipped, "outcomes", "vibora.arrests.outside_es", value_low=14.0)
    assert "vibora.arrests" in failing(t, "meaning.parts_within_total")
    # a total shown as disputed shows its parts' reading: not a finding
    t = _set(t, "outcomes", "vibora.arrests", status="disputed")
    assert "vibora.arrests" not in failing(t, "meaning.parts_within_total")


def test_later_running_total_below_earlier_is_found(shipped):
    t = _set(shipped, "claims", "rescue.arrests.s09", as_of=dt.date(2012, 1, 1), as_of_precision="day")
    t = _set(t, "claims", "rescue.arrests.s09", high=100.0, low=100.0, figure=100.0, as_of_latest=dt.date(2012, 1, 1))
    assert "rescue.arrests" in failing(t, "meaning.running_total_falls")


def test_dispute_needs_two_sources(shipped):
    t = _set(shipped, "outcomes", "hamlet.arrests", status="disputed", n_sources=1)
    assert failing(t, "meaning.dispute_needs_two_sources") == {"hamlet.arrests"}
    # a total disputed by its parts rests on its own sources and theirs
    t = _set(shipped, "outcomes", "rescue.arrests", status="disputed", n_sources=1)
    assert failing(t, "meaning.dispute_needs_two_sources") == set()


def test_claim_not_dated_after_its_source(shipped):
    t = _set(shipped, "claims", "rescue.arrests.s06", as_of=dt.date(2020, 1, 1))
    assert failing(t, "meaning.as_of_not_after_source") == {"rescue.arrests.s06"}


def test_one_headline_figure_per_metric(shipped):
    t = _set(shipped, "outcomes", "tantalio.arrests.es", scope="worldwide", country=None, part_of=None)
    assert "tantalio.arrests" in failing(t, "meaning.one_headline_per_metric")


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
    """English sources, one per line of reporting (each its own publisher, repeating nothing else)."""
    from opsledger.declarations.coverage import reporting_line

    s = shipped["sources"].filter(pl.col("language") == "en").sort("source_id")
    return s.with_columns(reporting_line().alias("_line")).unique("_line", keep="first", maintain_order=True)[
        "source_id"].to_list()


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


def test_headline_has_every_operation_with_a_year(shipped, shipped_derived):
    h = shipped_derived["headline"]
    assert h.height == shipped["operations"].height
    assert h["year"].null_count() == 0
    assert set(h.columns) == set(table("headline").columns)


def test_headline_ignores_breakdowns(shipped, shipped_derived):
    h = shipped_derived["headline"].filter(pl.col("operation_id") == "pacifier").row(0, named=True)
    o = shipped["outcomes"].filter(pl.col("outcome_id") == "pacifier.arrests").row(0, named=True)
    assert h["arrests"] == o["value"]


def test_running_total_fall_names_both_claims(shipped_report):
    """Each pair's finding names the later claim and the earlier one with their own phrases, dates and
    sources (the pairs are formed on the dates alone, then given the claims' other columns)."""
    from conftest import findings_for

    got = [(f.key, f.message, f.sources) for f in findings_for(shipped_report, "meaning.running_total_falls")]
    assert got == [
        ("ore.suspects_identified.gb", "6,000 suspects (ore.suspects_identified.gb.s03, as of 2003-01-13) is below "
         "the earlier 7,000 British suspects (ore.suspects_identified.gb.s02)",
         ["bbc-2002-12-17-ore-police-held", "bbc-2003-01-13-ore-can-uk-cope"]),
        ("ore.suspects_identified.gb", "7,000 Brits (ore.suspects_identified.gb.s10, as of 2007-05-10) is below "
         "the earlier 7,200 people identified (ore.suspects_identified.gb.s07)",
         ["bbc-2004-04-14-ore-children-saved", "theregister-2007-ore-fraud"]),
    ]
