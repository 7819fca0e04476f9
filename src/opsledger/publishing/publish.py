"""Releases: the policy (version bumps, the archive, validation first) and the orchestration of one
release into a store (:mod:`opsledger.publishing.store`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from opsledger.data import io as oio
from opsledger.errors import UsageError, require
from opsledger.declarations import TABLES, dataset, tables as declarations, vocabularies
from opsledger.derive.tablediff import Diff, diff_tables
from opsledger.data.txn import write_bytes_atomic

from opsledger.publishing.store import (  # noqa: F401  (re-exported for callers of publish)
    ReleaseError, ReleaseResult, ReleaseUsageError, SEMVER, release_date, store_arg, _entry, _has_table, _resolve_version, _fs, _parquet, _recover_store, _sha, _verified_files, default_store, parse_version, read_index, read_release_tables, store_lock, versions,
)

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




def resolve(ref: str | Path, store=None) -> dict[str, pl.DataFrame]:
    """A version in the store, ``latest``, or a directory of tables (e.g. ``datasets``)."""
    if ref == "latest" or (isinstance(ref, str) and SEMVER.fullmatch(ref)):
        return read_release_tables(_resolve_version(ref, store), store)
    if not isinstance(ref, (str, Path)) or not str(ref).strip():
        raise UsageError(f"{ref!r} is neither a version, `latest`, nor a directory of tables")
    return oio.read_tables(ref)


def diff(old: str | Path, new: str | Path, store=None) -> Diff:
    """The row-level changes between two releases, or a release and a directory of tables: ``old`` and
    ``new`` are each a version, ``latest`` or a directory (e.g. ``diff("latest", "datasets")``)."""
    from opsledger.derive.reconcile import show_figures

    store_arg(store)
    a, b = resolve(old, store), resolve(new, store)
    return show_figures(diff_tables(a, b), a, b)


# --------------------------------------------------------------------------- building a release


def _datapackage(version: str, files: dict[str, bytes], tables_: dict[str, pl.DataFrame], date: str) -> dict:
    srcs = tables_["sources"]
    resources = []
    for t in declarations().values():
        path = f"tables/{t.name}.parquet"
        schema = t.table_schema(vocabularies())
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
        "title": dataset().title,
        "description": dataset().description,
        "version": version,
        "created": f"{date}T00:00:00Z",
        "licenses": [{"name": dataset().data_license.id, "title": dataset().data_license.name,
                      "path": dataset().data_license.url}],
        "sources": [
            {"title": r["title"] or r["publisher"] or r["source_id"], **({"path": r["url"]} if r["url"] else {})}
            for r in srcs.iter_rows(named=True)
        ],
        "vocabularies": vocabularies(),
        "resources": resources,
    }




#: The stages of a release, in order, as ``progress`` names them.
RELEASE_STAGES = ("reading the tables", "validating", "comparing with the previous release",
                  "building the files (CSV, SQLite, site, notes)", "writing to the store")


def release(version: str, store=None, data_dir=None, sources=oio.DEFAULT_ARCHIVE, date: str | None = None,
            names: list[str] | None = None, allow_ungrounded: bool = False,
            progress: Callable[[int, int, str], None] | None = None) -> ReleaseResult:
    """Publish ``data_dir`` as ``version`` into ``store``; refuses (ReleaseError) without writing.

    ``sources`` is the source archive (default: ``../shared/sources`` when present, as on the command
    line). Without it (None, or no default archive) no claim can be grounded: refused unless
    ``allow_ungrounded=True``, a choice recorded in the datasheet, datapackage.json and index.json.

    Writers of one store are serialised by a lock (see :func:`store_lock`); the version folder is
    written under a temporary name and moved into place, then ``index.json`` is rewritten. A release
    interrupted between the two leaves a complete folder that the next release lists (and
    ``opsledger versions`` reports). ``progress(done, total, stage)``, when given, is called as each of
    :data:`RELEASE_STAGES` starts (``done`` stages finished) and once at the end."""
    new_v = parse_version(version)  # every argument is checked before anything is read or validated
    date = release_date(date)
    oio.path_arg(data_dir, "data_dir")
    sources = oio.default_archive() if sources is oio.DEFAULT_ARCHIVE else oio.path_arg(sources, "sources")
    ungrounded = check_archive(sources, oio.flag_arg(allow_ungrounded, "allow_ungrounded"))
    require("validate", "publish")
    fs, root = _fs(store)
    with store_lock(fs, root):
        return _release_locked(_Request(version, new_v, fs, root, store, data_dir, sources, date, names,
                                        ungrounded, progress, schema_signature()))


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
    from opsledger.validation.findings import grounding_line

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


@dataclass(frozen=True)
class _Request:
    """One release, its arguments checked: what :func:`release` was asked to publish, and where."""

    version: str
    new_v: tuple
    fs: object
    root: str
    store: object
    data_dir: object
    sources: object
    date: str
    names: list[str] | None
    ungrounded: bool
    progress: Callable[[int, int, str], None] | None
    #: what this release's schema promises (:func:`schema_signature`), compared with the previous one's
    signature: dict

    def stage(self, n: int) -> None:
        if self.progress:
            self.progress(n, len(RELEASE_STAGES), RELEASE_STAGES[n] if n < len(RELEASE_STAGES) else "released")


def _release_locked(req: _Request) -> ReleaseResult:
    """The release, with the store's lock held: the stages of :data:`RELEASE_STAGES`, in order."""
    idx, notes = _recover_store(req.fs, req.root, read_index(req.store))
    known = [v["version"] for v in idx["versions"]]
    if req.version in known or req.fs.exists(f"{req.root}/{req.version}"):
        raise ReleaseError(f"version {req.version} exists in the store; a published version is never overwritten"
                           + ("".join(f" ({n})" for n in notes if req.version in n)))
    req.stage(0)
    tables_, report = _validated(req)
    req.stage(2)
    prev, prev_tables, need, why = _previous(req, idx, known)
    req.stage(3)
    evidence = release_evidence(report, req.ungrounded)
    files = _release_files(req, tables_, report, evidence, prev, prev_tables, need, why)
    req.stage(4)
    _write_version(req, files)
    _index_version(req, idx, files, evidence)
    req.stage(len(RELEASE_STAGES))
    if req.ungrounded:
        notes.append("released WITHOUT the source archive (--allow-ungrounded): no claim was checked against "
                     "an archived text; the datasheet, datapackage.json and index.json say so")
    return ReleaseResult(req.version, f"{req.root}/{req.version}", need, {n: _sha(d) for n, d in files.items()}, notes)


def _validated(req: _Request):
    """The tables to release and their validation report; refused unless every finding is acknowledged."""
    from opsledger.data.paths import display_path
    from opsledger.validation.run import validate_tables

    try:
        tables_ = oio.read_tables(req.data_dir)
    except oio.UnusableInput as exc:
        raise ReleaseError(str(exc)) from None
    req.stage(1)
    report = validate_tables(tables_, sources=req.sources, names=req.names,
                             data_dir=display_path(req.data_dir or oio.default_data_dir()))
    if report.exit_code != 0 or report.open_warnings:
        raise ReleaseError("the data does not validate with every finding acknowledged; nothing released:\n"
                           + report.text(limit=20))
    return tables_, report


def _previous(req: _Request, idx: dict, known: list[str]) -> tuple[str | None, dict, str, list[str]]:
    """The latest earlier release, its tables, and the bump the schema change needs (refused when the new
    version is not above it, or bumps less than its schema change needs)."""
    prev = max(known, key=parse_version) if known else None
    old_sig, prev_tables = None, {}
    if prev:
        if parse_version(prev) >= req.new_v:
            raise ReleaseError(f"version {req.version} is not above the latest release {prev}")
        prev_files = _verified_files(req.fs, f"{req.root}/{prev}", _entry(idx, prev))
        old_sig = json.loads(prev_files["schema.json"])
        prev_tables = {name: pl.from_arrow(_parquet(prev_files[f"tables/{name}.parquet"]))
                       for name in TABLES if f"tables/{name}.parquet" in prev_files}
    need, why = required_bump(old_sig, req.signature)
    got = _bump_of(parse_version(prev), req.new_v) if prev else "patch"
    order = {"patch": 0, "minor": 1, "major": 2}
    if prev and order[got] < order[need]:
        raise ReleaseError(f"{prev} -> {req.version} is a {got} bump, but the schema change needs a {need} "
                           f"bump: {'; '.join(why[:5])}")
    return prev, prev_tables, need, why


def _release_files(req: _Request, tables_: dict, report, evidence: dict, prev: str | None, prev_tables: dict,
                   need: str, why: list[str]) -> dict[str, bytes]:
    """Every file of the release, by its path in the version folder, SHA256SUMS last."""
    from opsledger.derive.reconcile import show_figures
    from opsledger.publishing.outputs.bundle import people_files

    files: dict[str, bytes] = {f"tables/{name}.parquet": oio.parquet_bytes(oio.to_arrow(name, tables_[name]))
                               for name in TABLES}
    files["schema.json"] = (json.dumps(req.signature, indent=2, sort_keys=True) + "\n").encode()
    files["datapackage.json"] = (json.dumps({**_datapackage(req.version, files, tables_, req.date),
                                             "opsledger:evidence": evidence}, indent=2,
                                            ensure_ascii=False) + "\n").encode()
    changes = show_figures(diff_tables(prev_tables, tables_), prev_tables, tables_)
    files.update(people_files(tables_, prev_tables, changes, report, req.version, req.date, prev, need, why, files))
    files["DATASHEET.md"] = files["DATASHEET.md"] + evidence_markdown(evidence).encode()
    files["SHA256SUMS"] = "".join(f"{_sha(data)}  {name}\n" for name, data in sorted(files.items())).encode()
    return files


def _write_version(req: _Request, files: dict[str, bytes]) -> None:
    """The version folder, written under a temporary name and moved into place (removed on failure)."""
    fs, root = req.fs, req.root
    tmp = f"{root}/.tmp-{req.version}-{uuid.uuid4().hex}"
    try:
        for name, data in files.items():
            fs.makedirs(f"{tmp}/{name}".rsplit("/", 1)[0], exist_ok=True)
            with fs.open(f"{tmp}/{name}", "wb") as fh:
                fh.write(data)
        if fs.exists(f"{root}/{req.version}"):
            raise ReleaseError(f"version {req.version} appeared in the store meanwhile; not overwriting it")
        fs.mv(tmp, f"{root}/{req.version}", recursive=True)
    except BaseException:
        try:
            if fs.exists(tmp):
                fs.rm(tmp, recursive=True)
        except Exception:  # the next release removes it (see _recover_store)
            pass
        raise


def _index_version(req: _Request, idx: dict, files: dict[str, bytes], evidence: dict) -> None:
    """``index.json`` rewritten (atomically) to list the new version."""
    entry_idx = {"version": req.version, "date": req.date, "manifest_sha256": _sha(files["datapackage.json"]),
                 "sha256sums_sha256": _sha(files["SHA256SUMS"]), "evidence": evidence}
    versions_ = sorted(idx["versions"] + [entry_idx], key=lambda v: parse_version(v["version"]))
    write_bytes_atomic(f"{req.root}/index.json", (json.dumps(
        {"versions": versions_, "latest": versions_[-1]["version"]}, indent=2) + "\n").encode(), req.fs)


# --------------------------------------------------------------------------- loading


#: Files every release must list in SHA256SUMS (besides its tables).


__all__ = ["release", "diff", "resolve", "required_bump", "schema_signature", "check_archive"]
