"""What the dataset covers, computed from the tables (for the data dictionary and the datasheet)."""

from __future__ import annotations

import polars as pl

from opsledger.data import fmt
from opsledger.escape import MarkdownText, markdown, markdown_code


def reporting_line() -> pl.Expr:
    """A source's line of reporting: what it repeats (``based_on``, which names the release or wire story
    as the dataset writes its publisher), else its own publisher. Pages of one line are one source of
    evidence: a figure is corroborated by two or more lines, not by copies of one release."""
    return pl.coalesce(pl.col("based_on"), pl.col("publisher"))


def coverage_markdown(t: dict[str, pl.DataFrame]) -> MarkdownText:
    """Markdown; every value from the data escaped (:func:`opsledger.escape.markdown`)."""
    ops = t["operations"].sort("operation_id")
    src = t["sources"]
    out = t["outcomes"]
    lines = [
        f"- {ops.height} operations, {t['agencies'].height} agencies, {t['participations'].height} agency roles, "
        f"{src.height} sources ({src['archive_file'].drop_nulls().len()} archived with SHA-256, "
        f"{src['url'].drop_nulls().len()} cited by URL), {t['claims'].height} claims, {out.height} outcomes "
        f"({out.filter(pl.col('status') == 'disputed').height} disputed), {t['statistics'].height} database or "
        "study statistics.",
    ]
    years = sorted({d.year for c in ("launched", "announced") for d in ops[c].drop_nulls()})
    if years:
        lines.append(f"- Years (launch or announcement): {years[0]} to {years[-1]}.")
    countries = sorted(set(t["agencies"]["country"].drop_nulls()) | set(out["country"].drop_nulls()))
    lines.append(f"- Countries of agencies and per-country figures ({len(countries)}): {markdown(', '.join(countries))}.")
    kinds = src.group_by("kind").len().sort("kind")
    lines.append("- Sources by kind: " + markdown(", ".join(f"{k} {n}" for k, n in kinds.iter_rows())) + "; languages: "
                 + markdown(", ".join(sorted(set(src["language"])))) + ".")
    lines.append(_time_line(t))
    c = t["claims"]
    per_op = c.join(src.select("source_id", reporting_line().alias("_line")), on="source_id", how="left").group_by(
        "operation_id").agg(pl.col("source_id").n_unique().alias("s"), pl.len().alias("c"),
                            pl.col("_line").n_unique().alias("l"))
    two = per_op.filter(pl.col("l") >= 2).height
    lines.append(f"- Independence: {two} of {ops.height} operations ({100 * two / max(ops.height, 1):.0f} %) rest on "
                 "two or more independent lines of reporting (pages that repeat one release or one wire story, "
                 "`based_on`, count as one line).")
    lines += ["", "| operation | name | lead agency | launched | announced | sources | lines of reporting | claims "
              "| outcomes |", "|---|---|---|---|---|---|---|---|---|"]
    n_out = out.group_by("operation_id").len()
    s_map = {r[0]: (r[1], r[2], r[3]) for r in per_op.iter_rows()}
    o_map = dict(n_out.iter_rows())
    for r in ops.iter_rows(named=True):
        s, n, n_lines = s_map.get(r["operation_id"], (0, 0, 0))
        lines.append(f"| {markdown_code(r['operation_id'])} | {markdown(r['name'])} | "
                     f"{markdown_code(r['lead_agency_id'])} | "
                     f"{fmt.period(r['launched'], r['launched_precision'], r['launched_latest'])} | "
                     f"{fmt.period(r['announced'], r['announced_precision'], r['announced_latest'])} | {s} | {n_lines} | {n} | "
                     f"{o_map.get(r['operation_id'], 0)} |")
    lines += ["", "How it was gathered: the two founding operations from the five archived documents in the "
              "source archive; the others from public press releases and news reports found in stored copies "
              "of public web pages (official releases first where one exists), each figure quoted exactly as "
              "its page writes it. Every addition is a change set in `corrections/applied/`."]
    return MarkdownText("\n".join(lines))


def _time_line(t: dict[str, pl.DataFrame]) -> str:
    """How well the data is placed in time: sources known within a year (a publication interval no
    wider than ``[precision_days] year`` allows) and how their dates are known; operations with a launch
    or announcement date."""
    from opsledger.declarations import precision_days

    src, ops = t["sources"], t["operations"]
    width = (pl.col("published_latest") - pl.col("published")).dt.total_days()
    year = src.filter(width <= precision_days()["year"]).height
    ev = src.group_by("published_evidence").len().sort("published_evidence")
    dated = ops.filter(pl.col("announced").is_not_null() | pl.col("launched").is_not_null()).height
    return (f"- Time: {year} of {src.height} sources ({100 * year / max(src.height, 1):.1f} %) are dated to within a "
            "year; every other one has an earliest and a latest day, at worst the events it reports and the day it "
            "was read (how each date is known: " + markdown(", ".join(f"{k} {n}" for k, n in ev.iter_rows())) + "). "
            f"{dated} of {ops.height} operations have a launch or announcement date.")


def coverage_by(t: dict[str, pl.DataFrame]) -> dict[str, list[tuple[str, int]]]:
    """Operations counted by period (five years, of the announcement, else the launch), by the lead
    agency's region (``[coverage.regions]`` of schemas/dataset.toml; an international body is its own
    row) and by lead agency: ``{"period" | "region" | "lead agency": [(label, n), ...]}``."""
    from opsledger.declarations import dataset

    regions = {c: r for r, codes in dataset().coverage.regions.items() for c in codes}
    ops = t["operations"].join(t["agencies"].select("agency_id", pl.col("name").alias("_lead"), "country"),
                               left_on="lead_agency_id", right_on="agency_id", how="left")
    out: dict[str, dict[str, int]] = {"period": {}, "region": {}, "lead agency": {}}
    for r in ops.iter_rows(named=True):
        d = r["announced"] or r["launched"]
        period = f"{d.year // 5 * 5}-{d.year // 5 * 5 + 4}" if d else "undated"
        region = "international body" if r["country"] is None else regions.get(r["country"], "other")
        for key, label in (("period", period), ("region", region), ("lead agency", r["_lead"] or r["lead_agency_id"])):
            out[key][label] = out[key].get(label, 0) + 1
    return {"period": sorted(out["period"].items()),
            "region": sorted(out["region"].items(), key=lambda kv: (-kv[1], kv[0])),
            "lead agency": sorted(out["lead agency"].items(), key=lambda kv: (-kv[1], kv[0]))}
