"""Migration 004 (2026-12-07): the columns of issue 22 on data that has those of issue 21.

The time model (m003) and the reader's layer (issue 22: claims.context, corrected_by, quoted_on,
quoted_from; sources.unreadable_on, number_marks; operations.series, phase; the aliases table; the
headline's display and scope columns) were built side by side. This adds every declared column a stored
table lacks, as null (a table the declarations list and the directory lacks: empty), in declared order.
It does not re-derive: the curated values of those columns come from the change sets that set them
(0450-0457), applied after this, each re-deriving. (0453 first: until a source's number marks are
declared, the BoyVids figures read two ways and cannot be derived.)

Running it on a directory that has every column changes nothing.

Run once: python curation/migrations/m004_merge_columns.py datasets
"""

import sys
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from opsledger.data import io as oio
from opsledger.declarations import TABLES, table


def _dtype(f) -> pl.DataType:
    return pl.from_arrow(pa.array([], type=f.arrow_type)).dtype


def main(data_dir: str) -> None:
    d = Path(data_dir)
    t = {}
    for name in TABLES:
        path = oio.table_path(d, name)
        decl = table(name)
        df = pl.from_arrow(pq.read_table(path)) if path.exists() else pl.DataFrame(
            {f.name: pl.Series(f.name, [], dtype=_dtype(f)) for f in decl.fields})
        missing = [f for f in decl.fields if f.name not in df.columns]
        df = df.with_columns([pl.lit(None, dtype=_dtype(f)).alias(f.name) for f in missing])
        t[name] = df.select(decl.columns)
    oio.write_tables(t, d, keep_backup=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "datasets")
