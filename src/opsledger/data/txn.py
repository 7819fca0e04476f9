"""Transactions on a data directory: every table, the corrections log inside it and the change-set
file's move, as one atomic step (no heavy imports here, so a crash test can run it in a fresh process).

A change to a data directory (every table, the corrections log inside it, the change-set file moved
to applied/) is one transaction:
  1. under an exclusive lock, every new file is written beside its destination as a staged file
     (``.<name>.<txid>.staged``) and fsynced;
  2. the journal (``.opsledger-journal.json``: the list of renames) is written atomically: this is
     the commit point;
  3. the renames are done, then the journal is removed.
A crash before 2 leaves the old state (the staged files are removed at the next open); a crash after
2 is completed by :func:`recover` at the next open (``read_tables`` calls it). Readers take a shared
lock, so they never see half of a transaction.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import uuid
from pathlib import Path

from opsledger.errors import UsageError

# --------------------------------------------------------------------------- one file


def is_local(fs) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return "file" in protocol or "local" in protocol


def write_bytes_atomic(path: Path | str, data: bytes, fs=None) -> None:
    """The one atomic write of a file: to a temporary file beside ``path``, then renamed into place, so
    a reader sees the old file or the new one, never half of it. ``fs`` (an fsspec filesystem, e.g. a
    release store) writes through it; a local one is written like a plain path."""
    if fs is not None and not is_local(fs):
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        with fs.open(tmp, "wb") as fh:
            fh.write(data)
        fs.mv(tmp, str(path))
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # the file keeps its permissions; a new one gets what the umask gives (mkstemp's are 0600)
        mode = path.stat().st_mode & 0o777
    except OSError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())  # the bytes are on disk before the name points at them
        os.replace(tmp, path)
        _fsync_dir(path.parent)  # and the new name survives a power cut
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's umask, read without changing it (Linux: /proc/self/status; elsewhere 022)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def write_text_atomic(path: Path | str, text: str) -> None:
    """:func:`write_bytes_atomic` of UTF-8 text."""
    write_bytes_atomic(path, text.encode("utf-8"))


# --------------------------------------------------------------------------- a data directory

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
        raise UsageError(f"{path}: the journal of an interrupted change is damaged; "
                            "restore the data from git or .backup/") from None
    root = data_dir.resolve()
    for src, dst in renames:  # the journal only ever moves staged files within the data root's area
        if not Path(src).name.endswith(STAGED) and not Path(dst).parent.name == "applied":
            raise UsageError(f"{path}: the journal names an unexpected file {src!r}; not replaying it")
        if not Path(dst).resolve().is_relative_to(root.parent):
            raise UsageError(f"{path}: the journal names a file outside {root.parent}; not replaying it")
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


