"""Reading and writing the curated tables: one Parquet file per table, written atomically."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from opsledger import fmt
from opsledger.metadata import TABLES, repo_root, table
from opsledger.util import write_bytes_atomic


class UnusableInput(Exception):
    """Input that cannot be validated at all (missing file, unreadable Parquet, wrong column set)."""


def default_data_dir() -> Path:
    return repo_root() / "datasets"


def table_path(data_dir: Path, name: str) -> Path:
    return Path(data_dir) / f"{name}.parquet"


def read_arrow(data_dir: Path, name: str) -> pa.Table:
    path = table_path(data_dir, name)
    if not path.is_file():
        raise UnusableInput(f"{path}: table {name!r} is missing")
    try:
        tbl = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise UnusableInput(f"{path}: table {name!r} is not readable Parquet ({exc})") from None
    expected = table(name).columns
    if tbl.column_names != expected:
        missing = [c for c in expected if c not in tbl.column_names]
        extra = [c for c in tbl.column_names if c not in expected]
        detail = "; ".join(
            part
            for part in (
                f"missing columns {missing}" if missing else "",
                f"unexpected columns {extra}" if extra else "",
                "columns out of order" if not missing and not extra else "",
            )
            if part
        )
        raise UnusableInput(f"{path}: table {name!r} has the wrong column set: {detail}")
    return tbl


def read_tables(data_dir: Path | str | None = None) -> dict[str, pl.DataFrame]:
    """Every table of a data directory as eager polars frames, in dependency order."""
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    if not data_dir.is_dir():
        raise UnusableInput(f"{data_dir}: no such data directory")
    return {name: pl.from_arrow(read_arrow(data_dir, name)) for name in TABLES}


def to_arrow(name: str, df: pl.DataFrame) -> pa.Table:
    """A frame as an Arrow table with the declared schema, rows sorted by primary key."""
    t = table(name)
    df = df.select(t.columns).sort(list(t.primary_key), nulls_last=True)
    return df.to_arrow().cast(t.arrow_schema())


def parquet_bytes(tbl: pa.Table) -> bytes:
    """Parquet bytes written deterministically: zstd, no dictionary, same input -> same bytes."""
    sink = pa.BufferOutputStream()
    pq.write_table(tbl, sink, compression="zstd", compression_level=9, use_dictionary=False,
                   write_statistics=True, store_schema=True)
    return sink.getvalue().to_pybytes()


def write_parquet_atomic(tbl: pa.Table, path: Path) -> None:
    """Write to a temporary file beside ``path``, then rename."""
    write_bytes_atomic(path, parquet_bytes(tbl))


def backup(data_dir: Path) -> Path | None:
    """Copy the current tables to ``<data_dir>/.backup/<timestamp>/`` before they are replaced."""
    existing = [table_path(data_dir, n) for n in TABLES if table_path(data_dir, n).exists()]
    if not existing:
        return None
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    dest = Path(data_dir) / ".backup" / stamp
    dest.mkdir(parents=True)
    for p in existing:
        shutil.copy2(p, dest / p.name)
    return dest


def write_tables(tables: dict[str, pl.DataFrame], data_dir: Path, keep_backup: bool = True) -> None:
    """Write every table atomically; the previous files are kept in ``.backup/`` first."""
    data_dir = Path(data_dir)
    arrow = {name: to_arrow(name, df) for name, df in tables.items()}  # fail before writing anything
    if keep_backup:
        backup(data_dir)
    for name, tbl in arrow.items():
        write_parquet_atomic(tbl, table_path(data_dir, name))


def show(path: Path | str) -> str:
    """A Parquet table as stable text, one row a line (used as the git diff text converter)."""
    tbl = pq.read_table(path)
    df = pl.from_arrow(tbl)
    lines = [f"# {Path(path).name}: {df.height} rows, columns: {', '.join(df.columns)}"]
    for row in df.iter_rows(named=True):
        key = next(iter(row.values()))
        fields = [f"{k}={fmt.plain(v)}" for k, v in row.items() if v is not None]
        lines.append(f"[{key}] " + " | ".join(fields[1:]))
    return "\n".join(lines) + "\n"
