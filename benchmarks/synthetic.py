"""Generate a synthetic dataset with N claims that passes validation (for the benchmark).

    python benchmarks/synthetic.py OUT_DIR --claims 100000

Shape: one operation per 100 claims, 20 outcomes per operation, 5 claims per outcome from 5 of
50 synthetic sources, phrased with the real hedges ("nearly N", "over N", "N children"), plus
participations and dated launches. Derived columns are filled by opsledger.derive.reconcile.derive_all.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import datetime as dt

import numpy as np
import polars as pl

from opsledger.data import io as oio
from opsledger.declarations import table
from opsledger.derive.reconcile import derive_all

METRICS = ["arrests", "children_safeguarded", "accounts_identified", "cases_investigated", "site_users",
           "house_searches", "suspects_identified", "videos_seized", "images_seized", "offenders_convicted"]


TYPES = {"string": pl.Utf8, "integer": pl.Int64, "number": pl.Float64, "date": pl.Date, "boolean": pl.Boolean}


def empty(table_name: str, n: int, /, **cols) -> pl.DataFrame:
    t = table(table_name)
    out = {}
    for f in t.fields:
        if f.name in cols:
            out[f.name] = pl.Series(f.name, cols[f.name]).cast(TYPES[f.type])
        else:
            out[f.name] = pl.Series(f.name, [None] * n, dtype=TYPES[f.type])
    return pl.DataFrame(out)


#: the publication day of every synthetic source (after every operation's launch year)
PUBLISHED = dt.date(2024, 1, 15)


def generate(n_claims: int, seed: int = 7) -> dict[str, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    n_ops = max(1, n_claims // 102)
    per_op_outcomes = 20 if n_claims >= 100 else max(1, n_claims // 5)
    n_out = n_ops * per_op_outcomes
    n_src = 50
    ops = [f"op{i:06d}" for i in range(n_ops)]
    sources = empty("sources", n_src, source_id=[f"src{i:03d}" for i in range(n_src)],
                    kind=["official_release" if i % 5 == 0 else "news" for i in range(n_src)],
                    language=["en"] * n_src, publisher=[f"Publisher {i}" for i in range(n_src)],
                    url=[f"https://example.org/{i}" for i in range(n_src)],
                    # every source has a publication interval (here a day its page shows)
                    published=[PUBLISHED] * n_src, published_latest=[PUBLISHED] * n_src,
                    published_precision=["day"] * n_src, published_evidence=["page"] * n_src)
    agencies = empty("agencies", 3, agency_id=["interpol", "europol", "us-hsi"], name=["INTERPOL", "Europol", "HSI"],
                     kind=["intergovernmental", "intergovernmental", "national_investigative_agency"],
                     country=[None, None, "US"])
    operations = empty("operations", n_ops, operation_id=ops, name=[f"Operation {o}" for o in ops],
                       lead_agency_id=["interpol"] * n_ops, summary=["Synthetic operation."] * n_ops)
    part = empty("participations", n_ops, participation_id=[f"{o}.interpol.lead" for o in ops],
                 operation_id=ops, agency_id=["interpol"] * n_ops, role=["lead"] * n_ops)
    out_op = np.repeat(np.arange(n_ops), per_op_outcomes)
    out_metric = np.tile(np.arange(per_op_outcomes), n_ops)
    outcome_ids = [f"{ops[o]}.m{m:02d}" for o, m in zip(out_op, out_metric)]
    # the first 10 rows of an operation are worldwide totals; the others are per-country breakdowns of them
    in_country = [m >= len(METRICS) for m in out_metric]
    outcomes = empty("outcomes", n_out, outcome_id=outcome_ids, operation_id=[ops[o] for o in out_op],
                     metric=[METRICS[m % len(METRICS)] for m in out_metric],
                     scope=["country" if c else "worldwide" for c in in_country],
                     country=[["DE", "FR", "US", "GB", "NL"][m % 5] if c else None for m, c in zip(out_metric, in_country)],
                     part_of=[f"{ops[o]}.m{m - len(METRICS):02d}" if c else None
                              for o, m, c in zip(out_op, out_metric, in_country)])
    truth = rng.integers(100, 90000, n_out)
    # a per-country row (metric index >= 10) is a tenth of the same metric's total, so sums stay below it
    is_country = out_metric >= len(METRICS)
    base = np.arange(n_out) - len(METRICS)
    truth = np.where(is_country, np.maximum(truth[np.clip(base, 0, None)] // 10, 1), truth)
    # claims: 5 per outcome (value), plus one launch date per operation and one role claim
    k = 5
    rows_target, rows_src, rows_stated = [], [], []
    hedges = ["{n}", "over {lo}", "nearly {hi}", "at least {lo}", "approximately {n}"]
    for j in range(k):
        h = hedges[j % len(hedges)]
        # consistent phrases: lo below the truth, hi above it
        lo = truth - 1 - (truth // 50)
        hi = truth + 1 + (truth // 200)
        if j % len(hedges) == 0:
            stated = [f"{t:,}" for t in truth]
        else:
            stated = [h.format(n=f"{t:,}", lo=f"{a:,}", hi=f"{b:,}") for t, a, b in zip(truth, lo, hi)]
        rows_target += outcome_ids
        rows_src += [f"src{(i * 7 + j) % n_src:03d}" for i in range(n_out)]
        rows_stated += stated
    n_val = len(rows_target)
    years = rng.integers(2005, 2024, n_ops)
    claims = pl.concat([
        empty("claims", n_val, claim_id=[f"c{i:08d}" for i in range(n_val)], source_id=rows_src,
              operation_id=[ops[out_op[i % n_out]] for i in range(n_val)], target_table=["outcomes"] * n_val,
              target_id=rows_target, target_column=["value"] * n_val, stated=rows_stated,
              scope=(outcomes["scope"].to_list() * k)[:n_val], country=(outcomes["country"].to_list() * k)[:n_val]),
        empty("claims", n_ops, claim_id=[f"d{i:08d}" for i in range(n_ops)], source_id=["src000"] * n_ops,
              operation_id=ops, target_table=["operations"] * n_ops, target_id=ops,
              target_column=["launched"] * n_ops, stated=[f"in {y}" for y in years], scope=["worldwide"] * n_ops),
        empty("claims", n_ops, claim_id=[f"r{i:08d}" for i in range(n_ops)], source_id=["src000"] * n_ops,
              operation_id=ops, target_table=["participations"] * n_ops,
              target_id=[f"{o}.interpol.lead" for o in ops], target_column=["role"] * n_ops,
              stated=["led by INTERPOL"] * n_ops, scope=["worldwide"] * n_ops),
    ])
    # every claim is as of its source's publication day
    # (as full columns: polars 2.2 aggregated a broadcast date literal into garbage dates, at random)
    claims = claims.with_columns(pl.Series("as_of", [PUBLISHED] * claims.height, pl.Date),
                                 pl.Series("as_of_precision", ["day"] * claims.height, pl.Utf8))
    # the unit and the derived value must agree: make the (unused) unit vocabularies right
    tables = {
        "sources": sources, "agencies": agencies, "operations": operations, "participations": part,
        "events": empty("events", 0), "outcomes": outcomes, "statistics": empty("statistics", 0),
        "aliases": empty("aliases", 0),
        "claims": claims, "corrections": empty("corrections", 0), "headline": empty("headline", 0),
    }
    return derive_all(tables, None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--claims", type=int, default=10000)
    a = ap.parse_args()
    t = generate(a.claims)
    oio.write_tables(t, a.out, keep_backup=False)
    print(f"{a.out}: {t['claims'].height} claims, {t['outcomes'].height} outcomes, {t['operations'].height} operations")


if __name__ == "__main__":
    main()
