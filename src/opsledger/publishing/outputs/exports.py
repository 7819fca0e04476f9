"""A release's files for people and tools: CSV (zipped with README, citation and licences), a SQLite
database with a Datasette metadata file, Croissant JSON-LD metadata and CITATION.cff.

Everything is derived from the table declarations (``schemas/``): tables are enumerated from them (a
table added there is exported without a change here) and no column is listed by hand. Output is
deterministic: the same data, version and date give the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import zipfile
from collections.abc import Iterable

from opsledger.data import fmt
from opsledger.escape import csv_cell
from opsledger.declarations import Table, dataset, repo_root, tables as declarations, vocabularies
from opsledger.publishing.outputs.citation import citation_cff, citation_text  # noqa: F401 (citation_cff re-exported)


def data_license() -> dict:
    """The data licence (``schemas/dataset.toml``) as a dict: id, name, url."""
    return dataset().data_license.model_dump()


#: SQLite column types. A ``number`` column is NUMERIC: SQLite stores a whole value (a count: 1200) as an
#: INTEGER and only a fractional one (3.5 terabytes) as REAL, so counts read back as integers.
SQLITE_TYPES = {"string": "TEXT", "integer": "INTEGER", "number": "NUMERIC", "date": "TEXT", "boolean": "INTEGER"}
#: columns Datasette offers as facets wherever a table has them
DATASETTE_FACETS = ("operation_id", "metric", "status")
CROISSANT_TYPES = {"string": "sc:Text", "integer": "sc:Integer", "number": "sc:Float", "date": "sc:Date",
                   "boolean": "sc:Boolean"}
HEADLINE = "headline"


def released_tables(data: dict) -> list[Table]:
    """The declared tables present in ``data``, in declaration (dependency) order."""
    return [t for t in declarations().values() if t.name in data]


def _rows(df) -> Iterable[tuple]:
    return df.iter_rows()


# --------------------------------------------------------------------------- citation and licences


def repo_file(name: str) -> bytes:
    """A file of the repository (LICENSE, LICENSE-DATA.md), or the bundled copy inside a wheel."""
    for base in (repo_root(), os.path.dirname(__file__)):
        p = os.path.join(base, name)
        if os.path.isfile(p):
            with open(p, "rb") as fh:
                return fh.read()
    raise FileNotFoundError(f"{name} is missing from the repository")


# --------------------------------------------------------------------------- CSV


def csv_bytes(t: Table, df) -> bytes:
    """One table as CSV: UTF-8, a header of the declared columns, ISO dates, plain numbers, empty null;
    text that a spreadsheet would run as a formula neutralised (:func:`opsledger.escape.csv_cell`)."""
    lines = [_csv_line(t.columns)]
    lines += [_csv_line([fmt.plain(csv_cell(v)) for v in row]) for row in df.select(t.columns).iter_rows()]
    return "".join(lines).encode("utf-8")


def _csv_line(fields: list[str]) -> str:
    """One CSV record as Python's csv module writes it with ``\\n`` line ends, except that a field
    holding a carriage return is quoted too (the csv module leaves it bare, and readers then split the
    record there)."""
    if fields == [""]:  # one empty field: quoted, or the record would read as no field at all
        return '""\n'
    return ",".join(f'"{f.replace(chr(34), chr(34) * 2)}"' if any(c in f for c in ',"\r\n') else f
                    for f in fields) + "\n"


def _zip(entries: dict[str, bytes], date: str) -> bytes:
    y, m, d = (int(x) for x in date.split("-"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=(y, m, d, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, entries[name])
    return buf.getvalue()


def csv_zip(data: dict, version: str, date: str) -> bytes:
    """``opsledger-VERSION-csv.zip``: every table as CSV, a README, the citation and the licences."""
    from opsledger.publishing.templates import render

    folder = f"opsledger-{version}-csv"
    entries = {f"{folder}/{t.name}.csv": csv_bytes(t, data[t.name]) for t in released_tables(data)}
    entries[f"{folder}/README.md"] = render(
        "csv-README.md.j2", version=version, date=date, tables=released_tables(data), data=data,
        vocabularies=vocabularies(), license=data_license(), citation=citation_text(version, date)).encode()
    entries[f"{folder}/CITATION.cff"] = citation_cff(version, date).encode()
    entries[f"{folder}/LICENSE"] = repo_file("LICENSE")
    entries[f"{folder}/LICENSE-DATA.md"] = repo_file("LICENSE-DATA.md")
    return _zip(entries, date)


# --------------------------------------------------------------------------- SQLite


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def create_table_sql(t: Table) -> list[str]:
    """CREATE TABLE (types, NOT NULL, primary key, unique sets, foreign keys) and its indexes."""
    cols = [f"  {_q(f.name)} {SQLITE_TYPES[f.type]}{' NOT NULL' if f.required else ''}" for f in t.fields]
    cons = [f"  PRIMARY KEY ({', '.join(map(_q, t.primary_key))})"]
    cons += [f"  UNIQUE ({', '.join(map(_q, u))})" for u in t.unique]
    cons += [f"  FOREIGN KEY ({_q(fk.column)}) REFERENCES {_q(fk.table)} ({_q(fk.ref_column)})"
             for fk in t.foreign_keys]
    stmts = [f"CREATE TABLE {_q(t.name)} (\n" + ",\n".join(cols + cons) + "\n)"]
    indexed = set()
    for fk in t.foreign_keys:
        indexed.add(fk.column)
        stmts.append(f"CREATE INDEX {_q(f'idx_{t.name}_{fk.column}')} ON {_q(t.name)} ({_q(fk.column)})")
    for col in ("metric", "status", "country", "kind"):
        if col in t.columns and col not in indexed and (col,) != t.primary_key:
            stmts.append(f"CREATE INDEX {_q(f'idx_{t.name}_{col}')} ON {_q(t.name)} ({_q(col)})")
    return stmts


def headline_view_sql() -> str | None:
    """Until a ``headline`` table is declared: a view of each operation's worldwide figures."""
    o = {f.name for f in declarations()["outcomes"].fields}
    where = []
    if "scope" in o:
        where.append("o.scope = 'worldwide'")
    else:
        where += ["o.country IS NULL"] + (["o.area IS NULL"] if "area" in o else [])
    if "offender_role" in o:
        where.append("o.offender_role IS NULL")
    if "subgroup" in o:
        where.append("o.subgroup IS NULL")
    if "part_of" in o:
        where.append("o.part_of IS NULL")
    return ("CREATE VIEW headline AS\nSELECT o.operation_id, p.name AS operation, o.metric, o.value, "
            "o.value_low, o.value_high, o.unit, o.status, o.n_sources, o.outcome_id\n"
            "FROM outcomes o JOIN operations p ON p.operation_id = o.operation_id\n"
            f"WHERE {' AND '.join(where)}\nORDER BY o.operation_id, o.metric")


def _sqlite_value(v):
    """A cell as SQLite stores it: dates as ISO text, whole floats as integers."""
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def plain_text(markdown: str | None) -> str | None:
    """A description as plain text (Datasette shows descriptions raw): code marks dropped."""
    return markdown.replace("`", "") if markdown else markdown


def sqlite_bytes(data: dict) -> bytes:
    """A SQLite database of every table, with keys, foreign keys, indexes and the headline view."""
    con = sqlite3.connect(":memory:")  # built in memory and serialised: no temporary file
    try:
        con.execute("PRAGMA foreign_keys = ON")
        for t in released_tables(data):
            for stmt in create_table_sql(t):
                con.execute(stmt)
        # insert in dependency order; self-references need their rows in one transaction
        con.execute("PRAGMA defer_foreign_keys = ON")
        with con:
            for t in released_tables(data):
                marks = ", ".join("?" * len(t.columns))
                rows = ([_sqlite_value(v) for v in row]
                        for row in data[t.name].select(t.columns).sort(list(t.primary_key)).iter_rows())
                con.executemany(f"INSERT INTO {_q(t.name)} VALUES ({marks})", rows)
        if HEADLINE not in data:
            con.execute(headline_view_sql())
        bad = con.execute("PRAGMA foreign_key_check").fetchall()
        if bad:
            raise ValueError(f"foreign keys broken in the SQLite export: {bad[:5]}")
        con.commit()
        con.execute("VACUUM")
        return con.serialize()
    finally:
        con.close()


def datasette_metadata(data: dict, version: str) -> dict:
    """Datasette's metadata: title, licence, and every table's and column's description."""
    tables = {}
    for t in released_tables(data):
        tables[t.name] = {"title": t.title, "description": plain_text(t.description),
                          "columns": {f.name: plain_text(f.description) for f in t.fields}}
        facets = [c for c in DATASETTE_FACETS if c in t.columns and (c,) != t.primary_key]
        if facets:
            tables[t.name]["facets"] = facets
    if HEADLINE not in data:
        tables[HEADLINE] = {"title": "Headline figures",
                            "description": "A view: each operation's worldwide figures (no per-country, "
                                           "per-offender or breakdown rows) from outcomes."}
    return {"title": f"opsledger {version}", "description": dataset().description,
            "license": dataset().data_license.name, "license_url": dataset().data_license.url,
            "databases": {"opsledger": {"tables": tables}}}


# --------------------------------------------------------------------------- Croissant


def croissant_context() -> dict:
    """The standard Croissant 1.0 JSON-LD context (with the responsible-AI prefix)."""
    keys = ["citeAs", "column", "conformsTo", "data", "dataType", "dct", "equivalentProperty", "examples",
            "extract", "field", "fileProperty", "fileObject", "fileSet", "format", "includes",
            "isLiveDataset", "jsonPath", "key", "md5", "parentField", "path", "recordSet", "references",
            "regex", "repeated", "replace", "samplingRate", "sc", "separator", "source", "subField",
            "transform"]
    special = {"data": {"@id": "cr:data", "@type": "@json"},
               "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
               "examples": {"@id": "cr:examples", "@type": "@json"},
               "conformsTo": "dct:conformsTo", "dct": "http://purl.org/dc/terms/", "sc": "https://schema.org/"}
    ctx = {"@language": "en", "@vocab": "https://schema.org/", "cr": "http://mlcommons.org/croissant/",
           "rai": "http://mlcommons.org/croissant/RAI/"}
    for k in keys:
        ctx[k] = special.get(k, f"cr:{k}")
    return ctx


def croissant(data: dict, version: str, date: str, files: dict[str, bytes]) -> dict:
    """Croissant 1.0 metadata of the release's Parquet tables, with its responsible-AI fields."""
    from opsledger.publishing.templates import render

    rai = json.loads(render("croissant-rai.json.j2", data=data))
    distribution, record_sets = [], []
    for t in released_tables(data):
        path = f"tables/{t.name}.parquet"
        distribution.append({
            "@type": "cr:FileObject", "@id": f"{t.name}.parquet", "name": f"{t.name}.parquet",
            "description": f"The {t.name} table ({t.title}), Parquet.", "contentUrl": path,
            "encodingFormat": "application/x-parquet", "sha256": hashlib.sha256(files[path]).hexdigest(),
            "contentSize": f"{len(files[path])} B"})
        fields = []
        for f in t.fields:
            field = {"@type": "cr:Field", "@id": f"{t.name}/{f.name}", "name": f.name,
                     "description": f.description, "dataType": CROISSANT_TYPES[f.type],
                     "source": {"fileObject": {"@id": f"{t.name}.parquet"}, "extract": {"column": f.name}}}
            # Foreign keys are not written as Croissant `references`: mlcroissant 1.1 reads them as joins
            # that fail on Parquet sources (and self-references make a cycle). They are declared in
            # datapackage.json and enforced in opsledger.sqlite.
            fields.append(field)
        rs = {"@type": "cr:RecordSet", "@id": t.name, "name": t.name, "description": t.description,
              "field": fields}
        rs["key"] = [{"@id": f"{t.name}/{c}"} for c in t.primary_key]
        if len(rs["key"]) == 1:
            rs["key"] = rs["key"][0]
        record_sets.append(rs)
    return {
        "@context": croissant_context(),
        "@type": "sc:Dataset",
        "conformsTo": "http://mlcommons.org/croissant/1.0",
        "name": "opsledger",
        "description": dataset().description,
        "version": version,
        "datePublished": date,
        "license": dataset().data_license.url,
        "creator": {"@type": "sc:Organization", "name": dataset().author},
        "citeAs": citation_text(version, date),
        "keywords": list(dataset().keywords),
        "isLiveDataset": False,
        **rai,
        "distribution": distribution,
        "recordSet": record_sets,
    }


def _json(obj) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode()


def export_files(data: dict, version: str, date: str, files: dict[str, bytes]) -> dict[str, bytes]:
    """The export files of a release; ``files`` holds the release's files so far (its Parquet tables)."""
    return {
        f"opsledger-{version}-csv.zip": csv_zip(data, version, date),
        "opsledger.sqlite": sqlite_bytes(data),
        "datasette-metadata.json": _json(datasette_metadata(data, version)),
        "croissant.json": _json(croissant(data, version, date, files)),
        "CITATION.cff": citation_cff(version, date).encode(),
        "LICENSE": repo_file("LICENSE"),
        "LICENSE-DATA.md": repo_file("LICENSE-DATA.md"),
    }
