"""Migration 002 (2026-11-30): sources gain `based_on` (what a page says it repeats: a wire agency or
an official release; null when it reports on its own).

Adds the column, empty, to the stored sources table of a data directory; nothing is guessed. The
change sets that add sources from research bundles fill it from the bundle's `origin`. Running it on
a directory that has the column already changes nothing.

Run once: python curation/migrations/m002_based_on.py datasets
"""

import sys
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from opsledger.data import io as oio
from opsledger.declarations import table


def main(data_dir: str) -> None:
    path = oio.table_path(Path(data_dir), "sources")
    df = pl.from_arrow(pq.read_table(path))
    if "based_on" in df.columns:
        return
    df = df.with_columns(pl.lit(None, dtype=pl.Utf8).alias("based_on")).select(table("sources").columns)
    oio.write_parquet_atomic(oio.to_arrow("sources", df), path)


if __name__ == "__main__":
    main(sys.argv[1])
