"""Migration 001 (2026-11-30): the figure model (scope, as-of, part-of) and the headline table.

Adds the new columns to the stored tables of a data directory and re-derives every derived column.
Curated values are only carried over, never guessed: an outcome's scope is `country` where it
already named one country and `worldwide` otherwise; a claim takes its target outcome's scope; its
as_of defaults to its source's publication date. Every scope is then re-read against the sources
by change sets (curation/review/).

Run once: python curation/migrations/m001_figure_model.py datasets
"""

import sys
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from opsledger.data import io as oio
from opsledger.declarations import TABLES, table
from opsledger.derive.reconcile import derive_all


def _fill(df: pl.DataFrame, name: str) -> pl.DataFrame:
    decl = table(name)
    missing = [f for f in decl.fields if f.name not in df.columns]
    return df.with_columns([pl.lit(None, dtype=f.arrow_type and pl.from_arrow(
        __import__("pyarrow").array([], type=f.arrow_type)).dtype).alias(f.name) for f in missing])


def main(data_dir: str) -> None:
    d = Path(data_dir)
    t = {}
    for name in TABLES:
        path = oio.table_path(d, name)
        t[name] = pl.from_arrow(pq.read_table(path)) if path.exists() else pl.DataFrame()
    t["headline"] = pl.DataFrame()
    for name in TABLES:
        t[name] = _fill(t[name], name)
    o = t["outcomes"].with_columns(
        pl.when(pl.col("country").is_not_null()).then(pl.lit("country")).otherwise(pl.lit("worldwide"))
        .alias("scope"))
    t["outcomes"] = o
    tgt = o.select(pl.col("outcome_id").alias("target_id"), pl.col("scope").alias("_s"),
                   pl.col("country").alias("_c"))
    c = t["claims"].join(tgt, on="target_id", how="left").with_columns(
        pl.when(pl.col("target_table") == "outcomes").then(pl.col("_s")).otherwise(pl.lit("worldwide"))
        .fill_null("worldwide").alias("scope"),
        pl.when(pl.col("target_table") == "outcomes").then(pl.col("_c")).otherwise(None).alias("country"),
    ).drop("_s", "_c")
    t["claims"] = c
    t = {n: df.select(table(n).columns) for n, df in t.items()}
    derived = derive_all(t)
    oio.write_tables(derived, d, keep_backup=True)


if __name__ == "__main__":
    main(sys.argv[1])
