"""Releases: versioned, immutable, verifiable snapshots in a store, and loading them back.

A store is a local directory (default ``releases/`` in the repository, ignored by git) or any fsspec
URL (``file://``, ``s3://`` ...). ``STORE/VERSION/`` holds the tables (``tables/*.parquet``, zstd,
deterministic), ``datapackage.json`` (Frictionless), ``SHA256SUMS``, ``CHANGELOG.md``,
``validation.json``/``validation.html`` and ``DATASHEET.md``. ``STORE/index.json`` lists the
versions and is written last.
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
    return "null" if v is None else json.dumps(v.isoformat() if isinstance(v, dt.date) else v, ensure_ascii=False)


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


def default_research_dir() -> Path:
    """curation/research/ of the repository."""
    return repo_root() / "curation" / "research"


def inclusion_rule(research_dir: Path) -> str | None:
    """The text of the section "Inclusion rule" of research_dir/README.md (None when absent)."""
    readme = Path(research_dir) / "README.md"
    if not readme.exists():
        return None
    m = re.search(r"^## Inclusion rule\s*\n(.*?)(?=^## |\Z)", readme.read_text(encoding="utf-8"), re.S | re.M)
    return " ".join(m.group(1).split()) if m else None


BACKLOG_COLUMNS = ["operation_name", "year", "lead_agency", "why_not_curated"]


def backlog(research_dir: Path) -> list[dict[str, str]]:
    """Operations considered but not curated: the rows of research_dir/_backlog*.tsv, in file order.
    A file whose header is not BACKLOG_COLUMNS, or a row with another number of fields, is an error."""
    rows: list[dict[str, str]] = []
    for path in sorted(Path(research_dir).glob("_backlog*.tsv")):
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        if not lines:
            continue
        header = lines[0].split("\t")
        if header != BACKLOG_COLUMNS:
            raise ReleaseError(f"{path}: header is {header}, expected {BACKLOG_COLUMNS}")
        for n, line in enumerate(lines[1:], start=2):
            fields = line.split("\t")
            if len(fields) != len(BACKLOG_COLUMNS):
                raise ReleaseError(f"{path}: line {n} has {len(fields)} fields, expected {len(BACKLOG_COLUMNS)}")
            rows.append(dict(zip(BACKLOG_COLUMNS, (f.strip() for f in fields))))
    return rows


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def datasheet(tables_: dict[str, pl.DataFrame], version: str, research_dir: Path | None = None) -> str:
    """A datasheet (in the spirit of Datasheets for Datasets) with the coverage computed from the data,
    the inclusion rule (curation/research/README.md) and the backlog (curation/research/_backlog*.tsv)."""
    from opsledger.coverage import coverage_markdown

    research_dir = Path(research_dir) if research_dir is not None else default_research_dir()
    rule = inclusion_rule(research_dir)
    todo = backlog(research_dir)
    scope_lines = ["## Inclusion rule",
                   rule or "No inclusion rule was found (curation/research/README.md, section 'Inclusion rule').", "",
                   "## Known operations not curated (backlog)"]
    if todo:
        scope_lines += [f"{len(todo)} operations were considered and not (yet) curated, each with the reason:", "",
                        "| operation | year | lead agency | why not curated |", "|---|---|---|---|"]
        scope_lines += [f"| {_md_cell(r['operation_name'])} | {_md_cell(r['year'])} | {_md_cell(r['lead_agency'])} "
                        f"| {_md_cell(r['why_not_curated'])} |" for r in todo]
    else:
        scope_lines.append("No backlog file was found.")
    scope_lines.append("")

    lines = [
        f"# Datasheet: opsledger {version}", "",
        "## Motivation",
        "Researchers, journalists and NGOs need the figures of international operations against online child "
        "sexual exploitation with their provenance: which public source states what, with which hedge, and "
        "where sources disagree. opsledger records every figure as claims and reconciles them openly.", "",
        "## Composition",
        coverage_markdown(tables_),
        "", "Every outcome has a status: corroborated, single_source or disputed; disputes are kept and "
        "acknowledged with a reason, never averaged away.", "",
        *scope_lines,
        "## Collection process",
        "Curators read public press releases and news reports, record each figure exactly as phrased with its "
        "source, and let the documented phrase rules derive its interval. Seed documents are archived as text "
        "with a SHA-256; later sources are cited by URL and publication date as found. Every change arrives as "
        "a change set with a source and a reason (the `corrections` table is the audit trail).", "",
        "## Deliberately excluded",
        "- Names of persons: no child, offender, official or journalist is named; offenders appear by role and "
        "jurisdiction. A hashed blocklist of names from the sources is checked on every run.",
        "- Anything that could help identify a child (places, relationships, images) beyond the figures.",
        "- Copies of source text: only the short phrase that states a figure is kept, to cite it.",
        "- Database and study totals (e.g. ICSE) as operation results: they are in `statistics`.", "",
        "## Uses to avoid",
        "- Ranking agencies or countries by these figures: coverage follows what was published, not what happened.",
        "- Treating `value` as exact: use `value_low`/`value_high` and `status`.",
        "- Any attempt to identify victims or offenders.", "",
        "## Maintenance",
        "Versioned releases are immutable; each has a CHANGELOG of row-level changes and a validation report. "
        "Corrections: write a change set under `corrections/` (see CONTRIBUTING.md), check it with "
        "`opsledger correction check`, and open a pull request.", "",
    ]
    return "\n".join(lines)


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
    from opsledger.report_html import render_html
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
                             data_dir=str(data_dir or oio.default_data_dir()))
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
    old_log = b""
    if prev:
        with fs.open(f"{root}/{prev}/CHANGELOG.md", "rb") as fh:
            old_log = fh.read().removeprefix(b"# Changelog\n\n")
    entry = (f"## {version} ({date})\n\nAgainst {prev or 'nothing (first release)'}; schema: {need} "
             f"({'; '.join(why[:10])}).\n\n" + diff_text(changes) + "\n")
    files["CHANGELOG.md"] = ("# Changelog\n\n" + entry).encode() + old_log
    files["validation.json"] = (report.to_json() + "\n").encode()
    files["validation.html"] = render_html(report).encode()
    files["DATASHEET.md"] = datasheet(tables_, version).encode()
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
    tbl = pq.read_table(pa.BufferReader(data))
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
