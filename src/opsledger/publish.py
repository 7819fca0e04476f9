"""Releases: versioned, immutable, verifiable snapshots in a store, and loading them back.

A store is a local directory (default ``releases/`` in the repository, ignored by git) or any fsspec
URL (``file://``, ``s3://`` ...). ``STORE/VERSION/`` holds the tables (``tables/*.parquet``, zstd,
deterministic), ``datapackage.json`` (Frictionless), ``SHA256SUMS``, ``schema.json`` and the files
for people built by :mod:`opsledger.bundle` (notes, reports, CSV, SQLite, Croissant, citation, site).
``STORE/index.json`` lists the versions and is written last.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from opsledger import io as oio
from opsledger.errors import DataError, UsageError, require
from opsledger.metadata import TABLES, repo_root, tables as declarations, vocabularies
from opsledger.tablediff import Diff, diff_tables
from opsledger.txn import is_local, write_bytes_atomic

SEMVER = re.compile(r"^(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})$")
LICENSE = {"name": "CC-BY-4.0", "title": "Creative Commons Attribution 4.0",
           "path": "https://creativecommons.org/licenses/by/4.0/"}


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


def _fs(store: str | Path | None):
    import fsspec

    store = str(store or default_store())
    if store.startswith(("http://", "https://")):  # read-only, standard library only
        from opsledger.httpstore import HTTPStore

        return HTTPStore(), store.rstrip("/")
    fs, root = fsspec.core.url_to_fs(store)
    return fs, root.rstrip("/")


def parse_version(v: str) -> tuple[int, int, int]:
    m = SEMVER.match(v) if isinstance(v, str) else None
    if not m:
        raise ReleaseUsageError(f"{v!r} is not a version: use MAJOR.MINOR.PATCH, e.g. 0.1.0")
    return int(m[1]), int(m[2]), int(m[3])


#: Largest index.json / SHA256SUMS read.
MAX_INDEX_BYTES = 4 << 20


def _read_small(fs, path: str, what: str) -> bytes:
    try:
        size = fs.size(path)
        if size is not None and size > MAX_INDEX_BYTES:
            raise StoreError(f"{path}: {what} is larger than {MAX_INDEX_BYTES} bytes")
        with fs.open(path, "rb") as fh:
            return fh.read(MAX_INDEX_BYTES + 1)
    except FileNotFoundError:
        raise StoreError(f"{path}: {what} is missing") from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None


def _parse_index(data: bytes, path: str) -> dict:
    try:
        idx = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{path}: not valid JSON ({type(exc).__name__} at {getattr(exc, 'pos', '?')}); "
                         "the store index is damaged") from None
    ok = isinstance(idx, dict) and isinstance(idx.get("versions"), list) and all(
        isinstance(v, dict) and isinstance(v.get("version"), str) and SEMVER.match(v["version"])
        and isinstance(v.get("manifest_sha256"), str) for v in idx["versions"])
    latest = idx.get("latest") if isinstance(idx, dict) else None
    if not ok or (latest is not None and latest not in {v["version"] for v in idx["versions"]}):
        raise StoreError(f"{path}: not a store index (versions with version and manifest_sha256, "
                         "and latest among them); the store index is damaged")
    return idx


def read_index(store=None) -> dict:
    """The store's ``index.json``; :class:`StoreError` (one line) when it is damaged."""
    fs, root = _fs(store)
    path = f"{root}/index.json"
    if not fs.exists(path):
        return {"versions": [], "latest": None}
    return _parse_index(_read_small(fs, path, "index.json"), path)


def versions(store=None, unlisted: bool = False) -> list[dict]:
    """What a store holds: one entry per version (version, date, manifest_sha256, latest). With
    ``unlisted``, also each version folder the index does not list yet (``{"version", "unlisted"}``,
    the latter saying whether it is complete; see :func:`unlisted_versions`)."""
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
        files = _verified_files(fs, base, None)
    except (StoreError, ChecksumError) as exc:
        return str(exc)
    try:
        pkg = json.loads(files["datapackage.json"])
    except (KeyError, ValueError):
        return f"{base}/datapackage.json is missing or not JSON"
    if not isinstance(pkg, dict) or pkg.get("version") != v:
        return f"{base}/datapackage.json is for version {pkg.get('version') if isinstance(pkg, dict) else '?'}"
    return None


def unlisted_versions(store=None) -> dict[str, str]:
    """Version folders the index does not list, each with its state: complete ones are left by a release
    interrupted after its folder was moved into place (the next release lists them)."""
    fs, root = _fs(store)
    if not fs.exists(root):
        return {}
    listed = {v["version"] for v in read_index(store)["versions"]}
    out = {}
    for p in fs.ls(root, detail=False):
        name = str(p).rstrip("/").rsplit("/", 1)[-1]
        if SEMVER.match(name) and name not in listed and fs.isdir(f"{root}/{name}"):
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
        if not SEMVER.match(name) or name in listed or not fs.isdir(f"{root}/{name}"):
            continue
        why = _check_version_dir(fs, root, name)
        if why is not None:
            notes.append(f"version folder {name} is not listed and is not a complete release ({why}); "
                         "left as is")
            continue
        files = _verified_files(fs, f"{root}/{name}", None)
        created = json.loads(files["datapackage.json"]).get("created", "")[:10]
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


# --------------------------------------------------------------------------- schema comparison


def schema_signature() -> dict:
    """What a release's schema promises: tables, columns with types, and vocabulary terms."""
    return {
        "tables": {t.name: {f.name: f.type for f in t.fields} for t in declarations().values()},
        "vocabularies": {k: sorted(v) for k, v in vocabularies().items()},
    }


def required_bump(old: dict | None, new: dict) -> tuple[str, list[str]]:
    """'major', 'minor' or 'patch', with the reasons, comparing two schema signatures."""
    if old is None:
        return "patch", ["first release"]
    major, minor = [], []
    for t, cols in old["tables"].items():
        if t not in new["tables"]:
            major.append(f"table {t} removed")
            continue
        for c, typ in cols.items():
            if c not in new["tables"][t]:
                major.append(f"column {t}.{c} removed")
            elif new["tables"][t][c] != typ:
                major.append(f"column {t}.{c} retyped {typ} -> {new['tables'][t][c]}")
        minor += [f"column {t}.{c} added" for c in new["tables"][t] if c not in cols]
    minor += [f"table {t} added" for t in new["tables"] if t not in old["tables"]]
    for v, terms in old["vocabularies"].items():
        now = set(new["vocabularies"].get(v, []))
        major += [f"term {v}.{x} removed" for x in terms if x not in now]
        minor += [f"term {v}.{x} added" for x in now - set(terms)]
    if major:
        return "major", major
    if minor:
        return "minor", minor
    return "patch", ["data only"]


def _bump_of(prev: tuple[int, int, int], new: tuple[int, int, int]) -> str | None:
    if new[0] > prev[0]:
        return "major"
    if new[0] == prev[0] and new[1] > prev[1]:
        return "minor"
    if new[:2] == prev[:2] and new[2] > prev[2]:
        return "patch"
    return None


# --------------------------------------------------------------------------- diff


def _has_table(version, store, name) -> bool:
    fs, root = _fs(store)
    return fs.exists(f"{root}/{version}/tables/{name}.parquet")


def resolve(ref: str | Path, store=None) -> dict[str, pl.DataFrame]:
    """A version in the store, ``latest``, or a directory of tables (e.g. ``datasets``)."""
    if ref == "latest" or (isinstance(ref, str) and SEMVER.match(ref)):
        return read_release_tables(_resolve_version(ref, store), store)
    if not isinstance(ref, (str, Path)) or not str(ref).strip():
        raise UsageError(f"{ref!r} is neither a version, `latest`, nor a directory of tables")
    return oio.read_tables(ref)


def diff(old: str | Path, new: str | Path, store=None) -> Diff:
    """The row-level changes between two releases, or a release and a directory of tables: ``old`` and
    ``new`` are each a version, ``latest`` or a directory (e.g. ``diff("latest", "datasets")``)."""
    return diff_tables(resolve(old, store), resolve(new, store))


# --------------------------------------------------------------------------- building a release


def _datapackage(version: str, files: dict[str, bytes], tables_: dict[str, pl.DataFrame], date: str) -> dict:
    srcs = tables_["sources"]
    resources = []
    for t in declarations().values():
        path = f"tables/{t.name}.parquet"
        schema = t.table_schema()
        for fk in schema.get("foreignKeys", []):
            if fk["reference"]["resource"] == t.name:
                fk["reference"]["resource"] = ""  # self-reference, as Table Schema spells it
        resources.append({
            "name": t.name, "title": t.title, "description": t.description, "path": path,
            "format": "parquet", "mediatype": "application/vnd.apache.parquet",
            "profile": "tabular-data-resource",
            # frictionless cannot hash a Parquet source it reads through a parser, so the checksum
            # and size are recorded under names it does not verify (SHA256SUMS is the verified list)
            "sha256": _sha(files[path]), "size": len(files[path]), "schema": schema,
        })
    return {
        "profile": "tabular-data-package",
        "name": "opsledger",
        "title": "opsledger: international operations against online child sexual exploitation",
        "description": "Operations, agencies, claims from public sources and reconciled outcomes, "
                       "with the interval each hedged figure allows. No person is named.",
        "version": version,
        "created": f"{date}T00:00:00Z",
        "licenses": [LICENSE],
        "sources": [
            {"title": r["title"] or r["publisher"] or r["source_id"], **({"path": r["url"]} if r["url"] else {})}
            for r in srcs.iter_rows(named=True)
        ],
        "vocabularies": vocabularies(),
        "resources": resources,
    }


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


def release(version: str, store=None, data_dir=None, sources=oio.DEFAULT_ARCHIVE, date: str | None = None,
            names: list[str] | None = None, allow_ungrounded: bool = False) -> ReleaseResult:
    """Publish ``data_dir`` as ``version`` into ``store``; refuses (ReleaseError) without writing.

    ``sources`` is the source archive (default: ``../shared/sources`` when present, as on the command
    line). Without it (None, or no default archive) no claim can be grounded: refused unless
    ``allow_ungrounded=True``, a choice recorded in the datasheet, datapackage.json and index.json.

    Writers of one store are serialised by a lock (see :func:`store_lock`); the version folder is
    written under a temporary name and moved into place, then ``index.json`` is rewritten. A release
    interrupted between the two leaves a complete folder that the next release lists (and
    ``opsledger versions`` reports)."""
    new_v = parse_version(version)
    sources = oio.default_archive() if sources is oio.DEFAULT_ARCHIVE else oio.path_arg(sources, "sources")
    ungrounded = check_archive(sources, allow_ungrounded)
    require("validate", "publish")
    fs, root = _fs(store)
    with store_lock(fs, root):
        return _release_locked(version, new_v, fs, root, store, data_dir, sources, date, names, ungrounded)


def check_archive(sources, allow_ungrounded: bool) -> bool:
    """True when the release goes out without the archive (allowed); refused when it may not."""
    if sources is not None and not Path(sources).is_dir():
        raise ReleaseUsageError(f"{sources}: no such source archive directory; nothing released")
    if sources is None and not allow_ungrounded:
        raise ReleaseError("no source archive given (--sources DIR), so no claim can be grounded; nothing "
                           "released (--allow-ungrounded releases anyway and records it in the release)")
    return sources is None


def release_evidence(report, ungrounded: bool) -> dict:
    """What a release records about its evidence: the grounding counts and whether the archive was read."""
    return {"archive_checked": not ungrounded, "allow_ungrounded": ungrounded,
            "grounding": dict(report.grounding or {})}


def evidence_markdown(ev: dict) -> str:
    from opsledger.findings import grounding_line

    lines = ["", "## Evidence", ""]
    if ev["grounding"]:
        lines.append(f"Of the claims in this release, {grounding_line(ev['grounding']).removeprefix('claims: ')} "
                     "(grounded: the phrase was found in the source's archived text; supported only by a "
                     "quotation: the claim carries the clause of its source that holds the phrase; unsupported: "
                     "neither).")
        lines.append("")
    lines.append("Released WITHOUT the source archive (--allow-ungrounded): no claim was checked against an "
                 "archived text." if ev["allow_ungrounded"] else
                 "Released with the source archive: every archived source's SHA-256 and every phrase at its "
                 "locator were checked.")
    return "\n".join(lines) + "\n"


def _release_locked(version, new_v, fs, root, store, data_dir, sources, date, names,
                    ungrounded: bool = False) -> ReleaseResult:
    from opsledger.util import display_path
    from opsledger.validation import validate_tables

    idx, notes = _recover_store(fs, root, read_index(store))
    known = [v["version"] for v in idx["versions"]]
    if version in known or fs.exists(f"{root}/{version}"):
        raise ReleaseError(f"version {version} exists in the store; a published version is never overwritten"
                           + ("".join(f" ({n})" for n in notes if version in n)))
    try:
        tables_ = oio.read_tables(data_dir)
    except oio.UnusableInput as exc:
        raise ReleaseError(str(exc)) from None
    report = validate_tables(tables_, sources=sources, names=names,
                             data_dir=display_path(data_dir or oio.default_data_dir()))
    if report.exit_code != 0 or report.open_warnings:
        raise ReleaseError("the data does not validate with every finding acknowledged; nothing released:\n"
                           + report.text(limit=20))
    new_sig = schema_signature()
    prev = max(known, key=parse_version) if known else None
    old_sig, prev_tables = None, {}
    if prev:
        if parse_version(prev) >= new_v:
            raise ReleaseError(f"version {version} is not above the latest release {prev}")
        prev_files = _verified_files(fs, f"{root}/{prev}", _entry(idx, prev))
        old_sig = json.loads(prev_files["schema.json"])
        prev_tables = {name: pl.from_arrow(_parquet(prev_files[f"tables/{name}.parquet"]))
                       for name in TABLES if f"tables/{name}.parquet" in prev_files}
    need, why = required_bump(old_sig, new_sig)
    got = _bump_of(parse_version(prev), new_v) if prev else "patch"
    order = {"patch": 0, "minor": 1, "major": 2}
    if prev and order[got] < order[need]:
        raise ReleaseError(f"{prev} -> {version} is a {got} bump, but the schema change needs a {need} "
                           f"bump: {'; '.join(why[:5])}")
    files: dict[str, bytes] = {}
    for name in TABLES:
        files[f"tables/{name}.parquet"] = oio.parquet_bytes(oio.to_arrow(name, tables_[name]))
    date = date or dt.date.today().isoformat()
    files["schema.json"] = (json.dumps(new_sig, indent=2, sort_keys=True) + "\n").encode()
    evidence = release_evidence(report, ungrounded)
    files["datapackage.json"] = (json.dumps({**_datapackage(version, files, tables_, date),
                                             "opsledger:evidence": evidence}, indent=2,
                                            ensure_ascii=False) + "\n").encode()
    changes = diff_tables(prev_tables, tables_)
    from opsledger.bundle import people_files

    files.update(people_files(tables_, prev_tables, changes, report, version, date, prev, need, why, files))
    files["DATASHEET.md"] = files["DATASHEET.md"] + evidence_markdown(evidence).encode()
    sums = "".join(f"{_sha(data)}  {name}\n" for name, data in sorted(files.items()))
    files["SHA256SUMS"] = sums.encode()
    tmp = f"{root}/.tmp-{version}-{uuid.uuid4().hex}"
    try:
        for name, data in files.items():
            fs.makedirs(f"{tmp}/{name}".rsplit("/", 1)[0], exist_ok=True)
            with fs.open(f"{tmp}/{name}", "wb") as fh:
                fh.write(data)
        if fs.exists(f"{root}/{version}"):
            raise ReleaseError(f"version {version} appeared in the store meanwhile; not overwriting it")
        fs.mv(tmp, f"{root}/{version}", recursive=True)
    except BaseException:
        try:
            if fs.exists(tmp):
                fs.rm(tmp, recursive=True)
        except Exception:  # the next release removes it (see _recover_store)
            pass
        raise
    entry_idx = {"version": version, "date": date, "manifest_sha256": _sha(files["datapackage.json"]),
                 "sha256sums_sha256": _sha(files["SHA256SUMS"]), "evidence": evidence}
    versions_ = sorted(idx["versions"] + [entry_idx], key=lambda v: parse_version(v["version"]))
    latest = versions_[-1]["version"]
    write_bytes_atomic(f"{root}/index.json",
                       (json.dumps({"versions": versions_, "latest": latest}, indent=2) + "\n").encode(), fs)
    return ReleaseResult(version, f"{root}/{version}", need, {n: _sha(d) for n, d in files.items()}, notes)


# --------------------------------------------------------------------------- loading


#: Files every release must list in SHA256SUMS (besides its tables).
REQUIRED_FILES = ("datapackage.json", "schema.json")


def _parquet(data: bytes) -> pa.Table:
    """Verified Parquet bytes as an Arrow table.

    A script that only loaded a table ended in about one run in seven with "terminate called without
    an active exception" (SIGABRT, exit 134) at interpreter exit, when the table had been decoded by
    ``pq.read_table`` from a buffer over Python ``bytes`` with pyarrow's thread pool (pyarrow 26,
    polars imported). Reading from an Arrow-owned copy of the bytes, single-threaded (the tables are
    small), ended cleanly in every run measured (0 of 100; see tests/test_integrity.py).
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


def _verified_files(fs, base: str, entry: dict | None) -> dict[str, bytes]:
    """Every file a release lists in ``SHA256SUMS``, read and checked: SHA256SUMS itself and
    datapackage.json against the index entry (when given), every listed file against SHA256SUMS.
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
        try:
            with fs.open(f"{base}/{name}", "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            raise ChecksumError(f"{base}/{name}: listed in SHA256SUMS but missing") from None
        got = _sha(data)
        if got != want:
            raise ChecksumError(f"{base}/{name}: SHA-256 {got} does not match SHA256SUMS ({want}); "
                                "the file is damaged or was altered")
        files[name] = data
    files["SHA256SUMS"] = sums_bytes
    if entry is not None and _sha(files["datapackage.json"]) != entry["manifest_sha256"]:
        raise ChecksumError(f"{base}/datapackage.json does not match manifest_sha256 in the store's index.json")
    return files


def read_release_tables(version: str, store=None, verify: bool = True) -> dict[str, pl.DataFrame]:
    """Every table of a release, after verifying every file it lists once (see :func:`load`)."""
    fs, root = _fs(store)
    idx = read_index(store)
    v = _resolve_version(version, store, idx)
    base = f"{root}/{v}"
    if verify:
        files = _verified_files(fs, base, _entry(idx, v))
        return {name: pl.from_arrow(_parquet(files[f"tables/{name}.parquet"]))
                for name in TABLES if f"tables/{name}.parquet" in files}
    return {name: load(name, v, store, as_="polars", verify=False) for name in TABLES
            if _has_table(v, store, name)}


def load(name: str, version: str = "latest", store=None, as_: str = "arrow", verify: bool = True):
    """A table of a release as a pyarrow Table (``as_="pandas"`` or ``"polars"`` for frames).

    With ``verify`` (the default) every file the release lists is checked before anything is returned:
    ``SHA256SUMS`` against ``index.json``, ``datapackage.json`` against the index's
    ``manifest_sha256``, and every file ``SHA256SUMS`` lists (tables, datapackage.json, schema.json ...)
    against it; a tampered or truncated file is refused with :class:`ChecksumError`, a damaged index
    with :class:`StoreError`.
    """
    if not isinstance(name, str) or name not in TABLES:
        raise UsageError(f"unknown table {name!r}; tables are: {', '.join(TABLES)}")
    if as_ not in ("arrow", "polars", "pandas"):
        raise UsageError(f"as_ must be arrow, polars or pandas, not {as_!r}")
    fs, root = _fs(store)
    idx = read_index(store)
    v = _resolve_version(version, store, idx)
    base = f"{root}/{v}"
    rel = f"tables/{name}.parquet"
    if verify:
        files = _verified_files(fs, base, _entry(idx, v))
        if rel not in files:
            raise ChecksumError(f"{base}/SHA256SUMS does not list {rel}")
        data = files[rel]
    else:
        try:
            with fs.open(f"{base}/{rel}", "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            raise StoreError(f"{base}/{rel}: missing") from None
    try:
        tbl = _parquet(data)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise StoreError(f"{base}/{rel}: not readable Parquet ({type(exc).__name__})") from None
    if as_ == "arrow":
        return tbl
    if as_ == "polars":
        return pl.from_arrow(tbl)
    return tbl.to_pandas(types_mapper=pd_types())


def pd_types():
    import pandas as pd

    return pd.ArrowDtype


__all__ = ["release", "load", "versions", "unlisted_versions", "StoreError", "ReleaseUsageError", "store_lock", "diff", "resolve", "ReleaseError",
           "ChecksumError", "required_bump", "schema_signature"]
