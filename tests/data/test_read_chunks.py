"""What keeps a large validation within its memory (README, Speed): tested on effects a change could undo."""

from __future__ import annotations

import polars as pl

from opsledger.data import io as oio


def test_a_table_is_read_in_one_piece(tmp_path, shipped):
    """A table of one row group reads as one chunk per column: polars copies a column of several
    chunks whole whenever it joins or stacks it (a million claims in 128Ki-row batches were copied at
    every join of the re-derivation, half a gigabyte each time)."""
    agencies = shipped["agencies"]
    big = pl.concat([agencies] * (300_000 // agencies.height + 1)).with_columns(
        pl.format("a{}", pl.int_range(pl.len())).alias("agency_id"))
    oio.write_parquet_atomic(oio.to_arrow("agencies", big), oio.table_path(tmp_path, "agencies"))
    tbl = oio.read_arrow(tmp_path, "agencies")
    assert tbl.num_rows == big.height > 2 * 131_072
    df = pl.from_arrow(tbl)
    assert set(df.n_chunks("all")) == {1}
    assert df.equals(big.sort("agency_id"))
