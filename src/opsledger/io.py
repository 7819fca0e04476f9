"""Reading and writing the curated tables: one Parquet file per table, written atomically."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import uuid
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from opsledger.errors import PathError, UsageError
from opsledger.metadata import TABLES, repo_root, table
from opsledger.util import write_bytes_atomic


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
        raise PathError(f"{what}: {rel!r} is not a relative path inside {root}")
    full = (root_r / p).resolve()
    if not full.is_relative_to(root_r):
        raise PathError(f"{what}: {rel!r} leads outside {root} (through a link)")
    return full


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
    """Every table of a data directory as eager polars frames, in dependency order.

    An interrupted change (a journal left by a crash) is completed first, so the tables and the
    corrections log are read either wholly before or wholly after it."""
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    if not data_dir.is_dir():
        raise UnusableInput(f"{data_dir}: no such data directory")
    if (data_dir / JOURNAL).exists():
        recover(data_dir)
    with _lock(data_dir, shared=True):
        return {name: pl.from_arrow(read_arrow(data_dir, name)) for name in TABLES}


# --------------------------------------------------------------------------- transactions
#
# A change to a data directory (every table, the corrections log inside it, the change-set file moved
# to applied/) is one transaction:
#   1. under an exclusive lock, every new file is written beside its destination as a staged file
#      (``.<name>.<txid>.staged``) and fsynced;
#   2. the journal (``.opsledger-journal.json``: the list of renames) is written atomically: this is
#      the commit point;
#   3. the renames are done, then the journal is removed.
# A crash before 2 leaves the old state (the staged files are removed at the next open); a crash after
# 2 is completed by :func:`recover` at the next open (``read_tables`` calls it). Readers take a shared
# lock, so they never see half of a transaction.

JOURNAL = ".opsledger-journal.json"
LOCKFILE = ".opsledger.lock"
STAGED = ".staged"


@contextlib.contextmanager
def _lock(data_dir: Path, shared: bool = False):
    """An advisory fcntl lock on ``<data_dir>/.opsledger.lock`` (no lock where it cannot be created,
    e.g. a read-only copy of the data, or a platform without fcntl)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    try:
        fd = os.open(data_dir / LOCKFILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        if shared:
            yield
            return
        raise UsageError(f"{data_dir}: cannot take the write lock (is the directory writable?)") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_staged(dest: Path, data: bytes, txid: str) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.{txid}{STAGED}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)
    return tmp


def _roll_forward(data_dir: Path, journal: dict) -> None:
    for src, dst in journal["renames"]:
        src, dst = Path(src), Path(dst)
        if src.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
    for d in {Path(dst).parent for _src, dst in journal["renames"]}:
        _fsync_dir(d)
    os.unlink(data_dir / JOURNAL)
    _fsync_dir(data_dir)


def _remove_staged(data_dir: Path) -> None:
    for p in data_dir.glob(f".*{STAGED}"):
        p.unlink(missing_ok=True)


def _read_journal(data_dir: Path) -> dict | None:
    path = data_dir / JOURNAL
    if not path.exists():
        return None
    try:
        journal = json.loads(path.read_bytes())
        renames = journal["renames"]
        assert all(isinstance(a, str) and isinstance(b, str) for a, b in renames)
    except Exception:
        raise UnusableInput(f"{path}: the journal of an interrupted change is damaged; "
                            "restore the data from git or .backup/") from None
    root = data_dir.resolve()
    for src, dst in renames:  # the journal only ever moves staged files within the data root's area
        if not Path(src).name.endswith(STAGED) and not Path(dst).parent.name == "applied":
            raise UnusableInput(f"{path}: the journal names an unexpected file {src!r}; not replaying it")
        if not Path(dst).resolve().is_relative_to(root.parent):
            raise UnusableInput(f"{path}: the journal names a file outside {root.parent}; not replaying it")
    return journal


def recover(data_dir: Path | str) -> bool:
    """Complete an interrupted transaction (roll forward) or remove the staged files of one that never
    committed. Returns True when something was completed."""
    data_dir = Path(data_dir)
    with _lock(data_dir):
        return _recover_locked(data_dir)


def _recover_locked(data_dir: Path) -> bool:
    journal = _read_journal(data_dir)
    done = False
    if journal is not None:
        _roll_forward(data_dir, journal)
        done = True
    _remove_staged(data_dir)
    return done


def commit(data_dir: Path | str, files: dict[Path, bytes], moves: list[tuple[Path, Path]] = (),
           before=None) -> None:
    """Write ``files`` (destination -> bytes) and do ``moves`` (source -> destination) as one
    transaction: after a crash at any point, the next open sees all of it or none of it.
    ``before`` (optional) runs under the lock before anything is written, e.g. to re-check a
    precondition."""
    data_dir = Path(data_dir)
    with _lock(data_dir):
        _recover_locked(data_dir)
        if before is not None:
            before()
        txid = uuid.uuid4().hex[:12]
        renames: list[tuple[str, str]] = []
        try:
            for dest, data in files.items():
                renames.append((str(_write_staged(Path(dest), data, txid)), str(Path(dest))))
        except BaseException:
            for src, _dst in renames:
                Path(src).unlink(missing_ok=True)
            raise
        renames += [(str(a), str(b)) for a, b in moves]
        write_bytes_atomic(data_dir / JOURNAL, json.dumps({"txid": txid, "renames": renames}).encode())
        _roll_forward(data_dir, {"renames": renames})


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
    """A Parquet table as stable text, one row a line (used as the git diff text converter)."""
    path = Path(path)
    if not path.is_file():
        raise UnusableInput(f"{path}: no such file")
    try:
        tbl = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise UnusableInput(f"{path}: not readable Parquet ({type(exc).__name__})") from None
    df = pl.from_arrow(tbl)
    lines = [f"# {Path(path).name}: {df.height} rows, columns: {', '.join(df.columns)}"]
    for row in df.iter_rows(named=True):
        key = next(iter(row.values()))
        fields = [f"{k}={v!r}" for k, v in row.items() if v is not None]
        lines.append(f"[{key}] " + " | ".join(fields[1:]))
    return "\n".join(lines) + "\n"
