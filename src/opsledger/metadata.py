"""The one declaration of every table, read from ``schemas/``.

``schemas/fields.toml`` declares each column once; ``schemas/<table>.toml`` lists a table's columns
(by name, with per-table overrides), its primary key and its named table rules;
``schemas/vocabularies.toml`` holds every controlled vocabulary. Everything else is derived from these
objects: the Arrow schema (:func:`Table.arrow_schema`), the pandera schema
(:mod:`opsledger.schema`), the data dictionary (:func:`data_dictionary`) and the Frictionless table
schema (:func:`Table.table_schema`).
"""

from __future__ import annotations

import functools
import os
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow as pa

#: Table names in dependency order (a table only references tables before it, or itself).
TABLES = (
    "sources",
    "agencies",
    "operations",
    "participations",
    "events",
    "outcomes",
    "statistics",
    "claims",
    "headline",
    "corrections",
)

ARROW_TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "date": pa.date32(),
    "boolean": pa.bool_(),
}


def schema_dir() -> Path:
    """Where the declarations live: ``$OPSLEDGER_SCHEMAS``, the copy inside a wheel, or the repo's."""
    if env := os.environ.get("OPSLEDGER_SCHEMAS"):
        return Path(env)
    bundled = Path(__file__).parent / "schemas"
    if bundled.is_dir():
        return bundled
    return Path(__file__).resolve().parents[2] / "schemas"


def repo_root() -> Path:
    return schema_dir().parent


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    description: str
    required: bool = False
    pattern: str | None = None
    vocabulary: str | None = None
    references: str | None = None
    iso_country: bool = False
    precision: str | None = None
    minimum: float | None = None

    @property
    def arrow_type(self) -> pa.DataType:
        return ARROW_TYPES[self.type]


@dataclass(frozen=True)
class ForeignKey:
    column: str
    table: str
    ref_column: str


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    description: str
    primary_key: tuple[str, ...]
    fields: tuple[Field, ...]
    unique: tuple[tuple[str, ...], ...] = ()
    checks: tuple[str, ...] = ()
    #: columns computed from other data (``derived = [...]`` in the table's TOML, ``"*"`` for a table
    #: computed entirely): never set by a change set
    derived: tuple[str, ...] = ()

    @property
    def is_derived(self) -> bool:
        """A table computed entirely from the others (such as ``headline``)."""
        return bool(self.fields) and set(self.derived) >= set(self.columns)

    @property
    def columns(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def key(self) -> str:
        return self.primary_key[0]

    @property
    def foreign_keys(self) -> list[ForeignKey]:
        fks = []
        for f in self.fields:
            if not f.references:  # empty string: no reference in this table
                continue
            table, col = f.references.split(".")
            if table == self.name and col == f.name:
                continue  # the table's own key
            fks.append(ForeignKey(f.name, table, col))
        return fks

    def arrow_schema(self) -> pa.Schema:
        return pa.schema(
            [
                pa.field(
                    f.name,
                    f.arrow_type,
                    nullable=not f.required,
                    metadata={"description": f.description},
                )
                for f in self.fields
            ],
            metadata={"table": self.name, "description": self.description},
        )

    def table_schema(self) -> dict:
        """Frictionless Table Schema for this table."""
        vocab = vocabularies()
        out_fields = []
        for f in self.fields:
            constraints: dict = {}
            if f.required:
                constraints["required"] = True
            if f.name in self.primary_key and len(self.primary_key) == 1:
                constraints["unique"] = True
            if f.pattern:
                constraints["pattern"] = f.pattern.removeprefix("^").removesuffix("$")
            if f.vocabulary:
                constraints["enum"] = sorted(vocab[f.vocabulary])
            if f.minimum is not None:
                constraints["minimum"] = f.minimum
            entry = {"name": f.name, "type": f.type, "description": f.description}
            if constraints:
                entry["constraints"] = constraints
            out_fields.append(entry)
        schema = {
            "fields": out_fields,
            "primaryKey": list(self.primary_key),
            # Parquet nulls reach frictionless (through fastparquet and pandas) as NaN in integer columns
            "missingValues": ["", "nan"],
        }
        fks = [
            {"fields": [fk.column], "reference": {"resource": fk.table, "fields": [fk.ref_column]}}
            for fk in self.foreign_keys
        ]
        if fks:
            schema["foreignKeys"] = fks
        return schema


def _load_toml(path: Path) -> dict:
    with path.open("rb") as fh:
        return tomllib.load(fh)


@functools.cache
def _fields(directory: Path) -> dict[str, Field]:
    raw = _load_toml(directory / "fields.toml")
    return {name: Field(name=name, **spec) for name, spec in raw.items()}


@functools.cache
def _vocabularies(directory: Path) -> dict[str, dict]:
    return _load_toml(directory / "vocabularies.toml")


@functools.cache
def _tables(directory: Path) -> dict[str, Table]:
    fields = _fields(directory)
    tables = {}
    for name in TABLES:
        raw = _load_toml(directory / f"{name}.toml")
        cols = []
        for entry in raw["fields"]:
            entry = {"name": entry} if isinstance(entry, str) else dict(entry)
            base = fields[entry.pop("name")]
            cols.append(replace(base, **entry))
        per_metric = raw.get("per_metric")
        if per_metric:
            for metric in per_metric["metrics"]:
                for spec in per_metric["columns"]:
                    base = fields[spec["from"]]
                    cols.append(replace(base, name=spec["pattern"].format(metric=metric),
                                        description=spec["description"].format(metric=metric),
                                        required=False, precision=None, references=None))
        derived = raw.get("derived", ())
        if derived == "*":
            derived = [c.name for c in cols]
        # tolerant: a listed column this version of the table does not have is ignored (the test
        # suite checks that every listed column exists)
        names = {c.name for c in cols}
        derived = [c for c in derived if c in names] if isinstance(derived, (list, tuple)) else []
        tables[name] = Table(
            name=name,
            title=raw["title"],
            description=raw["description"],
            primary_key=tuple(raw["primary_key"]),
            fields=tuple(cols),
            unique=tuple(tuple(u) for u in raw.get("unique", [])),
            checks=tuple(raw.get("checks", [])),
            derived=tuple(derived),
        )
    return tables


def declared_derived(directory: Path | None = None) -> dict[str, list[str]]:
    """``derived`` and ``derived_from_claims`` of every table as written in its TOML (unfiltered)."""
    directory = directory or schema_dir()
    out = {}
    for name in TABLES:
        raw = _load_toml(directory / f"{name}.toml")
        derived = raw.get("derived", [])
        out[name] = [] if derived == "*" else list(derived)
    return out


def vocabularies() -> dict[str, dict]:
    """Every controlled vocabulary: ``{name: {term: definition-or-table}}``."""
    return _vocabularies(schema_dir())


def tables() -> dict[str, Table]:
    """Every table declaration, in dependency order."""
    return _tables(schema_dir())


def table(name: str) -> Table:
    try:
        return tables()[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; tables are: {', '.join(TABLES)}") from None


def metric_unit(metric: str) -> str:
    return vocabularies()["metric"][metric]["unit"]


def metrics_with(attribute: str) -> frozenset[str]:
    """Metrics whose vocabulary entry sets ``attribute`` true (``running_total``, ``per_offender``)."""
    return frozenset(m for m, spec in vocabularies()["metric"].items() if spec.get(attribute))


def headline_metrics() -> tuple[str, ...]:
    """The metrics the headline table reports, in its column order."""
    raw = _load_toml(schema_dir() / "headline.toml")
    return tuple(raw["per_metric"]["metrics"])


def data_dictionary(data: dict | None = None) -> str:
    """The data dictionary (Markdown), generated from the declarations; with ``data`` (the tables),
    it ends with the dataset's coverage."""
    vocab = vocabularies()
    lines = [
        "# Data dictionary",
        "",
        "<!-- Generated by `opsledger dictionary` from schemas/. Do not edit by hand. -->",
        "",
        "Every table is one Parquet file in `datasets/` (and in each release). Types are Arrow types.",
        "Dates are `date32`: a date at month precision holds the month's first day, at year precision",
        "1 January; the `*_precision` column beside it says which. Bounds (`low`, `high`, `value_low`,",
        "`value_high`) are null where the sources set no bound.",
        "",
    ]
    for t in tables().values():
        lines += [f"## `{t.name}`: {t.title}", "", t.description, ""]
        lines.append(f"Primary key: `{', '.join(t.primary_key)}`.")
        for u in t.unique:
            lines.append(f"Unique together: `{', '.join(u)}`.")
        for fk in t.foreign_keys:
            lines.append(f"`{fk.column}` references `{fk.table}.{fk.ref_column}`.")
        if t.checks:
            lines.append(f"Table rules: {', '.join(f'`{c}`' for c in t.checks)}.")
        lines += ["", "| column | type | required | constraints | description |", "|---|---|---|---|---|"]
        for f in t.fields:
            cons = []
            if f.pattern:
                cons.append(f"pattern `{f.pattern}`")
            if f.vocabulary:
                cons.append(f"vocabulary `{f.vocabulary}`")
            if f.iso_country:
                cons.append("ISO 3166-1 alpha-2")
            if f.minimum is not None:
                cons.append(f">= {f.minimum:g}")
            if f.precision:
                cons.append(f"precision in `{f.precision}`")
            lines.append(
                f"| `{f.name}` | {f.arrow_type} | {'yes' if f.required else ''} | "
                f"{'; '.join(cons)} | {f.description} |"
            )
        lines.append("")
    lines += ["# Vocabularies", ""]
    for vname, terms in vocab.items():
        lines += [f"## Vocabulary: {vname}", ""]
        if vname == "metric":
            lines += ["Running total: counted up over time, so claims at different dates form a series "
                      "(the outcome reports the latest). One offender: the metric may describe a single "
                      "offender (`offender_role`).", "",
                      "| term | unit | applies to | running total | one offender | definition |",
                      "|---|---|---|---|---|---|"]
            for term, spec in terms.items():
                text = spec["definition"]
                for part in ("includes", "excludes", "examples"):
                    if spec.get(part):
                        text += f" <br>*{part.capitalize()}:* {spec[part]}"
                lines.append(f"| `{term}` | {spec['unit']} | {spec['applies_to']} | "
                             f"{'yes' if spec.get('running_total') else ''} | "
                             f"{'yes' if spec.get('per_offender') else ''} | {text} |")
        else:
            lines += ["| term | definition |", "|---|---|"]
            for term, definition in terms.items():
                lines.append(f"| `{term}` | {definition} |")
        lines.append("")
    if data is not None:
        from opsledger.coverage import coverage_markdown

        lines += ["# Coverage", "", coverage_markdown(data), ""]
    return "\n".join(lines)
