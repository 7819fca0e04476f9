"""Reading and writing the curated tables: one Parquet file per table, written atomically."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from opsledger.errors import PathError, UsageError
from opsledger.declarations import TABLES, repo_root, table
from opsledger.data.paths import flag_arg, DEFAULT_ARCHIVE  # noqa: F401 (re-exported: its home is light to import)
from opsledger.data.txn import (  # noqa: F401 (re-exported)
    JOURNAL, LOCKFILE, STAGED, STAGING, JournalRefused, LockUnavailable, _lock, commit, locked, needs_recovery,
    recover, write_bytes_atomic, write_text_atomic,
)


class UnusableInput(UsageError):
    """Input that cannot be validated at all (missing file, unreadable Parquet, wrong column set)."""


# --------------------------------------------------------------------------- paths from data


def confined(root: Path | str, rel: str, what: str) -> Path:
    """``root / rel`` resolved (symlinks followed), refused with :class:`PathError` unless it stays
    inside ``root``. ``rel`` comes from data or a change set, so it must be a relative path without
    ``..`` segments, NUL bytes or a drive."""
    root_r = Path(root).resolve()
    if not isinstance(rel, str) or not rel or "\x00" in rel:
        raise PathError(f"{what}: {rel!r} is not a file name")
    p = Path(rel)
    if p.is_absolute() or p.drive or ".." in p.parts or "\\" in rel:
        raise PathError(f"{what}: {rel!r} leads outside {root} (only relative paths without '..' are allowed)")
    full = (root_r / p).resolve()
    if not full.is_relative_to(root_r):
        raise PathError(f"{what}: {rel!r} leads outside {root} (through a link)")
    return full


def inside(root: Path | str, rel: str) -> Path | None:
    """:func:`confined` for readers that skip what they may not read: the path, or None where
    :func:`confined` refuses it (or it is ``root`` itself). One confinement policy, two ways to meet it."""
    try:
        full = confined(root, rel, "path")
    except (PathError, OSError, RuntimeError, ValueError):
        return None
    return None if full == Path(root).resolve() else full


#: Largest archived source text read (a press release or article is a few hundred KiB at most).
MAX_ARCHIVE_BYTES = 16 << 20


def read_text_file(path: Path, what: str, limit: int = MAX_ARCHIVE_BYTES) -> tuple[str, bytes] | None:
    """A UTF-8 text file as (text, bytes); None if it does not exist; :class:`PathError` when it is
    not a regular file, too large, binary or not UTF-8."""
    if not path.exists():
        return None
    if not path.is_file():
        raise PathError(f"{what}: {path} is not a regular file")
    if path.stat().st_size > limit:
        raise PathError(f"{what}: {path} is larger than {limit} bytes")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PathError(f"{what}: {path} is not UTF-8 text (undecodable byte at {exc.start})") from None
    if "\x00" in text:
        raise PathError(f"{what}: {path} is binary (holds NUL bytes), not text")
    return text, data


def default_data_dir() -> Path:
    return repo_root() / "datasets"


def default_archive() -> Path | None:
    """``../shared/sources`` beside the repository, when it is a directory."""
    p = repo_root().parent / "shared" / "sources"
    return p if p.is_dir() else None


def path_arg(value, what: str) -> Path | None:
    """A path argument shared by the library and the command line: None, or a non-empty str/PathLike."""
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)) and str(value).strip():
        return Path(value)
    raise UsageError(f"{what} must be a path (str or os.PathLike) or None, not {value!r}")


def source_archive(sources, what: str = "sources") -> Path | None:
    """The source archive an argument names: :data:`DEFAULT_ARCHIVE` gives :func:`default_archive`,
    None no archive; a path given must be an existing directory (:class:`UsageError` otherwise)."""
    if sources is DEFAULT_ARCHIVE:
        return default_archive()
    path = path_arg(sources, what)
    if path is not None and not path.is_dir():
        raise UsageError(f"{path}: no such source archive directory")
    return path


def table_path(data_dir: Path, name: str) -> Path:
    return Path(data_dir) / f"{name}.parquet"


def read_arrow(data_dir: Path, name: str) -> pa.Table:
    path = table_path(data_dir, name)
    if not path.is_file():
        raise UnusableInput(f"{path}: table {name!r} is missing")
    try:
        # one chunk per row group (pq.read_table cuts a table into batches of 128Ki rows, and polars
        # then copies every column of a million claims whole, to join them, at each derivation)
        with pq.ParquetFile(path) as f:
            tbl = f.read()
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
    """Every table of a data directory as eager polars frames, in dependency order.

    An interrupted change (a journal left by a crash) is completed first, so the tables and the
    corrections log are read either wholly before or wholly after it; a journal this library did not
    write is refused (:class:`UnusableInput`, nothing moved; see :mod:`opsledger.data.txn`)."""
    return read_tables_state(data_dir)[0]


def read_tables_state(data_dir: Path | str | None = None) -> tuple[dict[str, pl.DataFrame], dict[str, str]]:
    """:func:`read_tables`, and the SHA-256 of each table file read (see :func:`tables_state`), both
    under one lock: a writer can compare the state with what is on disk when it writes."""
    data_dir = path_arg(data_dir, "data_dir") or default_data_dir()
    if not data_dir.is_dir():
        raise UnusableInput(f"{data_dir}: no such data directory")
    if needs_recovery(data_dir):
        try:
            recover(data_dir)
        except JournalRefused as exc:
            raise UnusableInput(str(exc)) from None
        except LockUnavailable:
            if (data_dir / JOURNAL).exists():  # read-only copy of an interrupted change: refuse
                raise UnusableInput(f"{data_dir}: a change was interrupted here and cannot be completed "
                                    "(the directory is not writable)") from None
    with _lock(data_dir, shared=True):
        return {name: pl.from_arrow(read_arrow(data_dir, name)) for name in TABLES}, tables_state(data_dir)


def tables_state(data_dir: Path | str) -> dict[str, str]:
    """The SHA-256 of every table file of a data directory (a missing file: ""). Every write replaces
    a file whole, so equal states mean equal tables."""
    import hashlib

    out = {}
    for name in TABLES:
        try:
            out[name] = hashlib.sha256(table_path(Path(data_dir), name).read_bytes()).hexdigest()
        except FileNotFoundError:
            out[name] = ""
    return out


def frame_key(df: pl.DataFrame) -> tuple:
    """Equal for equal frames: the columns with their types and every row, in order (a digest of
    polars' row hashes, for comparing frames within one process)."""
    import hashlib

    rows = df.hash_rows(seed=0).to_numpy().tobytes() if df.height else b""
    return tuple((c, str(t)) for c, t in df.schema.items()), df.height, hashlib.blake2b(rows).digest()


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


def table_files(tables: dict[str, pl.DataFrame], data_dir: Path) -> dict[Path, bytes]:
    """The Parquet bytes of every table, by destination path (fails before anything is written)."""
    return {table_path(Path(data_dir), name): parquet_bytes(to_arrow(name, df)) for name, df in tables.items()}


def write_tables(tables: dict[str, pl.DataFrame], data_dir: Path, keep_backup: bool = True,
                 moves: list[tuple[Path, Path]] = (), extra: dict[Path, bytes] | None = None,
                 before=None) -> None:
    """Write every table (and ``extra`` files, and ``moves``) as one transaction (see :func:`commit`);
    the previous files are kept in ``.backup/`` first."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    files = table_files(tables, data_dir)
    files.update(extra or {})
    if keep_backup:
        backup(data_dir)
    commit(data_dir, files, moves, before=before)


def show(path: Path | str) -> str:
    """A Parquet table as stable text, one row a line (used as the git diff text converter): a newline
    or control character in a value is shown escaped (``\\n``, ``\\uXXXX``), never as a line of its own."""
    from opsledger.escape import show_cell

    path = Path(path)
    if not path.is_file():
        raise UnusableInput(f"{path}: no such file")
    try:
        tbl = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise UnusableInput(f"{path}: not readable Parquet ({type(exc).__name__})") from None
    df = pl.from_arrow(tbl)
    lines = [f"# {show_cell(Path(path).name)}: {df.height} rows, columns: "
             f"{', '.join(show_cell(c) for c in df.columns)}"]
    for row in df.iter_rows(named=True):  # every value on its row's one line (show_cell)
        key = next(iter(row.values()))
        fields = [f"{show_cell(k)}={show_cell(v)}" for k, v in row.items() if v is not None]
        lines.append(f"[{show_cell(key)}] " + " | ".join(fields[1:]))
    return "\n".join(lines) + "\n"
