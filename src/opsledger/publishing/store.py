"""The release store: versioned, immutable, verifiable snapshots, and loading them back.

A store is a local directory (default ``releases/`` in the repository, ignored by git) or any fsspec
URL (``file://``, ``s3://`` ...). ``STORE/VERSION/`` holds the tables (``tables/*.parquet``, zstd,
deterministic), ``datapackage.json`` (Frictionless), ``SHA256SUMS``, ``schema.json`` and the files
for people built by :mod:`opsledger.publishing.outputs.bundle`. ``STORE/index.json`` lists the
versions and is written last. This module holds the store's I/O, its lock, recovery after an
interrupted release, checksum verification and :func:`load`; what a release contains and when it is
allowed is :mod:`opsledger.publishing.publish`.

Reading a release is light: :func:`load`, :func:`versions` and :func:`read_index` need pyarrow and the
standard library only (``pip install opsledger``). A local store is read with :class:`LocalStore`
(pathlib), an HTTP(S) one with :class:`~opsledger.publishing.httpstore.HTTPStore` (urllib), and
checksums are verified with hashlib; fsspec is imported only for another URL (``s3://``, ``memory://``
...) and for writing a release, polars and pandas only when a frame of theirs is asked for. Table names
come from the release itself (its ``SHA256SUMS``), not from the declarations (which need pydantic).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from opsledger.errors import DataError, MissingExtra, UsageError, import_extra
from opsledger.data.paths import flag_arg, repo_root
from opsledger.data.txn import is_local, write_bytes_atomic


#: A version: MAJOR.MINOR.PATCH in ASCII digits, matched in full (``\Z``: no trailing newline, even
#: with ``.match``); ``\d`` would also take other scripts' digits ("1٠.0.0").
SEMVER = re.compile(r"(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})\Z", re.ASCII)


class ReleaseError(DataError):
    """A release that is refused (exit 1); nothing was written."""


class ReleaseUsageError(ReleaseError, UsageError):
    """A bad version string or a version the store does not hold (exit 2)."""

    exit_code = 2


class ChecksumError(DataError):
    """A released file whose bytes do not match its recorded SHA-256."""


class StoreError(DataError):
    """A damaged store: unreadable or malformed ``index.json`` or ``SHA256SUMS``."""


@dataclass
class ReleaseResult:
    version: str
    path: str
    bump: str
    files: dict[str, str]
    notes: list[str] = field(default_factory=list)  # e.g. an interrupted release recovered


# --------------------------------------------------------------------------- store


def default_store() -> str:
    return str(repo_root() / "releases")


def store_arg(store) -> str:
    """The one check of a store argument: None (the default store, ``releases/``) or a non-empty str
    or os.PathLike naming a directory or an fsspec URL; :class:`UsageError` for anything else (an empty
    or wrong-typed argument never falls back to the default store)."""
    if store is None:
        return default_store()
    if isinstance(store, os.PathLike):
        store = os.fspath(store)
    if not isinstance(store, str) or not store.strip():
        raise UsageError(f"store must be a directory or an fsspec URL (a non-empty str or os.PathLike) or None, "
                         f"not {store!r}")
    return store


class LocalStore:
    """A local store read with pathlib: the few file-system calls reading a release makes (``exists``,
    ``size``, ``open`` for reading, ``ls``, ``isdir``), so that loading needs no fsspec."""

    protocol = ("file", "local")

    def exists(self, path: str) -> bool:
        return Path(path).exists()

    def size(self, path: str) -> int:
        return Path(path).stat().st_size

    def isdir(self, path: str) -> bool:
        return Path(path).is_dir()

    def ls(self, path: str, detail: bool = False) -> list[str]:
        return sorted(str(p) for p in Path(path).iterdir())

    def open(self, path: str, mode: str = "rb"):
        if mode != "rb":
            raise PermissionError(f"{path}: opened for reading only")
        return open(path, "rb")


def _reader(store: str | Path | None):
    """The store's file system and root for reading: a directory or ``file://`` URL through
    :class:`LocalStore`, an HTTP(S) address through :class:`HTTPStore` (both standard library), any
    other URL through fsspec (the ``remote`` extra)."""
    s = store_arg(store)
    if "://" not in s or s.startswith("file://"):
        return LocalStore(), (s.removeprefix("file://").rstrip("/") or "/")
    return _fs(s)


def _fs(store: str | Path | None):
    """The filesystem and root of a store, for writing a release (fsspec) or reading an HTTP(S) one;
    :class:`MissingExtra` when fsspec or the URL's backend is not installed (``s3://`` without s3fs),
    :class:`UsageError` for an unknown protocol or an unusable URL."""
    store = store_arg(store)
    if store.startswith(("http://", "https://")):  # read-only, standard library only
        from opsledger.publishing.httpstore import HTTPStore

        return HTTPStore(), store.rstrip("/")
    fsspec = import_extra("fsspec", "remote", f"the store {store}")
    try:
        fs, root = fsspec.core.url_to_fs(store)
    except ImportError as exc:
        raise MissingExtra(f"store {store}: its fsspec backend is not installed ({exc})") from None
    except (ValueError, TypeError, OSError) as exc:
        raise UsageError(f"store {store}: not a usable directory or fsspec URL ({exc})") from None
    return fs, root.rstrip("/")


def in_memory(fs) -> bool:
    """Whether a store's filesystem lives only in this process: ``memory://``, or a chain through it
    (``simplecache::memory://``, ``dir::memory://`` ...)."""
    from fsspec.implementations.memory import MemoryFileSystem

    seen = 0
    while fs is not None and seen < 16:
        if isinstance(fs, MemoryFileSystem):
            return True
        fs, seen = getattr(fs, "fs", None), seen + 1
    return False


def lasting_store(store) -> str:
    """A store that outlives the process writing it (what a command's ``--to`` must name): refused
    with :class:`UsageError` when it is in memory, checked like every store argument otherwise."""
    fs, _root = _fs(store)
    if in_memory(fs):
        raise UsageError(f"{store}: an in-memory store vanishes when this command ends; "
                         "give a directory or a persistent fsspec URL")
    return store_arg(store)


def release_date(date) -> str:
    """A release date argument as ``YYYY-MM-DD``: None is today; a :class:`datetime.date` or a string
    of a real calendar day in ASCII digits; :class:`ReleaseUsageError` otherwise."""
    if date is None:
        return dt.date.today().isoformat()
    if isinstance(date, dt.date) and not isinstance(date, dt.datetime):
        return date.isoformat()
    if not isinstance(date, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", date, re.ASCII):
        raise ReleaseUsageError(f"date {date!r}: give the release date as YYYY-MM-DD, e.g. 2026-11-30")
    try:
        dt.date.fromisoformat(date)
    except ValueError as exc:
        raise ReleaseUsageError(f"date {date!r} is not a calendar day ({exc})") from None
    return date


def parse_version(v: str) -> tuple[int, int, int]:
    m = SEMVER.fullmatch(v) if isinstance(v, str) else None
    if not m:
        raise ReleaseUsageError(f"{v!r} is not a version: use MAJOR.MINOR.PATCH, e.g. 0.1.0")
    return int(m[1]), int(m[2]), int(m[3])


#: Largest index.json / SHA256SUMS read.
MAX_INDEX_BYTES = 4 << 20


def _read_small(fs, path: str, what: str) -> bytes:
    """A small file (index.json, SHA256SUMS): at most ``MAX_INDEX_BYTES``, counted as read (a size the
    store announces is only an early refusal)."""
    try:
        size = fs.size(path)
        if size is not None and size > MAX_INDEX_BYTES:
            raise StoreError(f"{path}: {what} is larger than {MAX_INDEX_BYTES} bytes")
        with fs.open(path, "rb") as fh:
            data = fh.read(MAX_INDEX_BYTES + 1)
    except FileNotFoundError:
        raise StoreError(f"{path}: {what} is missing") from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    if len(data) > MAX_INDEX_BYTES:
        raise StoreError(f"{path}: {what} is larger than {MAX_INDEX_BYTES} bytes")
    return data


def _json(data: bytes, path: str, what: str):
    """Parsed JSON; :class:`StoreError` (one line) for text that is not JSON or nests too deeply."""
    try:
        return json.loads(data)
    except RecursionError:
        raise StoreError(f"{path}: {what} nests too deeply to be read; the store is damaged") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{path}: not valid JSON ({type(exc).__name__} at {getattr(exc, 'pos', '?')}); "
                         f"the {what} is damaged") from None


def _parse_index(data: bytes, path: str) -> dict:
    idx = _json(data, path, "store index")
    ok = isinstance(idx, dict) and isinstance(idx.get("versions"), list) and all(
        isinstance(v, dict) and isinstance(v.get("version"), str) and SEMVER.fullmatch(v["version"])
        and isinstance(v.get("manifest_sha256"), str) for v in idx["versions"])
    latest = idx.get("latest") if isinstance(idx, dict) else None
    if not ok or (latest is not None and latest not in {v["version"] for v in idx["versions"]}):
        raise StoreError(f"{path}: not a store index (versions with version and manifest_sha256, "
                         "and latest among them); the store index is damaged")
    return idx


def read_index(store=None) -> dict:
    """The store's ``index.json``; :class:`StoreError` (one line) when it is damaged."""
    fs, root = _reader(store)
    path = f"{root}/index.json"
    try:
        if not fs.exists(path):
            return {"versions": [], "latest": None}
    except OSError as exc:
        raise StoreError(f"{path}: cannot read index.json ({exc.strerror or exc})") from None
    return _parse_index(_read_small(fs, path, "index.json"), path)


def versions(store=None, unlisted: bool = False) -> list[dict]:
    """What a store holds: one entry per version (version, date, manifest_sha256, latest). With
    ``unlisted``, also each version folder the index does not list yet (``{"version", "unlisted"}``,
    the latter saying whether it is complete; see :func:`unlisted_versions`)."""
    flag_arg(unlisted, "unlisted")
    idx = read_index(store)
    out = [{**v, "latest": v["version"] == idx["latest"]} for v in idx["versions"]]
    if unlisted:
        out += [{"version": v, "unlisted": why} for v, why in unlisted_versions(store).items()]
    return out


# --------------------------------------------------------------------------- store lock and recovery

_MEMORY_LOCKS: dict[str, threading.Lock] = {}
_MEMORY_LOCKS_GUARD = threading.Lock()


@contextlib.contextmanager
def store_lock(fs, root: str):
    """Serialise writers of one store: an fcntl lock on ``STORE/.lock`` for a local store, a process
    lock for an in-memory one. Remote stores (s3:// ...) have no lock: release to them from one place
    at a time."""
    if is_local(fs):
        import fcntl
        import os

        fs.makedirs(root, exist_ok=True)
        fd = os.open(f"{root}/.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
        return
    with _MEMORY_LOCKS_GUARD:
        lock = _MEMORY_LOCKS.setdefault(f"{fs.protocol}:{root}", threading.Lock())
    with lock:
        yield


def _check_version_dir(fs, root: str, v: str) -> str | None:
    """None when ``STORE/v`` is a complete release (every file SHA256SUMS lists is present and
    matches, and datapackage.json names the version); else why not."""
    base = f"{root}/{v}"
    try:
        files = _verified_files(fs, base, None, keep=())
    except (StoreError, ChecksumError) as exc:
        return str(exc)
    try:
        pkg = _json(files["datapackage.json"], f"{base}/datapackage.json", "datapackage.json")
    except (KeyError, StoreError):
        return f"{base}/datapackage.json is missing or not JSON"
    if not isinstance(pkg, dict) or pkg.get("version") != v:
        return f"{base}/datapackage.json is for version {pkg.get('version') if isinstance(pkg, dict) else '?'}"
    return None


def unlisted_versions(store=None) -> dict[str, str]:
    """Version folders the index does not list, each with its state: complete ones are left by a release
    interrupted after its folder was moved into place (the next release lists them)."""
    fs, root = _reader(store)
    if not fs.exists(root):
        return {}
    listed = {v["version"] for v in read_index(store)["versions"]}
    out = {}
    for p in fs.ls(root, detail=False):
        name = str(p).rstrip("/").rsplit("/", 1)[-1]
        if SEMVER.fullmatch(name) and name not in listed and fs.isdir(f"{root}/{name}"):
            why = _check_version_dir(fs, root, name)
            out[name] = "complete (an interrupted release; the next release lists it)" if why is None \
                else f"incomplete or damaged: {why}"
    return out


def _recover_store(fs, root: str, idx: dict) -> tuple[dict, list[str]]:
    """Under the store lock: list every complete version the index misses (a release interrupted
    between moving its folder into place and writing the index), and remove the temporary folders of
    interrupted releases. Returns the index and notes."""
    notes = []
    if not fs.exists(root):
        return idx, notes
    listed = {v["version"] for v in idx["versions"]}
    added = []
    for p in fs.ls(root, detail=False):
        name = str(p).rstrip("/").rsplit("/", 1)[-1]
        if name.startswith(".tmp-"):
            fs.rm(f"{root}/{name}", recursive=True)
            continue
        if not SEMVER.fullmatch(name) or name in listed or not fs.isdir(f"{root}/{name}"):
            continue
        why = _check_version_dir(fs, root, name)
        if why is not None:
            notes.append(f"version folder {name} is not listed and is not a complete release ({why}); "
                         "left as is")
            continue
        files = _verified_files(fs, f"{root}/{name}", None, keep=())
        pkg = _json(files["datapackage.json"], f"{root}/{name}/datapackage.json", "datapackage.json")
        created = str(pkg.get("created", "") if isinstance(pkg, dict) else "")[:10]
        added.append({"version": name, "date": created,
                      "manifest_sha256": _sha(files["datapackage.json"]),
                      "sha256sums_sha256": _sha(files["SHA256SUMS"])})
        notes.append(f"version {name} was complete but not listed (an interrupted release); listed it now")
    if added:
        versions_ = sorted(idx["versions"] + added, key=lambda v: parse_version(v["version"]))
        idx = {"versions": versions_, "latest": versions_[-1]["version"]}
        write_bytes_atomic(f"{root}/index.json", (json.dumps(idx, indent=2) + "\n").encode(), fs)
    return idx, notes


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()



def _has_table(version, store, name) -> bool:
    fs, root = _reader(store)
    return fs.exists(f"{root}/{version}/tables/{name}.parquet")

def _resolve_version(version: str, store, idx: dict | None = None) -> str:
    idx = read_index(store) if idx is None else idx
    if version == "latest":
        if not idx["latest"]:
            raise ReleaseUsageError(f"store {store or default_store()} holds no release")
        return idx["latest"]
    parse_version(version)
    if version not in {v["version"] for v in idx["versions"]}:
        raise ReleaseUsageError(f"version {version} is not in store {store or default_store()}")
    return version


REQUIRED_FILES = ("datapackage.json", "schema.json")


def _parquet(data: bytes) -> pa.Table:
    """Verified Parquet bytes as an Arrow table.

    A script that only loaded a table ended in about one run in seven with "terminate called without
    an active exception" (SIGABRT, exit 134) at interpreter exit, when the table had been decoded by
    ``pq.read_table`` from a buffer over Python ``bytes`` with pyarrow's thread pool (pyarrow 26,
    polars imported). Reading from an Arrow-owned copy of the bytes, single-threaded (the tables are
    small), ended cleanly in every run measured (0 of 100; see tests/publishing/test_store_integrity.py).
    """
    sink = pa.BufferOutputStream()
    sink.write(data)
    return pq.ParquetFile(pa.BufferReader(sink.getvalue())).read(use_threads=False)


def _entry(idx: dict, v: str) -> dict | None:
    return next((e for e in idx["versions"] if e["version"] == v), None)


def _sums(data: bytes, path: str) -> dict[str, str]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise StoreError(f"{path}: not a SHA256SUMS file (not UTF-8 text)") from None
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        digest, sep, name = line.partition("  ")
        parts = name.split("/")
        if not sep or not re.fullmatch(r"[0-9a-f]{64}", digest) or not name or name.startswith("/") \
                or any(p in ("", ".", "..") for p in parts) or "\\" in name:
            raise StoreError(f"{path}:{n}: not a SHA256SUMS line (digest, two spaces, a relative file name)")
        out[name] = digest
    return out


#: Bytes read at a time when a released file is checked.
CHUNK = 1 << 20


def _hashed(fs, path: str, keep: bool) -> tuple[str, bytes | None]:
    """(SHA-256, bytes when ``keep``) of one file, read in pieces: a file that is only checked is
    never held in memory; one that is kept is spooled to disk while it is hashed, then read back from
    that copy, so what is returned is exactly what was hashed."""
    h = hashlib.sha256()
    with contextlib.ExitStack() as stack:
        fh = stack.enter_context(fs.open(path, "rb"))
        spool = stack.enter_context(tempfile.TemporaryFile()) if keep else None
        while chunk := fh.read(CHUNK):
            h.update(chunk)
            if spool is not None:
                spool.write(chunk)
        if spool is None:
            return h.hexdigest(), None
        spool.seek(0)
        return h.hexdigest(), spool.read()


def _verified_files(fs, base: str, entry: dict | None, keep=None) -> dict[str, bytes]:
    """Every file a release lists in ``SHA256SUMS``, checked: SHA256SUMS itself and datapackage.json
    against the index entry (when given), every listed file against SHA256SUMS. Returns the bytes of
    ``SHA256SUMS``, ``datapackage.json``, ``schema.json`` and of the files named in ``keep`` (default:
    every table); the other files are hashed as they stream and dropped.
    Raises :class:`ChecksumError` / :class:`StoreError` with one line naming the file."""
    sums_path = f"{base}/SHA256SUMS"
    sums_bytes = _read_small(fs, sums_path, "SHA256SUMS")
    if entry is not None and entry.get("sha256sums_sha256") and _sha(sums_bytes) != entry["sha256sums_sha256"]:
        raise ChecksumError(f"{sums_path} does not match the checksum in the store's index.json")
    sums = _sums(sums_bytes, sums_path)
    missing = [f for f in REQUIRED_FILES if f not in sums]
    if missing:
        raise ChecksumError(f"{sums_path} does not list {', '.join(missing)}")
    files = {}
    for name, want in sums.items():
        wanted = name in REQUIRED_FILES or (name in keep if keep is not None else
                                            name.startswith("tables/") and name.endswith(".parquet"))
        try:
            got, data = _hashed(fs, f"{base}/{name}", wanted)
        except FileNotFoundError:
            raise ChecksumError(f"{base}/{name}: listed in SHA256SUMS but missing") from None
        except OSError as exc:
            raise StoreError(f"{base}/{name}: cannot read it ({exc.strerror or exc})") from None
        if got != want:
            raise ChecksumError(f"{base}/{name}: SHA-256 {got} does not match SHA256SUMS ({want}); "
                                "the file is damaged or was altered")
        if data is not None:
            files[name] = data
    files["SHA256SUMS"] = sums_bytes
    if entry is not None and _sha(files["datapackage.json"]) != entry["manifest_sha256"]:
        raise ChecksumError(f"{base}/datapackage.json does not match manifest_sha256 in the store's index.json")
    return files


def read_release_tables(version: str, store=None, verify: bool = True) -> dict:
    """Every table of a release as polars frames, after verifying every file it lists once (see
    :func:`load`)."""
    import polars as pl

    from opsledger.declarations import TABLES

    fs, root = _reader(store)
    idx = read_index(store)
    v = _resolve_version(version, store, idx)
    base = f"{root}/{v}"
    if verify:
        files = _verified_files(fs, base, _entry(idx, v))
        return {name: pl.from_arrow(_parquet(files[f"tables/{name}.parquet"]))
                for name in TABLES if f"tables/{name}.parquet" in files}
    return {name: load(name, v, store, as_="polars", verify=False) for name in TABLES
            if _has_table(v, store, name)}


#: What a table name looks like (a table's file is ``tables/<name>.parquet``).
TABLE_NAME = re.compile(r"[a-z][a-z0-9_]*")


def _release_tables(sums: dict[str, str]) -> list[str]:
    """The tables a release lists in its SHA256SUMS, in file-name order."""
    return sorted(n.removeprefix("tables/").removesuffix(".parquet") for n in sums
                  if n.startswith("tables/") and n.endswith(".parquet"))


def load(name: str, version: str = "latest", store=None, as_: str = "arrow", verify: bool = True):
    """A table of a release as a pyarrow Table (``as_="pandas"`` or ``"polars"`` for frames).

    With ``verify`` (the default) every file the release lists is checked before anything is returned:
    ``SHA256SUMS`` against ``index.json``, ``datapackage.json`` against the index's
    ``manifest_sha256``, and every file ``SHA256SUMS`` lists (tables, datapackage.json, schema.json ...)
    against it; a tampered or truncated file is refused with :class:`ChecksumError`, a damaged index
    with :class:`StoreError`. A table the release does not hold is a :class:`UsageError` naming the
    tables it holds. Needs pyarrow only; ``as_="pandas"`` / ``"polars"`` without that library installed
    raise :class:`~opsledger.errors.MissingExtra` naming the extra (``opsledger[pandas]``,
    ``opsledger[polars]``).
    """
    if not isinstance(name, str) or not TABLE_NAME.fullmatch(name):
        raise UsageError(f"unknown table {name!r}: a table name is lowercase letters, digits and _")
    if not isinstance(as_, str) or as_ not in ("arrow", "polars", "pandas"):
        raise UsageError(f"as_ must be arrow, polars or pandas, not {as_!r}")
    flag_arg(verify, "verify")
    frames: Any = None if as_ == "arrow" else import_extra(as_, as_, f"load(..., as_={as_!r})")
    fs, root = _reader(store)
    idx = read_index(store)
    v = _resolve_version(version, store, idx)
    base = f"{root}/{v}"
    rel = f"tables/{name}.parquet"
    if verify:
        files = _verified_files(fs, base, _entry(idx, v), keep={rel})
        listed = _sums(files["SHA256SUMS"], f"{base}/SHA256SUMS")
    else:
        listed = _sums(_read_small(fs, f"{base}/SHA256SUMS", "SHA256SUMS"), f"{base}/SHA256SUMS")
    if rel not in listed:
        raise UsageError(f"unknown table {name!r}: release {v} holds {', '.join(_release_tables(listed))}")
    if verify:
        data = files[rel]
    else:
        try:
            with fs.open(f"{base}/{rel}", "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            raise StoreError(f"{base}/{rel}: missing") from None
        except OSError as exc:
            raise StoreError(f"{base}/{rel}: cannot read it ({exc.strerror or exc})") from None
    try:
        tbl = _parquet(data)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise StoreError(f"{base}/{rel}: not readable Parquet ({type(exc).__name__})") from None
    if as_ == "arrow":
        return tbl
    if as_ == "polars":
        return frames.from_arrow(tbl)
    return tbl.to_pandas(types_mapper=frames.ArrowDtype)


__all__ = ["load", "versions", "unlisted_versions", "StoreError", "ReleaseUsageError", "store_lock", "ReleaseError",
           "ChecksumError", "read_index", "read_release_tables"]
