"""Turn the date curation log (curation/review/*dates*.tsv) into change sets of publication intervals.

The log is written by curators who re-read each source's page, address, dateline and the events it
reports; this script is mechanical: it never decides anything the log does not say, and every change
cites its evidence (the log's `evidence` and `detail`). It reads the current tables for the `expect`
values, so a change set it writes applies only to the data it was made from.

    python curation/dates_to_changeset.py intervals NNNN [--data-dir datasets] [--out-dir corrections]
    python curation/dates_to_changeset.py evidence NNNN  [--data-dir datasets] [--out-dir corrections]

- ``intervals``: every source the log dates (source_dates_a.tsv, source_dates_b.tsv, columns
  source_id, earliest, latest, precision, evidence, detail, page_address) gets `published`
  (the interval's first day), `published_latest`, `published_precision` and `published_evidence`.
  The precision is the smallest of day, week, month, year that holds the interval, else `bounded`
  (:func:`precision_of`); where it differs from the log's, the log's interval wins and the
  difference is printed. A detail that reads a day and month without a year as the year of the
  events the page reports says so in the change's reason. ``ADJUST`` lists, with reasons, rows whose
  interval this script sets differently from the log.
- ``evidence``: every source already dated and still without evidence gets `published_evidence`:
  what the earlier log (dates.tsv) says (`address`; `stamp` is `page`), else `page` (the date was
  read from the page when the source was added).

Problems (a source the log names that the data lacks, an inverted interval) are printed, one a line,
and the change is left out.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import re
import sys
from pathlib import Path

import yaml

from opsledger.data import io as oio
from opsledger.data.txn import write_text_atomic

HERE = Path(__file__).resolve().parent
REVIEW = HERE / "review"
#: the logs, in order: a later log's row for a source replaces an earlier one's (a re-reading that narrows
#: an interval supersedes the first reading)
LOGS = ("source_dates_a.tsv", "source_dates_b.tsv", "source_dates_c.tsv", "source_dates_d.tsv",
        "source_dates_e.tsv", "source_dates_f.tsv", "source_dates_g.tsv")
EARLIER = "dates.tsv"
READ_ON = "2026-11-30"
#: the earlier log's evidence words -> the date_evidence vocabulary
EARLIER_EVIDENCE = {"address": "address", "stamp": "page", "dateline": "dateline"}
#: days each precision allows between first and last day (as [precision_days] of vocabularies.toml)
WEEK = 7
#: a detail that reads a day and month without a year as the year of the events the page reports
NO_YEAR = re.compile(r"\b(no year|year not shown|without (?:a )?year)\b", re.IGNORECASE)

#: rows of the log set otherwise, with the reason (source_id -> (earliest, latest, why))
ADJUST: dict[str, tuple[str, str, str]] = {
    "au-news-blackwrist": (
        "2019-05-23", "2019-05-24",
        "the address of the Australian copy holds two dates, -20190524 at its end and 190523 in its id part "
        "(the reason the earlier change set 0151 left it undated); the interval holds both"),
}


def _tsv(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as fh:
        return [{k: (v or "").strip() for k, v in row.items() if k} for row in csv.DictReader(fh, delimiter="\t")]


def precision_of(lo: dt.date, hi: dt.date) -> str:
    """The smallest precision that holds [lo, hi]: day, week (at most seven days apart), month, year,
    else bounded."""
    if lo == hi:
        return "day"
    if (hi - lo).days <= WEEK:
        return "week"
    if (lo.year, lo.month) == (hi.year, hi.month):
        return "month"
    if lo.year == hi.year:
        return "year"
    return "bounded"


def _iso(v) -> str | None:
    return v.isoformat() if isinstance(v, dt.date) else v


def build_intervals(data_dir: Path, review_dir: Path = REVIEW) -> tuple[list[dict], list[str]]:
    tables = oio.read_tables(data_dir)
    sources = {r["source_id"]: r for r in tables["sources"].iter_rows(named=True)}
    # the claims dated by their source (as_of and its precision are the source's publication interval's,
    # stored so a reader need not join): they follow the source's new interval
    by_source: dict[str, list[dict]] = {}
    for c in tables["claims"].select("claim_id", "source_id", "as_of", "as_of_precision").iter_rows(named=True):
        by_source.setdefault(c["source_id"], []).append(c)
    changes: list[dict] = []
    problems: list[str] = []
    latest_rows = {r["source_id"]: (log, r) for log in LOGS for r in _tsv(review_dir / log)}
    for sid, (log, r) in latest_rows.items():
        if sid not in sources:
            problems.append(f"{log}: {sid} is not in the data")
            continue
        earliest, latest, detail = r["earliest"], r["latest"], r["detail"]
        if sid in ADJUST:
            earliest, latest, why = ADJUST[sid]
            detail = f"{detail}; set to {earliest} .. {latest}: {why}"
        lo, hi = dt.date.fromisoformat(earliest), dt.date.fromisoformat(latest)
        if lo > hi:
            problems.append(f"{log}: {sid}: earliest {earliest} is after latest {latest}")
            continue
        prec = precision_of(lo, hi)
        if prec != r["precision"]:
            problems.append(f"{log}: {sid}: the log says precision {r['precision']}, the interval "
                            f"{earliest} .. {latest} is {prec} (stored: {prec})")
        if NO_YEAR.search(detail) and prec != "bounded":
            detail = ("a day and month the page gives without a year are read as the year of the events "
                      f"it reports: {detail}")
        cur = sources[sid]
        new = {"published": earliest, "published_latest": latest, "published_precision": prec,
               "published_evidence": r["evidence"]}
        s = {c: v for c, v in new.items() if _iso(cur.get(c)) != v}
        if not s:
            continue
        where = f" (page {r['page_address']})" if r.get("page_address") else ""
        changes.append({"op": "update", "table": "sources", "key": sid, "source": sid,
                        "expect": {c: _iso(cur.get(c)) for c in s}, "set": s,
                        "reason": f"Publication interval ({r['evidence']}){where}: {detail}"})
        for c in by_source.get(sid, []):
            if (_iso(c["as_of"]), c["as_of_precision"]) != (_iso(cur["published"]), cur["published_precision"]):
                continue  # dated by its own sentence, not by its source
            moved = {k: v for k, v in (("as_of", earliest), ("as_of_precision", prec)) if _iso(c[k]) != v}
            if moved:
                changes.append({"op": "update", "table": "claims", "key": c["claim_id"], "source": sid,
                                "expect": {k: _iso(c[k]) for k in moved}, "set": moved,
                                "reason": f"As of its source's publication, which is now {earliest} .. {latest} "
                                          f"({r['evidence']}; see the change to source {sid})"})
    return changes, problems


#: phrases of the source's own text that the log names without quote marks: (operation, date) ->
#: (phrase, where the log says it). Only a stamp or a bare weekday or day word, which stands verbatim
#: in any wording of the sentence the log describes.
WORDS: dict[tuple[str, str], tuple[str, str]] = {
    ("cathedral", "announced"): ("Wednesday, September 2, 1998", "the BBC item's own stamp"),
    ("icebreaker", "announced"): ("Tuesday", "the AP report: Europol spoke on Tuesday"),
    ("rescue", "announced"): ("today", "the item: the agencies released details today"),
    ("sunflower", "announced"): ("Thursday", "the CNN copy: officials announced it Thursday"),
    ("narsil", "announced"): ("Thursday", "OCCRP: INTERPOL announced it on Thursday"),
    ("endeavour", "announced"): ("Thursday", "DW: the NCA posted its statement on Thursday"),
    ("long_arm", "announced"): ("Tuesday", "the LA Times: officials spoke on Tuesday"),
    ("luz_na_infancia_6", "announced"): ("18/02/2020", "the ministry item's dateline"),
}

#: dates that a quotation already in the data states, on another source of the same operation than the
#: log names: (operation, date) -> (source, phrase, the claim whose quotation holds it, why)
QUOTED_IN_DATA: dict[tuple[str, str], tuple[str, str, str, str]] = {
    ("cumberland", "announced"): (
        "malaymail-2025-02-28-cumberland", "Friday", "cumberland.arrests.s03",
        "the AFP report the log cites (via Malay Mail) says Europol announced it on Friday"),
    ("luz_na_infancia_3", "launched"): (
        "estrelaguia-2018-11-lni3", "quinta-feira", "luz_na_infancia_3.states_engaged.br.s02",
        "the Estrela Guia report the log cites says the action was launched on that Thursday"),
}

#: sources the log adds (a row with page_address, publisher and title but no source_id): (operation,
#: date) -> (new source_id, language, published, evidence, the phrase of the page that dates it). The
#: publication date is what the log says of the page (its address or stamp).
NEW_SOURCES: dict[tuple[str, str], tuple[str, str, str, str, str]] = {
    ("bakis", "announced"): ("aljazeera-2023-08-08-bakis", "en", "2023-08-08", "address", "Tuesday"),
    ("h", "announced"): ("rnz-2022-03-02-h", "en", "2022-03-02", "page", "2 March 2022"),
    ("ore", "announced"): ("guardian-2002-05-21-ore", "en", "2002-05-21", "address", "yesterday"),
    ("protected_childhood_8", "announced"): ("uol-2021-06-09-opc8", "pt", "2021-06-09", "page", "09/06/2021"),
}

#: a phrase the detail quotes; one right after "Name: " is another outlet's and is not used
QUOTED = re.compile(r'(?<!: )"([^"]{2,60})"')


def build_operations(data_dir: Path, review_dir: Path = REVIEW) -> tuple[list[dict], list[str]]:
    """Date claims for the operation dates of operation_dates.tsv that the data does not yet date:
    for a row naming a source of the data, each phrase its detail quotes ("am Freitag", "este
    lunes", not one the detail attributes to another outlet) that the phrase rules place, against that
    source's publication interval (``phrases.resolve_date``), on days the row's interval shares becomes
    a claim dating the operation (with the days the phrase allows, which may be wider). A row
    whose date no quoted phrase reproduces is printed as left open."""
    from opsledger.derive.phrases import derive_date, resolve_date
    from opsledger.derive.reconcile import derive_all

    t = oio.read_tables(data_dir)
    derived = derive_all(t)
    ops = {r["operation_id"]: r for r in derived["operations"].iter_rows(named=True)}
    sources = {r["source_id"]: r for r in t["sources"].iter_rows(named=True)}
    claim_ids = set(t["claims"]["claim_id"])
    quotations = dict(t["claims"].select("claim_id", "quotation").iter_rows())
    rows = _tsv(review_dir / "operation_dates.tsv")
    logged = {(r["operation_id"], r["which"]) for r in rows}
    for (op, which), (sid, _phrase, _cid, why) in QUOTED_IN_DATA.items():
        if (op, which) not in logged and op in ops:
            rows.append({"operation_id": op, "which": which, "source_id": sid, "earliest": "", "latest": "",
                         "evidence": "relative", "detail": why})
    changes: list[dict] = []
    problems: list[str] = []
    for r in rows:
        op, which, sid = r["operation_id"], r["which"], r.get("source_id")
        quotation = None
        if (op, which) in QUOTED_IN_DATA:
            sid, phrase, cid, why = QUOTED_IN_DATA[(op, which)]
            quotation = quotations.get(cid)
            r = {**r, "source_id": sid, "detail": f"{r['detail']} Placed by {why}."}
        if op not in ops:
            problems.append(f"operation_dates.tsv: {op} is not in the data")
            continue
        if ops[op][which] is not None:
            continue  # dated already by its claims
        if not sid and (op, which) in NEW_SOURCES and r.get("page_address"):
            nid, lang, pub, ev, phrase = NEW_SOURCES[(op, which)]
            if nid not in sources:
                sources[nid] = {"source_id": nid, "publisher": r["publisher"], "kind": "news", "title": r["title"],
                                "published": dt.date.fromisoformat(pub), "published_latest": dt.date.fromisoformat(pub),
                                "published_precision": "day", "published_evidence": ev, "url": r["page_address"],
                                "accessed": dt.date.fromisoformat(READ_ON), "language": lang,
                                "note": "Added for the operation's announcement date (curation/review/operation_dates.tsv)."}
                changes.append({"op": "add", "table": "sources", "source": nid,
                                "row": {k: _iso(v) for k, v in sources[nid].items()},
                                "reason": f"A page the date log found for {op}: {r['detail']}"})
            sid = nid
            r = {**r, "source_id": nid}
            extra = phrase
        else:
            extra = None
        if not sid or sid not in sources:
            problems.append(f"operation_dates.tsv: {op} {which}: left open (source {sid or r.get('page_address')} "
                            "is not in the data)")
            continue
        s = sources[sid]
        want = ((dt.date.fromisoformat(r["earliest"]), dt.date.fromisoformat(r["latest"])) if r["earliest"]
                else (dt.date.min, dt.date.max))
        placed = None
        phrases = QUOTED.findall(r["detail"]) + ([WORDS[(op, which)][0]] if (op, which) in WORDS else [])
        if extra:
            phrases = [extra]
        if quotation:
            phrases = [QUOTED_IN_DATA[(op, which)][1]]
        for phrase in phrases:
            d = derive_date(phrase, s["language"])  # a date as such, else placed against the page's date
            got = ((d.date_low, d.date_high) if d.date_low is not None and d.date_high is not None
                   else resolve_date(phrase, s["language"], (s["published"], s["published_latest"])))
            # it allows the logged date, and places it within a year (a phrase read against a page known
            # only within wide bounds says nothing about the date)
            if got and got[0] <= want[1] and want[0] <= got[1] and (got[1] - got[0]).days <= 365:
                placed = (phrase, got)
                break
        if placed is None:
            problems.append(f"operation_dates.tsv: {op} {which}: left open (no quoted phrase places "
                            f"{r['earliest']} .. {r['latest']} against {sid})")
            continue
        n = 1
        while f"{op}.{which}.d{n:02d}" in claim_ids:
            n += 1
        cid = f"{op}.{which}.d{n:02d}"
        claim_ids.add(cid)
        changes.append({"op": "add", "table": "claims", "source": sid, "row": {
            "claim_id": cid, "source_id": sid, "operation_id": op, "target_table": "operations", "target_id": op,
            "target_column": which, "stated": placed[0], "scope": "worldwide", "quotation": quotation,
            "note": (f"Dated by the curation log (curation/review/operation_dates.tsv, evidence {r['evidence']}): "
                     f"{r['detail']}" + ("" if quotation else " The page was not quoted.")),
        }, "reason": f"{which} of {op}: {placed[0]!r} placed against {sid} ({placed[1][0]} .. {placed[1][1]})"})
    return changes, problems


def build_evidence(data_dir: Path, review_dir: Path = REVIEW) -> tuple[list[dict], list[str]]:
    sources = oio.read_tables(data_dir)["sources"]
    earlier = {r["source_id"]: r for r in _tsv(review_dir / EARLIER) if r.get("published")}
    changes: list[dict] = []
    for cur in sources.iter_rows(named=True):
        if cur["published"] is None or cur["published_evidence"] is not None:
            continue
        sid = cur["source_id"]
        row = earlier.get(sid)
        ev = EARLIER_EVIDENCE.get(row["evidence"], "page") if row else "page"
        why = (f"as the earlier date log ({EARLIER}) records it: {row['note']}" if row else
               "the date was read from the page when the source was added")
        changes.append({"op": "update", "table": "sources", "key": sid, "source": sid,
                        "expect": {"published_evidence": None}, "set": {"published_evidence": ev},
                        "reason": f"How the publication date is known ({ev}): {why}"})
    return changes, []


TITLES = {
    "intervals": ("Publication dates as intervals for every undated source, with their evidence",
                  "Every source without a publication date was re-read (page, address, dateline, the weekday or "
                  "relative day it uses, the events it reports; curation/review/source_dates_a.tsv and "
                  "source_dates_b.tsv). Each gets an interval (earliest, latest) with its precision and how it is "
                  "known; at worst it is bounded by the latest event it reports and the day it was read."),
    "operations": ("Announcement, launch and end dates of operations from the phrases their sources use",
                   "The operation dates found by re-reading the lead agencies' and coordinators' first releases and "
                   "the reports of them (curation/review/operation_dates.tsv): each becomes a claim on the source "
                   "that states it, in the words the log quotes, placed against that source's publication date."),
    "evidence": ("How each dated source's publication date is known",
                 "Sources dated before publication dates became intervals get their evidence: the earlier date "
                 "log (curation/review/dates.tsv) where it records one, else the page."),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=sorted(TITLES))
    ap.add_argument("number")
    ap.add_argument("--data-dir", type=Path, default=Path("datasets"))
    ap.add_argument("--review-dir", type=Path, default=REVIEW)
    ap.add_argument("--out-dir", type=Path, default=Path("corrections"))
    a = ap.parse_args(argv)
    build = {"intervals": build_intervals, "evidence": build_evidence, "operations": build_operations}[a.what]
    changes, problems = build(a.data_dir, a.review_dir)
    for p in problems:
        print(p, file=sys.stderr)
    if not changes:
        print("nothing to change: no change set written", file=sys.stderr)
        return 1
    title, reason = TITLES[a.what]
    doc = {"title": title, "contributor": "opsledger-curators", "reason": reason, "changes": changes}
    out = a.out_dir / (f"{a.number}-operation-dates.yaml" if a.what == "operations"
                       else f"{a.number}-publication-{a.what}.yaml")
    write_text_atomic(out, yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120))
    print(f"{out}: {len(changes)} changes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
