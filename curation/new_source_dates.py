#!/usr/bin/env python3
"""Publication intervals for sources added without one (the research bundles of 2026-12-07).

Mechanical and conservative: it decides nothing a source's own record does not say.

- A source with a publication date gets the period that date states (a day: that day; a month: the
  month; a year: the year) and its evidence: `address` when the source's note says the date was read
  from its address, else `page` (the curators recorded the date as the page shows it).
- A source without one is bounded: published after the latest date its own claims state (a page
  reports events that happened before it) or, without such a claim, after its operation's launch (a
  page reports an operation that had begun), else after one year before the earliest date known of
  its operation (its announcement, first event or first dated report: a page can report an operation
  before it is announced, so a year's margin is left), and before the day it was read (`accessed`, else the day
  the bundles were converted, 2026-12-07). Without any lower bound it is left out and listed: a wide
  bound is better than a wrong date, but no bound is not a bound.

    python curation/new_source_dates.py NNNN [--data-dir datasets] [--out-dir corrections]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import polars as pl
import yaml

from opsledger.data import io as oio
from opsledger.data.txn import write_text_atomic
from opsledger.derive.phrases import period_bounds


def changes(t: dict[str, pl.DataFrame]) -> tuple[list[dict], list[str]]:
    src = t["sources"].filter(pl.col("published_evidence").is_null())
    claims = t["claims"]
    ev = t["events"].filter(pl.col("date").is_not_null()).group_by("operation_id").agg(pl.col("date").min().alias("_ev"))
    dated = (claims.select("source_id", "operation_id").unique()
             .join(t["sources"].filter(pl.col("published").is_not_null()).select("source_id", "published"), on="source_id")
             .group_by("operation_id").agg(pl.col("published").min().alias("_pub")))
    ops = (t["operations"].join(ev, on="operation_id", how="left").join(dated, on="operation_id", how="left")
           .select("operation_id", "launched", pl.min_horizontal("announced", "_ev", "_pub").alias("first_known")))
    own_dates = (claims.filter(pl.col("date_high").is_not_null()).group_by("source_id")
                 .agg(pl.col("date_high").max().alias("latest_event")))
    op_of = claims.select("source_id", "operation_id").unique().join(ops, on="operation_id", how="left") \
        .group_by("source_id").agg(pl.col("launched").min().alias("launched"), pl.col("first_known").min(),
                                   pl.col("operation_id").first())
    src = src.join(own_dates, on="source_id", how="left").join(op_of, on="source_id", how="left")
    out, skipped = [], []
    for r in src.sort("source_id").iter_rows(named=True):
        expect = {k: (r[k].isoformat() if isinstance(r[k], dt.date) else r[k])
                  for k in ("published", "published_latest", "published_precision", "published_evidence")}
        if r["published"] is not None:
            prec = r["published_precision"] or "day"
            evidence = "address" if "address" in (r["note"] or "").lower() else "page"
            new = {"published": r["published"].isoformat(), "published_latest": period_bounds(r["published"], prec)[1].isoformat(),
                   "published_precision": prec, "published_evidence": evidence}
            why = (f"Date as recorded when the source was curated ({prec}); evidence {evidence}"
                   + (" (its note says the date was read from the address)" if evidence == "address" else
                      " (the page shows it)"))
        else:
            if r["latest_event"]:
                low, what = r["latest_event"], "the latest date its own claims state"
            elif r["launched"]:
                low, what = r["launched"], f"the launch of {r['operation_id']}"
            elif r["first_known"]:
                low = r["first_known"].replace(year=r["first_known"].year - 1) if not (
                    r["first_known"].month == 2 and r["first_known"].day == 29) else dt.date(r["first_known"].year - 1, 2, 28)
                what = f"one year before the earliest date known of {r['operation_id']} ({r['first_known']})"
            else:
                low, what = None, None
            high = r["accessed"] or dt.date(2026, 12, 7)
            if low is None or high is None or low > high:
                skipped.append(f"{r['source_id']}: no lower bound (no dated claim, no launch) or no day read")
                continue
            new = {"published": low.isoformat(), "published_latest": high.isoformat(), "published_precision": "bounded",
                   "published_evidence": "bounded"}
            why = f"No date on the page as curated: published after {what} ({low}) and before it was read ({high})"
        out.append({"op": "update", "table": "sources", "key": r["source_id"], "source": r["source_id"],
                    "expect": expect, "set": new, "reason": why})
    return out, skipped


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("number", type=int)
    ap.add_argument("--data-dir", type=Path, default=Path("datasets"))
    ap.add_argument("--out-dir", type=Path, default=Path("corrections"))
    a = ap.parse_args(argv)
    t = oio.read_tables(a.data_dir)
    ch, skipped = changes(t)
    for s in skipped:
        print("left out:", s, file=sys.stderr)
    doc = {"title": "Publication intervals for the sources the research bundles added, with their evidence",
           "contributor": "opsledger-curators",
           "reason": "The sources added by the research bundles of 2026-12-07 carried a date as found, without its "
                     "interval or evidence; undated ones had none. Each now has an interval and how it is known "
                     "(curation/new_source_dates.py: the date as recorded, else bounded by the events the page "
                     "itself dates or its operation's launch, and the day it was read).",
           "changes": ch}
    path = a.out_dir / f"{a.number:04d}-publication-intervals-new-sources.yaml"
    write_text_atomic(path, yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=120))
    print(f"wrote {path}: {len(ch)} changes, {len(skipped)} left out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
