"""Releases: versioned, immutable, verifiable snapshots in a store, and loading them back.

A store is a local directory (default ``releases/`` in the repository, ignored by git) or any fsspec
URL (``file://``, ``s3://`` ...). ``STORE/VERSION/`` holds the tables (``tables/*.parquet``, zstd,
deterministic), ``datapackage.json`` (Frictionless), ``SHA256SUMS``, ``schema.json`` and the files
for people built by :mod:`opsledger.bundle` (notes, reports, CSV, SQLite, Croissant, citation, site).
``STORE/index.json`` lists the versions and is written last.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from opsledger import io as oio
from opsledger.metadata import TABLES, repo_root, table, tables as declarations, vocabularies

SEMVER = re.compile(r"^(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})$")
LICENSE = {"name": "CC-BY-4.0", "title": "Creative Commons Attribution 4.0",
           "path": "https://creativecommons.org/licenses/by/4.0/"}


class ReleaseError(Exception):
    """A release that is refused; nothing was written."""


class ChecksumError(Exception):
    """A released file whose bytes do not match its recorded SHA-256."""


@dataclass
class ReleaseResult:
    version: str
    path: str
    bump: str
    files: dict[str, str]


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
    m = SEMVER.match(v or "")
    if not m:
        raise ReleaseError(f"{v!r} is not a version: use MAJOR.MINOR.PATCH, e.g. 0.1.0")
    return int(m[1]), int(m[2]), int(m[3])


def read_index(store=None) -> dict:
    fs, root = _fs(store)
    path = f"{root}/index.json"
    if not fs.exists(path):
        return {"versions": [], "latest": None}
    with fs.open(path, "rb") as fh:
        return json.loads(fh.read())


def versions(store=None) -> list[dict]:
    """What a store holds: one entry per version (version, date, manifest_sha256, latest)."""
    idx = read_index(store)
    return [{**v, "latest": v["version"] == idx["latest"]} for v in idx["versions"]]


def _write_atomic(fs, path: str, data: bytes) -> None:
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    with fs.open(tmp, "wb") as fh:
        fh.write(data)
    fs.mv(tmp, path)


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


def diff_tables(old: dict[str, pl.DataFrame], new: dict[str, pl.DataFrame]) -> dict[str, dict]:
    """Row-level changes per table, by key: added, removed, changed (column, old, new)."""
    out = {}
    for name in TABLES:
        key = table(name).key
        o = old.get(name)
        n = new.get(name)
        orows = {r[key]: r for r in o.iter_rows(named=True)} if o is not None else {}
        nrows = {r[key]: r for r in n.iter_rows(named=True)} if n is not None else {}
        changed = []
        for k in sorted(set(orows) & set(nrows)):
            for c in nrows[k]:
                if c in orows[k] and orows[k][c] != nrows[k][c]:
                    changed.append((k, c, orows[k][c], nrows[k][c]))
        out[name] = {"added": sorted(set(nrows) - set(orows)), "removed": sorted(set(orows) - set(nrows)),
                     "changed": changed}
    return out


def diff_text(d: dict[str, dict]) -> str:
    lines = []
    for name, ch in d.items():
        if not (ch["added"] or ch["removed"] or ch["changed"]):
            continue
        lines.append(f"### {name}: {len(ch['added'])} added, {len(ch['changed'])} changed, "
                     f"{len(ch['removed'])} removed")
        lines += [f"- added `{k}`" for k in ch["added"]]
        lines += [f"- changed `{k}`.`{c}`: {_show(a)} -> {_show(b)}" for k, c, a, b in ch["changed"]]
        lines += [f"- removed `{k}`" for k in ch["removed"]]
        lines.append("")
    return "\n".join(lines) if lines else "No row changed.\n"


def _show(v: Any) -> str:
    """A cell in a diff: text quoted, numbers and dates plain (61000, 2019-05-17), "empty" for null."""
    from opsledger import fmt

    if v is None:
        return fmt.EMPTY
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    return fmt.plain(v)


def read_release_tables(version: str, store=None, verify: bool = True) -> dict[str, pl.DataFrame]:
    return {name: load(name, version, store, as_="polars", verify=verify) for name in TABLES
            if _has_table(version, store, name)}


def _has_table(version, store, name) -> bool:
    fs, root = _fs(store)
    return fs.exists(f"{root}/{version}/tables/{name}.parquet")


def resolve(ref: str, store=None) -> dict[str, pl.DataFrame]:
    """A version in the store, ``latest``, or a directory of tables (e.g. ``datasets``)."""
    if ref == "latest" or SEMVER.match(ref):
        return read_release_tables(_resolve_version(ref, store), store)
    return oio.read_tables(ref)


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


def _resolve_version(version: str, store) -> str:
    idx = read_index(store)
    if version == "latest":
        if not idx["latest"]:
            raise ReleaseError(f"store {store or default_store()} holds no release")
        return idx["latest"]
    parse_version(version)
    if version not in {v["version"] for v in idx["versions"]}:
        raise ReleaseError(f"version {version} is not in store {store or default_store()}")
    return version


def release(version: str, store=None, data_dir=None, sources=None, date: str | None = None,
            names: list[str] | None = None) -> ReleaseResult:
    """Publish ``data_dir`` as ``version`` into ``store``; refuses (ReleaseError) without writing."""
    from opsledger.util import display_path
    from opsledger.validate import validate_tables

    new_v = parse_version(version)
    fs, root = _fs(store)
    idx = read_index(store)
    known = [v["version"] for v in idx["versions"]]
    if version in known or fs.exists(f"{root}/{version}"):
        raise ReleaseError(f"version {version} exists in the store; a published version is never overwritten")
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
        with fs.open(f"{root}/{prev}/schema.json", "rb") as fh:
            old_sig = json.loads(fh.read())
        prev_tables = read_release_tables(prev, store)
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
    files["datapackage.json"] = (json.dumps(_datapackage(version, files, tables_, date), indent=2,
                                            ensure_ascii=False) + "\n").encode()
    changes = diff_tables(prev_tables, tables_)
    from opsledger.bundle import people_files

    files.update(people_files(tables_, prev_tables, changes, report, version, date, prev, need, why, files))
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
        if fs.exists(tmp):
            fs.rm(tmp, recursive=True)
        raise
    entry_idx = {"version": version, "date": date, "manifest_sha256": _sha(files["datapackage.json"]),
                 "sha256sums_sha256": _sha(files["SHA256SUMS"])}
    versions_ = sorted(idx["versions"] + [entry_idx], key=lambda v: parse_version(v["version"]))
    latest = versions_[-1]["version"]
    _write_atomic(fs, f"{root}/index.json",
                  (json.dumps({"versions": versions_, "latest": latest}, indent=2) + "\n").encode())
    return ReleaseResult(version, f"{root}/{version}", need, {n: _sha(d) for n, d in files.items()})


# --------------------------------------------------------------------------- loading


def _sums(fs, base: str) -> dict[str, str]:
    with fs.open(f"{base}/SHA256SUMS", "rb") as fh:
        text = fh.read().decode()
    out = {}
    for line in text.splitlines():
        digest, name = line.split("  ", 1)
        out[name] = digest
    return out


def load(name: str, version: str = "latest", store=None, as_: str = "arrow", verify: bool = True):
    """A table of a release as a pyarrow Table (``as_="pandas"`` or ``"polars"`` for frames).

    Checks the file's SHA-256 against ``SHA256SUMS`` (itself checked against ``index.json``) and
    refuses a tampered or truncated file with :class:`ChecksumError`.
    """
    table(name)  # unknown table -> KeyError with the list
    fs, root = _fs(store)
    v = _resolve_version(version, store)
    base = f"{root}/{v}"
    rel = f"tables/{name}.parquet"
    with fs.open(f"{base}/{rel}", "rb") as fh:
        data = fh.read()
    if verify:
        with fs.open(f"{base}/SHA256SUMS", "rb") as fh:
            sums_bytes = fh.read()
        entry = next((e for e in read_index(store)["versions"] if e["version"] == v), None)
        if entry and entry.get("sha256sums_sha256") and _sha(sums_bytes) != entry["sha256sums_sha256"]:
            raise ChecksumError(f"{base}/SHA256SUMS does not match the checksum in {root}/index.json")
        want = _sums(fs, base).get(rel)
        got = _sha(data)
        if want != got:
            raise ChecksumError(f"{base}/{rel}: SHA-256 {got} does not match SHA256SUMS ({want}); "
                                "the file is damaged or was altered")
    # ParquetFile, not read_table: read_table goes through pyarrow.dataset, which imports pandas
    tbl = pq.ParquetFile(pa.BufferReader(data)).read()
    if as_ == "arrow":
        return tbl
    if as_ == "polars":
        return pl.from_arrow(tbl)
    if as_ == "pandas":
        return tbl.to_pandas(types_mapper=pd_types())
    raise ValueError(f"as_ must be arrow, polars or pandas, not {as_!r}")


def pd_types():
    import pandas as pd

    return pd.ArrowDtype


__all__ = ["release", "load", "versions", "diff_tables", "diff_text", "resolve", "ReleaseError",
           "ChecksumError", "required_bump", "schema_signature"]
