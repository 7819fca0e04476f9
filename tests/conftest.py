"""Shared fixtures: a private copy of the shipped tables, and helpers to break it in one way."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from opsledger import io as oio
from opsledger.metadata import TABLES, repo_root

REPO = repo_root()
DATASETS = REPO / "datasets"
ARCHIVE = REPO.parent / "shared" / "sources"
needs_archive = pytest.mark.skipif(not ARCHIVE.is_dir(), reason="source archive ../shared/sources not present")


@pytest.fixture
def data(tmp_path) -> Path:
    """A writable copy of the shipped tables."""
    d = tmp_path / "data"
    d.mkdir()
    for name in TABLES:
        shutil.copy(DATASETS / f"{name}.parquet", d / f"{name}.parquet")
    return d


@pytest.fixture(scope="session")
def shipped() -> dict[str, pl.DataFrame]:
    return oio.read_tables(DATASETS)


def read(d: Path, table: str) -> pl.DataFrame:
    return pl.from_arrow(pq.read_table(d / f"{table}.parquet"))


def write(d: Path, table: str, df: pl.DataFrame, cast: bool = True) -> None:
    """Write one table back; ``cast=False`` keeps wrong types so type rules can be tested."""
    if cast:
        oio.write_parquet_atomic(oio.to_arrow(table, df), d / f"{table}.parquet")
    else:
        pq.write_table(df.to_arrow(), d / f"{table}.parquet")


def set_cell(d: Path, table: str, key: str, column: str, value) -> None:
    """Set one cell of the row with primary key ``key``."""
    from opsledger.metadata import table as decl

    df = read(d, table)
    k = decl(table).key
    assert key in df[k].to_list(), f"{table} has no row {key}"
    dtype = df.schema[column]
    df = df.with_columns(
        pl.when(pl.col(k) == key).then(pl.lit(value, dtype=dtype)).otherwise(pl.col(column)).alias(column)
    )
    write(d, table, df, cast=False)  # raw: a planted null in a required column must reach the file


def findings_for(report, rule: str) -> list:
    return [f for f in report.findings if f.rule == rule]


@pytest.fixture(scope="session")
def shipped_report():
    """One full validation of the shipped data, shared by every test that needs it."""
    from opsledger.validate import validate

    return validate(DATASETS, sources=ARCHIVE if ARCHIVE.is_dir() else None)


@pytest.fixture(scope="session")
def shipped_release(tmp_path_factory):
    """One release (0.1.0, dated 2026-11-30) of the shipped data in a private store, shared by the tests
    of the release's files, its site and loading."""
    from opsledger.publish import release

    store = tmp_path_factory.mktemp("store")
    release("0.1.0", store, sources=ARCHIVE if ARCHIVE.is_dir() else None, date="2026-11-30")
    return store
