"""The browsable offline site of a release (``site/``): an index with a timeline and a sortable table
of operations, a page per operation (its figures as ranges, every figure's sources and phrases,
disputes with both sides and the curators' reason, the countries involved) and a page per metric.

Pages are Jinja2 templates (``templates/site/``); charts are static SVG (:mod:`opsledger.publishing.outputs.charts`)
inlined into the pages. Every page carries a Content-Security-Policy that forbids remote loads and
allows exactly one script: the page's own, named by its SHA-256 (no ``'unsafe-inline'``, so no script
or ``javascript:`` link that the data might smuggle in can run). A link to a source is made only for
an http(s) address (:func:`opsledger.escape.href`), also when the site is built from unvalidated data.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import os
import tomllib
from collections import defaultdict
from pathlib import Path

from opsledger.data import fmt
from opsledger.declarations import dataset, repo_root, vocabularies

#: The one script of every site page (sorting the tables) and of the validation report (its filters).
SITE_SCRIPT = "site/sort.js"
REPORT_SCRIPT = "report.js"


@functools.cache
def script(name: str) -> str:
    """The text of a script under ``templates/``, inlined as it is into a page."""
    from opsledger.publishing.templates import HERE

    return (HERE / name).read_text(encoding="utf-8")


def csp(*scripts: str) -> str:
    """A Content-Security-Policy: nothing remote, inline styles, and only the given inline scripts
    (each allowed by the SHA-256 of its exact text)."""
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s.encode('utf-8')).digest()).decode()}'"
                      for s in scripts) or "'none'"
    return (f"default-src 'none'; style-src 'unsafe-inline'; script-src {hashes}; img-src data:; "
            "base-uri 'none'; form-action 'none'")


def page_script(name: str) -> tuple[object, str]:
    """(the script as markup for a template, the CSP that allows it and nothing else)."""
    from markupsafe import Markup

    text = script(name)
    return Markup(text), csp(text)




def acknowledgements() -> dict[tuple[str, str, str], str]:
    """(rule, table, key) -> the curators' reason, from ``checks/acknowledgements.toml``."""
    path = Path(os.environ.get("OPSLEDGER_CHECKS") or repo_root() / "checks") / "acknowledgements.toml"
    if not path.is_file():
        return {}
    with path.open("rb") as fh:
        acks = tomllib.load(fh).get("ack", [])
    return {(a["rule"], a.get("table"), a["key"]): a["reason"] for a in acks}


@functools.cache
def country_name(code: str | None) -> str:
    if not code:
        return ""
    try:
        import pycountry

        c = pycountry.countries.get(alpha_2=code)
        return getattr(c, "common_name", None) or c.name if c else code
    except ImportError:  # pragma: no cover
        return code


def is_headline(o: dict) -> bool:
    """A worldwide figure of the whole operation (not per country or region, one offender, or a part)."""
    if "scope" in o and o["scope"] is not None:
        if o["scope"] != "worldwide":
            return False
    elif o.get("country") is not None or o.get("area") is not None:
        return False
    return all(o.get(c) is None for c in ("offender_role", "subgroup", "part_of"))


def _metric_label(metric: str, unit: str | None) -> str:
    u = fmt.UNITS.get(unit or "count", unit)
    label = fmt.words(metric)
    return f"{label} ({u})" if u and u.strip() not in label else label


def _plain_text(s: str) -> str:
    """A declaration's description without its Markdown code marks."""
    return s.replace("`", "")


def gather(data: dict) -> dict:
    """Plain dicts for the templates."""
    from opsledger.derive import display as disp
    from opsledger.derive.reconcile import counted, parts_low, value_claims

    rows = {name: df.to_dicts() for name, df in data.items()}
    # what a reader sees for each figure: its preferred claim's phrase with its range (issue 22)
    current = value_claims(data["claims"], "outcomes", data["sources"], data["outcomes"], "outcome_id")
    current = current.filter(counted(current))
    shown = dict(disp.displays(data["outcomes"], current, parts_low=parts_low(data["outcomes"])).iter_rows())
    current_by = defaultdict(list)
    for c in current.select("target_id", "qualifier", "figure", "excludes_home", "low", "high").iter_rows(named=True):
        current_by[c["target_id"]].append(c)
    agencies = {a["agency_id"]: a for a in rows["agencies"]}
    sources = {s["source_id"]: s for s in rows["sources"]}
    acks = acknowledgements()
    metrics = vocabularies()["metric"]
    claims_by_target = defaultdict(list)
    for c in rows["claims"]:
        claims_by_target[(c["target_table"], c["target_id"], c["target_column"])].append(c)
    parts_by_op = defaultdict(list)
    for p in rows["participations"]:
        parts_by_op[p["operation_id"]].append(p)
    outcomes_by_op = defaultdict(list)
    for o in rows["outcomes"]:
        outcomes_by_op[o["operation_id"]].append(o)

    ops = []
    def first_date(r):
        return min((r[c] for c in ("launched", "announced", "concluded") if r[c]), default=dt.date.max)

    for op in sorted(rows["operations"], key=lambda r: (first_date(r), r["operation_id"])):
        oid = op["operation_id"]
        countries = set()
        participants = []
        for p in sorted(parts_by_op[oid], key=lambda p: (p["role"], p["agency_id"])):
            a = agencies.get(p["agency_id"], {})
            if a.get("country"):
                countries.add(a["country"])
            participants.append({**p, "agency": a.get("name") or p["agency_id"],
                                 "country_name": country_name(a.get("country"))})
        figures = []
        for o in sorted(outcomes_by_op[oid], key=lambda o: (not is_headline(o), o["metric"], o["outcome_id"])):
            if o.get("country"):
                countries.add(o["country"])
            claims = []
            for c in sorted(claims_by_target[("outcomes", o["outcome_id"], "value")], key=lambda c: c["claim_id"]):
                s = sources.get(c["source_id"], {})
                as_of = c.get("as_of")
                claims.append({**c, "source": s, "allows": disp.claim_bounds(c["qualifier"], c["low"], c["high"], c["unit"]),
                               "as_of_text": fmt.interval(as_of, c.get("as_of_latest"), c.get("as_of_precision"))
                               if as_of else ""})
            sides = []
            if o["status"] == "disputed":
                by = defaultdict(list)
                for c in claims:
                    by[c["allows"]].append(c)
                sides = [{"allows": k, "claims": v} for k, v in sorted(by.items(), key=lambda kv: -len(kv[1]))]
            figures.append({
                **o, "headline": is_headline(o), "label": _metric_label(o["metric"], o["unit"]),
                "definition": _plain_text(metrics.get(o["metric"], {}).get("definition", "")),
                "shown": shown.get(o["outcome_id"]) or fmt.figure(o["value"], o["value_low"], o["value_high"], o["unit"]),
                "phrase": (disp.claim_phrase(p["qualifier"], disp.anchor(p), p["low"], p["high"], o["unit"])
                           if (p := disp.preferred(current_by[o["outcome_id"]], o["value"])) else
                           disp.bounds_text(o["value_low"], o["value_high"], o["unit"])),
                "allowed": disp.range_text(o["value_low"], o["value_high"], o["unit"], current_by[o["outcome_id"]]),
                # everything the sources allow together (the hull of their intervals), where derived
                "hull": (disp.range_text(o["sources_low"], o["sources_high"], o["unit"], current_by[o["outcome_id"]])
                         if "sources_low" in o and (o["sources_low"], o["sources_high"]) != (o["value_low"], o["value_high"])
                         else None),
                "as_of_text": (fmt.interval(o["as_of"], o.get("as_of_latest"), o.get("as_of_precision"))
                               if o.get("as_of") else ""),
                "where": ", ".join(x for x in (country_name(o.get("country")), o.get("area") or "",
                                               fmt.words(o.get("offender_role")),
                                               o.get("subgroup") or "") if x) or "worldwide",
                "claims": claims, "sides": sides,
                "reason": acks.get(("reconciliation.not_disputed", "outcomes", o["outcome_id"])),
            })
        lead = agencies.get(op["lead_agency_id"], {})
        ops.append({
            **op, "lead": lead.get("name") or op["lead_agency_id"],
            **{f"{k}_text": fmt.interval(op[k], op.get(f"{k}_latest"), op[f"{k}_precision"]) if op[k] else ""
               for k in ("launched", "announced", "concluded")},
            "countries": [{"code": c, "name": country_name(c)} for c in sorted(countries, key=country_name)],
            "participants": participants, "figures": figures,
            "n_sources": len({c["source_id"] for f in figures for c in f["claims"]}),
            "n_disputed": sum(f["status"] == "disputed" for f in figures),
            "key_figures": {f["metric"]: f for f in figures if f["headline"]},
        })
    by_metric, parts_by_metric = defaultdict(list), defaultdict(list)
    for op in ops:
        for f in op["figures"]:
            (by_metric if f["headline"] else parts_by_metric)[f["metric"]].append({"op": op, "figure": f})
    metric_pages = []
    for m in sorted(set(by_metric) | set(parts_by_metric)):
        rows, parts = by_metric.get(m, []), parts_by_metric.get(m, [])
        metric_pages.append({"metric": m, "label": _metric_label(m, (rows or parts)[0]["figure"]["unit"]),
                             "definition": _plain_text(metrics.get(m, {}).get("definition", "")),
                             "rows": rows, "parts": parts})
    return {"operations": ops, "metrics": metric_pages, "index_metrics": dataset().site.index_metrics}


def _range(label: str, f: dict):
    from opsledger.publishing.outputs.charts import Range

    return Range(label, f["value"], f["value_low"], f["value_high"], f["status"] == "disputed",
                 hull_low=f.get("sources_low"), hull_high=f.get("sources_high"), has_hull=bool(f["hull"]),
                 text=f.get("phrase"))


def _placed(op: dict, data: dict) -> tuple[tuple | None, tuple | None]:
    """Where an operation stands on the timeline: (its launch, its announcement), each the interval
    (earliest, latest) its precision allows; where both are unknown, its end date, else its first dated
    event, else the earliest as-of interval of its claims stands in, so no operation is left out."""
    def iv(col: str):
        return (op[col], op.get(f"{col}_latest") or op[col]) if op.get(col) else None

    launch, end = iv("launched"), iv("announced") or iv("concluded")
    if launch or end:
        return launch, end
    oid = op["operation_id"]
    for name, col, latest in (("events", "date", None), ("claims", "as_of", "as_of_latest")):
        df = data.get(name)
        if df is None:
            continue
        rows = [r for r in (df.to_dicts() if hasattr(df, "to_dicts") else df)
                if r.get("operation_id") == oid and r.get(col)]
        if rows:
            first = min(rows, key=lambda r: r[col])
            return None, (first[col], (first.get(latest) if latest else None) or first[col])
    return None, None


def both_drawings(draw, *args, **kw) -> str:
    """A chart as two drawings: the wide one, and the narrow one that phones show instead (the page's
    CSS picks one; each keeps its text readable where it is shown)."""
    return (f'<div class="wide">{draw(*args, **kw)}</div>'
            f'<div class="narrow">{draw(*args, narrow=True, **kw)}</div>')


def build_site(data: dict, version: str, date: str) -> dict[str, bytes]:
    """Every file of ``site/`` (paths relative to the release), deterministic for the same data."""
    from opsledger.publishing.outputs import charts
    from opsledger.publishing.templates import render

    g = gather(data)
    js, policy = page_script(SITE_SCRIPT)
    common = {"version": version, "date": date, "csp": policy, "script": js}
    files = {}
    placed = {op["operation_id"]: _placed(op, data) for op in g["operations"]}
    timeline = both_drawings(charts.timeline, [(op["name"], *placed[op["operation_id"]]) for op in g["operations"]],
                             "Operations from launch to announcement")
    undated = [op for op in g["operations"] if placed[op["operation_id"]] == (None, None)]
    files["site/index.html"] = render("site/index.html.j2", root="", timeline=timeline, undated=undated,
                                      **g, **common)
    for op in g["operations"]:
        # one unit a chart: the counts together; durations, ages, money and shares stay in the table
        heads = [f for f in op["figures"] if f["headline"] and f.get("unit", "count") == "count"]
        chart = both_drawings(
            charts.ranges, [_range(f["label"], f) for f in heads], f"{op['name']}: headline counts") if heads else ""
        files[f"site/operation/{op['operation_id']}.html"] = render(
            "site/operation.html.j2", root="../", op=op, chart=chart, **common)
    for m in g["metrics"]:
        chart = "" if not m["rows"] else both_drawings(
            charts.ranges, [_range(r["op"]["name"], r["figure"]) for r in m["rows"]],
            f"{m['label']} by operation", xlabel=m["label"])
        files[f"site/metric/{m['metric']}.html"] = render(
            "site/metric.html.j2", root="../", m=m, chart=chart, **common)
    return {k: v.encode("utf-8") for k, v in files.items()}


def write_site(data: dict, out: Path | str, version: str = "working", date: str | None = None) -> Path:
    """Build the site into a directory (for previewing the working data)."""
    import datetime as dt

    from opsledger.data.txn import write_bytes_atomic

    out = Path(out)
    for name, content in build_site(data, version, date or dt.date.today().isoformat()).items():
        write_bytes_atomic(out / name.removeprefix("site/"), content)
    return out
