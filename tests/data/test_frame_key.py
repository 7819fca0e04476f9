"""frame_key: equal for equal frames, different when a cell, the row order or a type differs."""

from __future__ import annotations

import polars as pl

from opsledger.data.io import frame_key


def test_a_frame_key_tells_frames_apart_by_cell_order_and_type():
    df = pl.DataFrame({"k": ["a", "b"], "v": [1, 2]})
    assert frame_key(df) == frame_key(df.clone()) and frame_key(df.clear()) == frame_key(df.clear())
    others = [df.with_columns(pl.lit(3).alias("v")), df.reverse(), df.with_columns(pl.col("v").cast(pl.Float64)),
              df.rename({"v": "w"}), df.head(1)]
    keys = {frame_key(df), *map(frame_key, others)}
    assert len(keys) == 1 + len(others)
