"""Turn a re-reading of one operation's claims (curation/review/<op>*.tsv) into a change set.

The review files are written by curators who re-read every claim against its page (see
curation/review/README.md). This script is mechanical: it never decides anything the review does not
say. It reads the current tables for the `expect` values, so a change set it writes applies only to
the data it was made from.

    python curation/review_to_changeset.py OPERATION_ID NNNN [--data-dir datasets] [--review-dir DIR] [--out-dir DIR]

The change set is written to OUT_DIR/NNNN-reread-<operation>.yaml (default corrections/); problems the
review leaves open (a claim or outcome it names that the data lacks, an added outcome no claim moves
to, a claim read at another scope than the outcome it supports) are printed, one a line.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import sys
from pathlib import Path

import yaml

from opsledger.data import io as oio
from opsledger.data.txn import write_text_atomic

HERE = Path(__file__).resolve().parent
REVIEW = HERE / "review"
NULL = "-"
READ_ON = "2026-11-30"


def _tsv(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as fh:
        return [{k: (v or "").strip() for k, v in row.items() if k} for row in csv.DictReader(fh, delimiter="\t")]


def _val(v: str):
    return None if v == NULL else v


def _jsonable(v):
    return v.isoformat() if isinstance(v, (dt.date,)) else v


def _period_end(start: str, precision: str) -> str:
    d = dt.date.fromisoformat(start)
    if precision == "year":
        return dt.date(d.year, 12, 31).isoformat()
    if precision == "month":
        return (dt.date(d.year + (d.month == 12), d.month % 12 + 1, 1) - dt.timedelta(days=1)).isoformat()
    return d.isoformat()


def build(op: str, number: str, data_dir: Path, review_dir: Path = REVIEW) -> dict:
    """The changes the review files of ``op`` in ``review_dir`` ask for, and the problems found."""
    t = oio.read_tables(data_dir)
    claims = {r["claim_id"]: r for r in t["claims"].iter_rows(named=True)}
    outcomes = {r["outcome_id"]: r for r in t["outcomes"].iter_rows(named=True)}
    sources = {r["source_id"]: r for r in t["sources"].iter_rows(named=True)}
    statistics = set(t["statistics"]["statistic_id"])
    review = _tsv(review_dir / f"{op}.tsv")
    out_rows = _tsv(review_dir / f"{op}.outcomes.tsv")
    src_rows = _tsv(review_dir / f"{op}.sources.tsv")
    changes: list[dict] = []
    problems: list[str] = []

    def update(table, key, current, new, source, reason):
        s = {c: v for c, v in new.items() if _jsonable(current.get(c)) != v}
        if s:
            changes.append({"op": "update", "table": table, "key": key,
                            "expect": {c: _jsonable(current.get(c)) for c in s}, "set": s,
                            "source": source, "reason": reason})

    # sources: publication dates shown by the page or its address, and when it was read
    for r in src_rows:
        sid = r["source_id"]
        if sid not in sources:
            problems.append(f"sources: {sid} is not in the data")
            continue
        new = {}
        # a date the page shows fills a source known only within bounds (every source has at least those)
        if r.get("published") and (sources[sid]["published"] is None
                                   or sources[sid]["published_precision"] == "bounded"):
            new["published"] = r["published"]
            new["published_precision"] = r.get("published_precision") or "day"
            # a publication date is an interval: the end of the period it gives, unless the review says
            new["published_latest"] = r.get("published_latest") or _period_end(r["published"], new["published_precision"])
            new["published_evidence"] = r.get("published_evidence") or "page"
        if r.get("accessed") and r.get("url_status") in ("found", ""):
            new["accessed"] = r["accessed"]
        update("sources", sid, sources[sid], new, sid,
               f"Re-read on {READ_ON}: {r.get('note') or 'page found'}")

    # claims retargeted to each outcome, to cite a source for an added outcome
    retarget = {}
    for r in review:
        if r.get("new_target"):
            retarget.setdefault(r["new_target"], []).append(claims.get(r["claim_id"], {}).get("source_id"))

    # outcomes to add (totals before their parts), then outcomes to change
    adds = [r for r in out_rows if r["action"] == "add"]
    added = {r["outcome_id"] for r in adds}
    adds.sort(key=lambda r: (r.get("part_of") in added, r["outcome_id"]))
    for r in adds:
        oid = r["outcome_id"]
        if oid in outcomes:
            problems.append(f"outcomes: {oid} exists already; treated as a change")
            r["action"] = "change"
            continue
        cited = [s for s in retarget.get(oid, []) if s]
        if not cited:
            problems.append(f"outcomes: {oid} is added but no claim is moved to it; skipped")
            continue
        row = {"outcome_id": oid, "operation_id": op, "metric": r["metric"], "scope": r["scope"] or "worldwide",
               "country": _val(r.get("country") or NULL), "area": _val(r.get("area") or NULL),
               "subgroup": _val(r.get("subgroup") or NULL), "offender_role": _val(r.get("offender_role") or NULL),
               "part_of": _val(r.get("part_of") or NULL), "note": r.get("note") or None}
        changes.append({"op": "add", "table": "outcomes", "source": cited[0], "row": row,
                        "reason": f"Re-read on {READ_ON}: {r.get('note') or 'a quantity of its own'}"})
    final_scope = {k: {"scope": v["scope"], "country": v["country"], "area": v["area"]} for k, v in outcomes.items()}
    for r in adds:
        final_scope[r["outcome_id"]] = {"scope": r["scope"] or "worldwide", "country": _val(r.get("country") or NULL),
                                        "area": _val(r.get("area") or NULL)}
    for r in out_rows:
        if r["action"] != "change":
            continue
        oid = r["outcome_id"]
        if oid not in outcomes:
            problems.append(f"outcomes: {oid} to change is not in the data")
            continue
        new = {c: _val(r[c]) for c in ("metric", "scope", "country", "area", "subgroup", "offender_role", "part_of")
               if r.get(c)}
        if new.get("scope") == "worldwide":
            new.setdefault("country", None)
            new.setdefault("area", None)
        if new.get("scope") == "region":
            new.setdefault("country", None)
        if new.get("scope") == "country":
            new.setdefault("area", None)
        src = next((c["source_id"] for c in claims.values() if c["target_id"] == oid), None) or next(iter(sources))
        update("outcomes", oid, outcomes[oid], new, src, f"Re-read on {READ_ON}: {r.get('note') or ''}".strip())
        final_scope[oid] = {c: new.get(c, outcomes[oid][c]) for c in ("scope", "country", "area")}

    # claims: quotation, as-of, target, stated phrase; scope follows the outcome it supports
    for r in review:
        cid = r["claim_id"]
        if cid not in claims:
            problems.append(f"claims: {cid} is not in the data")
            continue
        c = claims[cid]
        new = {}
        if r.get("quotation"):
            new["quotation"] = r["quotation"]
        if r.get("as_of"):
            new["as_of"] = r["as_of"]
            new["as_of_precision"] = r.get("as_of_precision") or "day"
        if r.get("new_target"):
            new["target_id"] = r["new_target"]
            if r["new_target"] in statistics:  # a database figure the page attributes to the operation
                new["target_table"] = "statistics"
        target = new.get("target_id", c["target_id"])
        if new.get("target_table", c["target_table"]) == "outcomes" and target in final_scope:
            new.update(final_scope[target])
            if r.get("scope") and r["scope"] != final_scope[target]["scope"]:
                problems.append(f"claims: {cid} is read as {r['scope']} but supports {target} "
                                f"({final_scope[target]['scope']})")
        verdict = r.get("verdict", "ok")
        if verdict == "rephrase" and "stated=" in r.get("note", ""):
            new["stated"] = r["note"].split("stated=", 1)[1].split("|")[0].strip().strip('"')
        if verdict in ("unsupported", "page_gone") and r.get("note"):
            prefix = "Not found on the page" if verdict == "unsupported" else "Page no longer readable"
            new["note"] = f"{prefix} when re-read on {READ_ON}: {r['note']}"[:600]
        update("claims", cid, c, new, c["source_id"], f"Re-read on {READ_ON}: {r.get('note') or verdict}"[:600])

    # an outcome of this operation left without claims is retired (no page states it); its parts
    # then stand on their own
    moved = {r["claim_id"]: r["new_target"] for r in review if r.get("new_target")}
    backing: dict[str, int] = {}
    for cid, c in claims.items():
        if c["target_table"] == "outcomes":
            tgt = moved.get(cid, c["target_id"])
            backing[tgt] = backing.get(tgt, 0) + 1
    orphans = [k for k, v in outcomes.items() if v["operation_id"] == op and not backing.get(k)]
    for oid in sorted(orphans):
        for ch in changes:
            if ch["table"] == "outcomes" and ch.get("op") == "add" and ch["row"].get("part_of") == oid:
                ch["row"]["part_of"] = None
            if ch["table"] == "outcomes" and ch.get("op") == "update" and ch["set"].get("part_of") == oid:
                ch["set"]["part_of"] = None
        for k, v in outcomes.items():
            if v["part_of"] == oid and not any(ch.get("key") == k and "part_of" in ch.get("set", {}) for ch in changes):
                update("outcomes", k, v, {"part_of": None}, next(iter(sources)), f"{oid} is retired: no page states it.")
        src = outcomes[oid]
        changes.append({"op": "retire", "table": "outcomes", "key": oid,
                        "source": next((c["source_id"] for c in claims.values() if c["operation_id"] == op), next(iter(sources))),
                        "reason": f"Re-read on {READ_ON}: no claim supports {oid} once each claim points at the "
                                  f"quantity its sentence states (its note: {src['note'] or 'none'})."[:600]})
    return {"changes": changes, "problems": problems}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("operation_id")
    ap.add_argument("number")
    ap.add_argument("--data-dir", default=str(oio.default_data_dir()))
    ap.add_argument("--out-dir", default=str(HERE.parent / "corrections"))
    ap.add_argument("--review-dir", default=str(REVIEW))
    a = ap.parse_args(argv)
    res = build(a.operation_id, a.number, Path(a.data_dir), Path(a.review_dir))
    doc = {
        "title": f"Re-read {a.operation_id} under the figure model",
        "contributor": "opsledger-curators",
        "reason": (f"Every claim of {a.operation_id} was re-read against its page on {READ_ON} "
                   "(curation/review/): each gets a short quotation, the area and date its figure covers, "
                   "and the outcome it really supports; sources get their publication dates where the page "
                   "or its address shows one. Each change gives its own reason."),
        "changes": res["changes"],
    }
    out = Path(a.out_dir) / f"{a.number}-reread-{a.operation_id.replace('_', '-')}.yaml"
    write_text_atomic(out, yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=110))
    print(f"{out}: {len(res['changes'])} change(s)")
    for p in res["problems"]:
        print(f"  ! {p}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
