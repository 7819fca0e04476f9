"""Migration 003 (2026-12-01): dates as intervals (issue 21).

Adds the interval columns to the stored tables of a data directory and re-derives every derived
column:

- sources: `published_latest` (the last day the source can have been published) and
  `published_evidence` (how the date is known). A source already dated keeps its date; its
  `published_latest` is the last day of the period it states (a day: that day; a month: the month's
  last day; a year: 31 December), carried over, not guessed. The evidence is left empty here and set
  by change sets (corrections/0400-...), which cite the curation log;
- claims, outcomes, statistics: `as_of_latest`; operations: `launched_latest`, `concluded_latest`,
  `announced_latest`; headline: `year_from` and per metric `*_as_of_latest`, `*_as_of_precision`.
  All of these are derived.

Running it on a directory that has the columns already changes nothing.

Run once: python curation/migrations/m003_date_intervals.py datasets
"""

import sys
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from opsledger.data import io as oio
from opsledger.declarations import TABLES, table
from opsledger.derive.reconcile import derive_all, period_end


def _fill(df: pl.DataFrame, name: str) -> pl.DataFrame:
    missing = [f for f in table(name).fields if f.name not in df.columns]
    return df.with_columns([pl.lit(None, dtype=pl.from_arrow(pa.array([], type=f.arrow_type)).dtype).alias(f.name)
                            for f in missing])


def main(data_dir: str) -> None:
    d = Path(data_dir)
    t = {name: pl.from_arrow(pq.read_table(oio.table_path(d, name))) for name in TABLES}
    if "published_latest" in t["sources"].columns:
        return
    for name in TABLES:
        t[name] = _fill(t[name], name)
    t["sources"] = t["sources"].with_columns(
        period_end("published", "published_precision").alias("published_latest"))
    t = {n: df.select(table(n).columns) for n, df in t.items()}
    oio.write_tables(derive_all(t), d, keep_backup=True)


if __name__ == "__main__":
    main(sys.argv[1])
