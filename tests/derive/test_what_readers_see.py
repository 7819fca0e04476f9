"""What a reader sees (issue 22): a figure as its preferred claim's phrase with its range, never the
bound a hedge only implies; a national figure where the sources give no worldwide one; totals and
their parts."""

from __future__ import annotations

import polars as pl

from opsledger.derive.display import bounds_text, claim_bounds, display
from opsledger.derive.reconcile import derive_all
from conftest import derived_outcome as _outcome, set_cells as _set


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


def test_headline_display_and_national_fallback(shipped, shipped_derived):
    h = shipped_derived["headline"]
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


def _implied_bounds(shipped) -> dict[str, set[str]]:
    """Per operation: the bounds that a strict hedge only implies ("90,001" for "more than 90,000",
    "62,999" for "nearly 63,000"), written as a reader would read them, leaving out any number a
    source or a note of that operation states itself."""
    import re

    from opsledger.data import fmt
    from opsledger.derive.phrases import rules

    hedges = rules()["hedge"]
    c = shipped["claims"].filter(pl.col("low").is_not_null() | pl.col("high").is_not_null())
    out: dict[str, set[str]] = {}
    said: dict[str, set[str]] = {}
    for r in shipped["claims"].iter_rows(named=True):
        words = " ".join(x for x in (r["stated"], r["quotation"], r["note"]) if x)
        # every number the sources of the operation state, in any language's marks ("2.361" is 2361)
        said.setdefault(r["operation_id"], set()).update(
            fmt.number(float(re.sub(r"[,.\s]", "", n))) for n in re.findall(r"\d[\d,.]*\d|\d", words))
    for r in c.iter_rows(named=True):
        h = hedges.get(r["qualifier"] or "", {})
        if h.get("low_steps", 0) > 0 and r["low"] is not None and r["low"] >= 100:
            out.setdefault(r["operation_id"], set()).add(fmt.number(r["low"]))
        if h.get("high_steps", 0) < 0 and r["high"] is not None and r["high"] >= 100:
            out.setdefault(r["operation_id"], set()).add(fmt.number(r["high"]))
    return {op: {n for n in nums if n not in said.get(op, set())} for op, nums in out.items()}


def _visible(html: str) -> str:
    import re

    html = re.sub(r"<(script|style|svg)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def test_no_output_shows_a_bound_as_a_figure(shipped, shipped_release):
    """Every page of the site, the headline's display columns in CSV and SQLite, and the datasheet:
    no value one past a "more than" bound or one below a "nearly" bound."""
    import re
    import sqlite3
    import zipfile

    bad = _implied_bounds(shipped)
    assert bad.get("blackwrist"), "the scan must know 62,999 of 'nearly 63,000'"
    d = shipped_release / "0.1.0"

    def hits(text: str, nums: set[str]) -> set[str]:
        return {n for n in nums if re.search(rf"(?<![\d,.]){re.escape(n)}(?![\d,]|\.\d)", text)}

    everything = {n for nums in bad.values() for n in nums if len(n) >= 5}  # 1,000 and more
    found = {}
    for page in (d / "site").rglob("*.html"):
        html = page.read_text()
        if page.parent.name == "operation":
            parts = [(page.stem, html)]
        else:  # the index and the metric pages: each table row names its operation
            parts = [(m[1] if (m := re.search(r'operation/([a-z0-9_]+)\.html', row)) else None, row)
                     for row in html.split("<tr")]
        for op, text in parts:
            if op and (got := hits(_visible(text), bad.get(op, set()))):
                found.setdefault(str(page.relative_to(d)), set()).update(got)
    datasheet = (d / "DATASHEET.md").read_text()
    if got := hits(datasheet, everything):
        found["DATASHEET.md"] = got
    # the release notes' published figures (a first release: every figure is new), one line a figure;
    # the row cells below them are the numeric columns, for analysis
    notes = (d / "CHANGES.md").read_text().split("## The published figures that moved")[1].split("## Every row")[0]
    lines = re.findall(r"^- \w+\[`([a-z0-9_]+)\.[^`]*`\]: (.*)$", notes, flags=re.M)
    assert len(lines) >= shipped["outcomes"].height
    for op, text in lines:
        if got := hits(text.replace("\\", ""), bad.get(op, set())):
            found.setdefault("CHANGES.md", set()).update(got)
    con = sqlite3.connect(d / "opsledger.sqlite")
    cols = [r[1] for r in con.execute("PRAGMA table_info(headline)") if r[1].endswith("_display")]
    assert cols
    for row in con.execute(f"SELECT operation_id, {', '.join(cols)} FROM headline"):
        if got := hits(" ".join(x for x in row[1:] if x), bad.get(row[0], set())):
            found[f"sqlite headline {row[0]}"] = got
    with zipfile.ZipFile(d / "opsledger-0.1.0-csv.zip") as z:
        name = next(n for n in z.namelist() if n.endswith("headline.csv"))
        csv = pl.read_csv(z.read(name))
    for row in csv.select("operation_id", *cols).iter_rows():
        if got := hits(" ".join(x for x in row[1:] if x), bad.get(row[0], set())):
            found[f"csv headline {row[0]}"] = got
    assert not found, found


def test_the_figures_a_change_moves_read_as_their_phrases(shipped):
    """`correction check`, `diff` and the release notes write a moved figure as a reader sees it:
    Blackwrist's site users are "nearly 63,000 (over 60,000 to under 63,000)", never 62,999."""
    from opsledger.derive.reconcile import show_figures
    from opsledger.derive.tablediff import diff_tables

    key = "blackwrist.site_users"
    old = _set(shipped, "outcomes", key, status="single_source")
    d = diff_tables(old, shipped, ["outcomes"])
    assert "62,999" in d.figures_text()  # from the numbers alone (what check printed before)
    text = show_figures(d, old, shipped).figures_text()
    assert f"outcomes[{key}]: nearly 63,000 (over 60,000 to under 63,000), single_source, 2 sources -> " \
           "nearly 63,000 (over 60,000 to under 63,000), corroborated, 2 sources" in text
    assert "62,999" not in text and "60,001" not in text
    md = d.figures_text(markdown=True)
    assert md.startswith(f"- outcomes[`{key}`]: nearly 63,000") and "single\\_source" in md


def test_the_scan_catches_a_bound(shipped):
    """The scan is not vacuous: the old rendering (the value as a number) would be caught."""
    from opsledger.data import fmt

    bad = _implied_bounds(shipped)
    assert fmt.figure(62999.0, 60001.0, 62999.0) == "62,999 (60,001 to 62,999)"
    assert "62,999" in bad["blackwrist"]




def test_a_corrected_typo_does_not_count(shipped):
    """The Toronto Police infographic's 341, corrected by the same service's story: not a source of the
    figure. (Daylight's headline 65 against its body's 75, the same day, is also a rising same-day
    series under issue 21's rule, so the correction changes nothing visible there.)"""
    n = _outcome(shipped, "spade.arrests")["n_sources"]
    undone = _set(shipped, "claims", "spade.arrests.s02", corrected_by=None)
    assert _outcome(undone, "spade.arrests")["n_sources"] == n + 1


def test_a_typo_is_corrected_by_its_own_source_only(shipped):
    from opsledger.validation.rules import evaluate

    rule = "evidence.typo_corrected_by_its_source"
    assert evaluate(shipped, [rule])[rule] == set()
    # SBS's 350 "corrected" by the Toronto Police story: another publisher, so not a typo correction
    bad = _set(shipped, "claims", "spade.arrests.s07", corrected_by="spade.arrests.s01")
    assert evaluate(bad, [rule])[rule] == {"spade.arrests.s07"}
    other_figure = _set(shipped, "claims", "spade.arrests.s02", corrected_by="spade.children_safeguarded.s01")
    assert evaluate(other_figure, [rule])[rule] == {"spade.arrests.s02"}


def test_context_home_excluded_and_enumeration(shipped, shipped_derived):
    c = shipped_derived["claims"].filter(pl.col("claim_id") == "himmel.countries_with_arrests.s04").row(
        0, named=True)
    assert (c["figure"], c["low"], c["high"], c["excludes_home"]) == (70, 71, 71, True)
    assert _outcome(shipped, "himmel.countries_with_arrests")["value"] == 71
    t = _set(shipped, "claims", "fever.countries_engaged.s07", context="enumeration")
    c = derive_all(t)["claims"].filter(pl.col("claim_id") == "fever.countries_engaged.s07").row(0, named=True)
    assert (c["low"], c["high"]) == (12, None)


def test_quotation_of_an_unreadable_page_needs_when_and_where(shipped):
    from opsledger.validation.quotations import grounding_frame

    def grounding(t, cid):
        return grounding_frame(t).filter(pl.col("claim_id") == cid).get_column("grounding")[0]

    # read on 2026-11-23 in the page store before the page was lost: the quotation still counts
    kept = "welcome_to_video.videos_seized.s08"
    assert grounding(shipped, kept) == "quotation_only"
    assert grounding(_set(shipped, "claims", kept, quoted_on=None), kept) == "unsupported"
    # never found again: the quotation no longer counts
    assert grounding(shipped, "kidflix.countries_engaged.s06") == "unsupported"
    # the same quotation from a page still readable counts
    readable = _set(shipped, "sources", "huffpost-es-2025-kidflix", unreadable_on=None)
    assert grounding(readable, "kidflix.countries_engaged.s06") == "quotation_only"


def test_parts_add_up_to_a_lower_bound_on_their_total(shipped):
    # vibora: Spain 7 and outside Spain 13 are disjoint: the total 20 holds with them
    assert _outcome(shipped, "vibora.arrests")["status"] == "corroborated"
    # raise the parts beyond the total: the total is disputed, with both readings in its display
    t = _set(shipped, "claims", "vibora.arrests.outside_es.s05", stated="15 personas")
    t = _set(t, "claims", "vibora.arrests.outside_es.s05", quotation=None)
    o = _outcome(t, "vibora.arrests")
    assert o["status"] == "disputed" and o["sources_high"] == 22
    row = derive_all(t)["headline"].filter(pl.col("operation_id") == "vibora").row(0, named=True)
    assert "its parts add up to at least 22" in row["arrests_display"]


def test_parts_raise_the_lower_bound_where_the_total_allows(shipped):
    # Operation H's worldwide 'more than 90,000' accounts stays open above; a part can only raise its floor
    from opsledger.derive.reconcile import bound_by_parts

    o = pl.DataFrame({
        "outcome_id": ["x.arrests", "x.arrests.nz", "x.arrests.outside_nz"], "operation_id": ["x"] * 3,
        "metric": ["arrests"] * 3, "value": [91.0, 60.0, 40.0], "value_low": [91.0, 60.0, 40.0],
        "value_high": [None, 60.0, 40.0], "scope": ["worldwide", "country", "region"], "country": [None, "NZ", None],
        "area": [None, None, "outside_nz"], "part_of": [None, "x.arrests", "x.arrests"], "subgroup": [None] * 3,
        "offender_role": [None] * 3, "as_of": [None] * 3, "as_of_precision": [None] * 3,
        "status": ["single_source"] * 3, "sources_low": [91.0, 60.0, 40.0], "sources_high": [None, 60.0, 40.0]},
        schema_overrides={"as_of": pl.Date, "as_of_precision": pl.Utf8, "subgroup": pl.Utf8, "offender_role": pl.Utf8})
    got = bound_by_parts(o).row(0, named=True)
    assert (got["value"], got["value_low"], got["status"]) == (100.0, 100.0, "single_source")


def test_no_acknowledgement_hides_a_total_below_its_parts():
    from opsledger.validation.rules import load_acknowledgements

    assert not [a for a in load_acknowledgements() if a["rule"] == "meaning.parts_within_total"]


def test_operation_identity(shipped):
    from opsledger.validation.rules import evaluate

    names, prints = "meaning.one_operation_per_name", "meaning.one_operation_per_fingerprint"
    assert evaluate(shipped, [names, prints]) == {names: set(), prints: set()}
    ops = shipped["operations"].filter(pl.col("series") == "luz_na_infancia").sort("phase")
    assert ops["phase"].to_list() == [3, 5, 6, 7, 8, 9, 10]
    a = shipped["aliases"]
    assert set(a["alias"]) >= {"Operação Luz na Infância 7", "Operação Luz na Infância 8"}
    # an alias another operation already uses (accents and case aside)
    t = dict(shipped)
    t["aliases"] = pl.concat([a, a.head(1).with_columns(pl.lit("x").alias("alias_id"),
                                                        pl.lit("luz_na_infancia_9").alias("operation_id"),
                                                        pl.lit("OPERACAO LUZ NA INFANCIA 7").alias("alias"))])
    assert evaluate(t, [names])[names] == {"operacao luz na infancia 7"}
    # two rows for one phase of a series
    t = _set(shipped, "operations", "luz_na_infancia_9", phase=8)
    assert evaluate(t, [names])[names] == {"luz_na_infancia 8"}
    # the same operation entered twice: same dates and worldwide figures
    t = dict(shipped)
    dup = shipped["operations"].filter(pl.col("operation_id") == "vibora").with_columns(
        pl.lit("vibora_copy").alias("operation_id"), pl.lit("Operación Víbora").alias("name"))
    t["operations"] = pl.concat([shipped["operations"], dup])
    o = shipped["outcomes"].filter(pl.col("operation_id") == "vibora").with_columns(
        pl.lit("vibora_copy").alias("operation_id"), ("copy." + pl.col("outcome_id")).alias("outcome_id"))
    t["outcomes"] = pl.concat([shipped["outcomes"], o])
    assert evaluate(t, [prints])[prints] == {"vibora, vibora_copy"}


def test_a_noun_the_metric_does_not_count_is_reported(shipped):
    from opsledger.validation.rules import evaluate

    rule = "meaning.noun_fits_metric"
    assert evaluate(shipped, [rule])[rule] == set()
    # the Koala addresses read again as accounts identified
    t = _set(shipped, "claims", "koala.addresses_identified.ca.s11" if "koala.addresses_identified.ca.s11" in
             shipped["claims"]["claim_id"].to_list() else "koala.accounts_identified.ca.s11",
             metric="accounts_identified")
    assert evaluate(t, [rule])[rule] == {"koala.accounts_identified.ca.s11"}
    # German, Spanish: the language's own nouns
    t = _set(shipped, "claims", "elysium.site_users.s08", stated="mehr als 111.000 Downloads")
    assert evaluate(t, [rule])[rule] == {"elysium.site_users.s08"}
    t = _set(shipped, "claims", "tantalio.suspects_identified.s06", stated="136 denuncias")
    assert evaluate(t, [rule])[rule] == {"tantalio.suspects_identified.s06"}
    # in capitals, ASCII or not, as the rule reads it in lower case
    t = _set(shipped, "claims", "elysium.site_users.s08", stated="MEHR ALS 111.000 DOWNLOADS")
    assert evaluate(t, [rule])[rule] == {"elysium.site_users.s08"}
    t = _set(shipped, "claims", "boyvids.arrests.s05", stated="QUATRO DENÚNCIAS")
    assert evaluate(t, [rule])[rule] == {"boyvids.arrests.s05"}


def test_addresses_are_their_own_metric(shipped):
    o = shipped["outcomes"]
    assert o.filter(pl.col("metric") == "addresses_identified").height == 3
    assert o.filter(pl.col("outcome_id") == "welcome_to_video.accounts_identified").is_empty()


def test_additional_suspects_are_a_part(shipped, shipped_derived):
    o = shipped["outcomes"].filter(pl.col("operation_id") == "vibora")
    assert "vibora.suspects_identified" not in o["outcome_id"].to_list()
    part = o.filter(pl.col("outcome_id") == "vibora.suspects_identified.not_arrested").row(0, named=True)
    assert part["value"] == 68 and part["subgroup"]
    row = shipped_derived["headline"].filter(pl.col("operation_id") == "vibora").row(0, named=True)
    assert row["suspects_identified"] is None  # no source totals them: better empty than 68


def test_an_additional_count_on_a_total_is_reported(shipped):
    from opsledger.validation.rules import evaluate

    rule = "meaning.additional_is_a_part"
    # on the shipped data: only Blackwrist's unidentified victims (acknowledged: the metric counts those beyond)
    assert evaluate(shipped, [rule])[rule] == {f"blackwrist.victims_unidentified.s00{i}" for i in range(4)}
    # Vibora's "68 additional suspects" put back on a worldwide total of suspects identified, as before 0457
    t = _set(shipped, "outcomes", "vibora.suspects_identified.not_arrested", subgroup=None)
    assert evaluate(t, [rule])[rule] >= {"vibora.suspects_identified.s01"}
    # German, the word before the figure in the quotation ("weitere 68"): the same finding
    t = _set(t, "claims", "vibora.suspects_identified.s01", stated="68 Verdächtige",
             quotation="Die Ermittler identifizierten weitere 68 Verdächtige in 28 Ländern")
    t["sources"] = t["sources"].with_columns(
        pl.when(pl.col("source_id") == "ap-abc-2025-06-06-vibora").then(pl.lit("de")).otherwise(pl.col("language"))
        .alias("language"))
    assert "vibora.suspects_identified.s01" in evaluate(t, [rule])[rule]
    # a hedge is not an "additional" word: "más de 100 personas" after a word with an accent
    assert "whatsapp_ameripol_2017.suspects_identified.s03" not in evaluate(shipped, [rule])[rule]
    # "24 other countries" leaves the home country out and is read as a total already: not reported
    t = _set(shipped, "claims", "vibora.suspects_identified.s01", excludes_home=True)
    t = _set(t, "outcomes", "vibora.suspects_identified.not_arrested", subgroup=None)
    assert "vibora.suspects_identified.s01" not in evaluate(t, [rule])[rule]


def test_a_date_known_to_its_week_is_shown_as_its_week_not_its_first_day(shipped):
    # Santiago's announcement is placed within 16 to 18 October 2007 ("heute" in a page dated to that week)
    from opsledger.declarations.coverage import coverage_markdown
    from opsledger.publishing.outputs.site import gather

    op = next(o for o in gather(shipped)["operations"] if o["operation_id"] == "santiago")
    assert op["announced_precision"] == "week"
    assert op["announced_text"] == "16 October 2007 to 18 October 2007 (within a week)"
    assert "| 2007-10-16..2007-10-18 |" in coverage_markdown(shipped)
