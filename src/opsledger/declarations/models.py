"""Typed models of the declarations in ``schemas/`` (pydantic, refusing unknown keys): a field, a table,
a metric, an ordering, the phrase rules. Each model renders its own targets (the Arrow schema, the
Frictionless table schema). Loading and caching are in :mod:`opsledger.declarations.load`."""

from __future__ import annotations

import re
from pathlib import Path
from collections.abc import Mapping
from typing import Any, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from pydantic import Field as _PField


ARROW_TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "date": pa.date32(),
    "boolean": pa.bool_(),
}

#: Files of ``schemas/`` that are not the declaration of one table.
NOT_TABLES = ("tables", "fields", "vocabularies", "phrase_rules", "dataset", "metric_words")

#: Orders ``[order.<vocabulary>]`` that the code reads, and what for.
REQUIRED_ORDERS = {
    "source_kind": "the preference of sources when choosing a best value",
    "timeline_stage": "the order of an operation's timeline",
}

#: A shorthand class that matches beyond ASCII (Python's and polars' regex engines are Unicode-aware):
#: a declared pattern guards ids, codes and paths, so it spells its classes out in ASCII.
UNICODE_CLASS = re.compile(r"(?<!\\)\\[dDwWsSbB]")

from opsledger.declarations.base import NAME, _Decl  # noqa: E402,F401
from opsledger.declarations.phrase_models import (ExcludesHome, Hedge, Language, PhraseRules,  # noqa: E402,F401
                                                  ReconcileRules, RelativeRules)


# --------------------------------------------------------------------------- models


class Field(_Decl):
    """One column, as ``fields.toml`` declares it (with a table's overrides applied)."""

    name: str
    type: Literal["string", "integer", "number", "date", "boolean"]
    description: str
    required: bool = False
    #: a regular expression every non-null value must match in full
    pattern: str | None = None
    #: a section of vocabularies.toml; every non-null value must be one of its terms
    vocabulary: str | None = None
    #: ``table.column`` every non-null value must exist in (``""``: no reference in this table)
    references: str | None = None
    iso_country: bool = False
    #: for a date, the column holding its precision (day / week / month / year / bounded)
    precision: str | None = None
    #: for a date that is an interval, the column holding its last day (this column holds the first)
    latest: str | None = None
    minimum: int | float | None = None
    #: longest string allowed (characters), e.g. a claim's quotation
    max_length: int | None = _PField(default=None, ge=1)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME.fullmatch(v):
            raise ValueError(f"column name {v!r} is not lowercase letters, digits and underscores")
        return v

    @field_validator("description")
    @classmethod
    def _described(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("description is empty")
        return v

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"pattern {v!r} is not a regular expression ({exc})") from None
            if not (v.startswith("^") and v.endswith("$")):
                raise ValueError(f"pattern {v!r} must start with ^ and end with $ (a value matches it in full)")
            if m := UNICODE_CLASS.search(v):
                raise ValueError(f"pattern {v!r} uses {m[0]}, which also matches non-ASCII characters "
                                 "(other scripts' digits, letters, spaces); write an ASCII class such as [0-9]")
        return v

    @field_validator("references")
    @classmethod
    def _references(cls, v: str | None) -> str | None:
        if v and not re.fullmatch(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*", v):
            raise ValueError(f'references {v!r} is not "table.column" (or "" for no reference)')
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Field:
        if self.precision is not None and self.type != "date":
            raise ValueError(f"precision {self.precision!r} is only for a date column, not a {self.type}")
        if self.latest is not None and (self.type != "date" or not self.precision):
            raise ValueError(f"latest {self.latest!r} is only for a date column with a precision column")
        if self.minimum is not None and self.type not in ("integer", "number"):
            raise ValueError(f"minimum is only for a number, not a {self.type}")
        for what, set_ in (("max_length", self.max_length is not None), ("vocabulary", bool(self.vocabulary)),
                           ("pattern", self.pattern is not None), ("iso_country", self.iso_country)):
            if set_ and self.type != "string":
                raise ValueError(f"{what} is only for a string column, not a {self.type}")
        return self

    @property
    def arrow_type(self) -> pa.DataType:
        return ARROW_TYPES[self.type]


class _FieldEntry(_Decl):
    """A column listed in ``<table>.toml`` with the declarations it overrides for that table only."""

    name: str
    required: bool | None = None
    description: str | None = None
    vocabulary: str | None = None
    references: str | None = None


class ForeignKey(_Decl):
    column: str
    table: str
    ref_column: str


class PerMetricColumn(_Decl):
    #: the column name, ``{metric}`` standing for the metric
    pattern: str
    #: the column (of fields.toml) whose type the new column takes
    from_: str = _PField(alias="from")
    description: str

    @field_validator("pattern", "description")
    @classmethod
    def _has_metric(cls, v: str) -> str:
        if "{metric}" not in v:
            raise ValueError(f"{v!r} does not hold {{metric}}")
        return v


class YearFrom(_Decl):
    """Where a derived year comes from (the headline's ``[year]``): the first of these that gives one."""

    #: ``announced``/``launched`` (the operation's date), ``events`` (its first dated event),
    #: ``claims`` (its earliest dated claim); each a term of the ``year_from`` vocabulary
    from_: tuple[str, ...] = _PField(alias="from", min_length=1)


class PerMetric(_Decl):
    """Columns repeated for each of some metrics (the headline table)."""

    metrics: tuple[str, ...]
    columns: tuple[PerMetricColumn, ...]


class FromOutcomes(_Decl):
    """``[from_outcomes]`` of a table computed from outcomes (the headline): which outcomes it reads."""

    #: columns an outcome must leave empty
    unset: tuple[str, ...] = ()
    #: scopes in order of preference: the first one the operation has a figure for is used
    scopes: tuple[str, ...] = ("worldwide",)


class _TableFile(_Decl):
    """``schemas/<table>.toml`` as written."""

    title: str
    description: str
    primary_key: tuple[str, ...] = _PField(min_length=1)
    fields: tuple[_FieldEntry, ...] = _PField(min_length=1)
    unique: tuple[tuple[str, ...], ...] = ()
    checks: tuple[str, ...] = ()
    derived: Literal["*"] | tuple[str, ...] = ()
    per_metric: PerMetric | None = None
    from_outcomes: FromOutcomes | None = None
    year: YearFrom | None = None
    claim_targets: tuple[str, ...] = ()
    #: every row needs a claim on these claim targets (``"*"``: a claim on any of its columns)
    claim_required: tuple[str, ...] = ()

    @field_validator("fields", mode="before")
    @classmethod
    def _names(cls, v: Any) -> Any:
        """A plain name is a column taken as fields.toml declares it."""
        return [{"name": e} if isinstance(e, str) else e for e in v] if isinstance(v, (list, tuple)) else v


class Table(_Decl):
    """One table: its columns (resolved from fields.toml), key, rules and what is derived."""

    name: str
    title: str
    description: str
    primary_key: tuple[str, ...]
    fields: tuple[Field, ...]
    unique: tuple[tuple[str, ...], ...] = ()
    #: named table rules (the schema-stage rules of ``opsledger.validation.rules.schema`` decided by a TableCheck)
    checks: tuple[str, ...] = ()
    #: columns computed from other data (``derived = [...]`` in the table's TOML, ``"*"`` for a table
    #: computed entirely): never set by a change set
    derived: tuple[str, ...] = ()
    #: the columns a claim can support (a claim's ``target_column`` when its ``target_table`` is this
    #: table); a date column among them is reconciled from the date claims, with its precision column
    claim_targets: tuple[str, ...] = ()
    #: every row needs a claim on these claim targets (``"*"``: a claim on any of its columns)
    claim_required: tuple[str, ...] = ()
    per_metric: PerMetric | None = None
    from_outcomes: FromOutcomes | None = None
    year: YearFrom | None = None

    @model_validator(mode="after")
    def _columns_exist(self) -> Table:
        cols = self.columns
        twice = sorted({c for c in cols if cols.count(c) > 1})
        if twice:
            raise ValueError(f"column {twice[0]!r} is listed twice")
        known = set(cols)

        def need(col: str, what: str) -> None:
            if col not in known:
                raise ValueError(f"{what} {col!r} is not a column of the table")

        for c in self.primary_key:
            need(c, "primary key column")
        for u in self.unique:
            for c in u:
                need(c, "unique column")
        for c in self.derived:
            need(c, "derived column")
        for f in self.fields:
            if f.precision and f.precision not in known:
                raise ValueError(f"column {f.name!r} names precision column {f.precision!r}, "
                                 "which is not a column of the table")
            if f.latest and f.latest not in known:
                raise ValueError(f"column {f.name!r} names latest column {f.latest!r}, "
                                 "which is not a column of the table")
        for c in self.claim_targets:
            need(c, "claim target column")
            f = self.field(c)
            if f.type == "date":
                if not f.precision:
                    raise ValueError(f"claim target {c!r} is a date without a precision column")
                missing = [x for x in (c, f.precision, f.latest) if x and x not in self.derived]
                if missing:
                    raise ValueError(f"claim target {c!r} is reconciled from the date claims, so "
                                     f"{missing[0]!r} must be listed in derived")
        for c in self.claim_required:
            if c != "*" and c not in self.claim_targets:
                raise ValueError(f"claim_required {c!r} is not one of the table's claim_targets")
        return self

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
            fks.append(ForeignKey(column=f.name, table=table, ref_column=col))
        return fks

    @property
    def date_targets(self) -> dict[str, tuple[str, str]]:
        """Claim target columns that hold dates: ``{column: (date column, precision column)}``."""
        out = {}
        for c in self.claim_targets:
            f = self.field(c)
            if f.type == "date" and f.precision:
                out[c] = (f.name, f.precision)
        return out

    @property
    def intervals(self) -> dict[str, tuple[str, str]]:
        """Dates that are intervals: ``{date column: (precision column, latest column)}``."""
        return {f.name: (f.precision, f.latest) for f in self.fields if f.latest and f.precision}

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

    def table_schema(self, vocab: Mapping[str, Any]) -> dict:
        """Frictionless Table Schema for this table (``vocab``: the vocabularies, for enum constraints)."""
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
            if f.max_length is not None:
                constraints["maxLength"] = f.max_length
            entry: dict[str, Any] = {"name": f.name, "type": f.type, "description": f.description}
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


class _TablesFile(_Decl):
    """``schemas/tables.toml``: every table, in dependency order."""

    order: tuple[str, ...] = _PField(min_length=1)


class Metric(_Decl):
    """A term of the ``metric`` vocabulary."""

    definition: str
    unit: str
    applies_to: Literal["outcome", "statistic"]
    #: counted up over time: claims at different dates form a series (the outcome reports the latest)
    running_total: bool = False
    #: the metric may describe a single offender (``offender_role``)
    per_offender: bool = False
    #: per-country parts of this metric add up to (at most) its total; false for durations, ages, shares
    additive: bool = True
    #: a metric whose worldwide figure this one's never exceeds (a part of it)
    at_most: str | None = None
    #: kinds of thing (the ``noun_kind`` vocabulary) this metric never counts: a phrase whose noun is
    #: of such a kind ("600 Internet addresses" for accounts) is reported
    not_counted: tuple[str, ...] = ()
    includes: str | None = None
    excludes: str | None = None
    examples: str | None = None


class Ordering(_Decl):
    """``[order.<vocabulary>]``: every term of a vocabulary, first first, and what the order means."""

    terms: tuple[str, ...]
    why: str


class ScopeShape(_Decl):
    """Which of ``country`` and ``area`` a row of one scope names."""

    country: bool
    area: bool


class TimelineStage(_Decl):
    """Where one stage of an operation's timeline is dated: a date column of a table, for the rows whose
    ``kind`` (events) or ``metric`` (outcomes) is the one given."""

    table: str
    column: str
    kind: str | None = None
    metric: str | None = None


class _VocabularyFile(BaseModel):
    """``schemas/vocabularies.toml``: ``[metric.<term>]`` tables, ``[order.<vocabulary>]`` orders, and
    every other section one vocabulary of ``term = "definition"``."""

    model_config = ConfigDict(frozen=True, extra="allow")

    metric: dict[str, Metric]
    order: dict[str, Ordering] = {}
    scope_shape: dict[str, ScopeShape] = {}
    timeline: dict[str, TimelineStage] = {}
    #: days each date precision allows between an interval's first and last day (bounded: any)
    precision_days: dict[str, int] = {}

    @model_validator(mode="after")
    def _check(self) -> _VocabularyFile:
        vocabs = self.vocabularies()
        for term in self.precision_days:
            if term not in vocabs.get("date_precision", {}):
                raise ValueError(f"[precision_days]: {term!r} is not a term of date_precision")
        for name, terms_ in vocabs.items():
            if not NAME.fullmatch(name):
                raise ValueError(f"vocabulary name {name!r} is not lowercase letters, digits and underscores")
            if not isinstance(terms_, dict) or not terms_:
                raise ValueError(f"[{name}]: a vocabulary is a table of at least one term = definition")
            for term, definition in terms_.items():
                if not NAME.fullmatch(term):
                    raise ValueError(f"[{name}]: term {term!r} is not lowercase letters, digits and underscores")
                if name != "metric" and not (isinstance(definition, str) and definition.strip()):
                    raise ValueError(f"[{name}]: term {term!r} needs a definition (a non-empty string)")
        units = vocabs.get("unit")
        if units is None:
            raise ValueError("[unit]: the unit vocabulary is missing")
        for term, m in self.metric.items():
            if m.unit not in units:
                raise ValueError(f"[metric.{term}]: unit {m.unit!r} is not a term of the unit vocabulary")
            if m.at_most is not None and m.at_most not in self.metric:
                raise ValueError(f"[metric.{term}]: at_most {m.at_most!r} is not a metric")
        scopes = vocabs.get("scope", {})
        if set(self.scope_shape) != set(scopes):
            raise ValueError(f"[scope_shape]: declare the shape of every scope ({', '.join(scopes)}) and no other")
        stages = vocabs.get("timeline_stage", {})
        if self.timeline and set(self.timeline) != set(stages):
            raise ValueError(f"[timeline]: declare where every timeline stage ({', '.join(stages)}) is dated, and no other")
        for name, o in self.order.items():
            if name not in vocabs:
                raise ValueError(f"[order.{name}]: there is no vocabulary {name!r}")
            terms = list(vocabs[name])
            if len(set(o.terms)) != len(o.terms) or set(o.terms) != set(terms):
                extra = [t for t in o.terms if t not in terms]
                lost = [t for t in terms if t not in o.terms]
                what = (f"{extra[0]!r} is not a term of {name}" if extra else
                        f"it leaves out {lost[0]!r}" if lost else "a term is listed twice")
                raise ValueError(f"[order.{name}]: terms must list every term of {name} once; {what}")
        for name, why in REQUIRED_ORDERS.items():
            if name not in self.order:
                raise ValueError(f"[order.{name}] is missing: it declares {why}")
        return self

    def vocabularies(self) -> dict[str, dict]:
        return {"metric": self.metric, **(self.model_extra or {})}


class License(_Decl):
    id: str
    name: str
    url: str | None = None


class SiteSettings(_Decl):
    #: worldwide figures shown as columns of the site index's table of operations
    index_metrics: tuple[str, ...] = ()


class CoverageSettings(_Decl):
    #: region -> ISO 3166-1 alpha-2 codes of its countries (for the datasheet's coverage by region)
    regions: dict[str, tuple[str, ...]] = {}


class Dataset(_Decl):
    """``schemas/dataset.toml``: the dataset's identity, written once for every output and citation."""

    title: str
    abstract: str
    authors: list[str] = _PField(min_length=1)
    keywords: list[str] = []
    #: the repository's address (https); a release's files are at ``<repository>/releases/tag/v<version>``
    repository: str = _PField(pattern=r"^https://[^\s/]+/\S+[^/\s]$")
    #: the date of the version the repository holds (``YYYY-MM-DD``)
    version_date: str = _PField(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    #: the DOI of an archive deposit, once there is one
    doi: str | None = _PField(default=None, pattern=r"^10\.[0-9]{4,9}/\S+$")
    data_license: License
    code_license: License
    site: SiteSettings = SiteSettings()
    coverage: CoverageSettings = CoverageSettings()

    @property
    def description(self) -> str:
        return self.abstract

    @property
    def author(self) -> str:
        """The authors as one line ("A", "A and B", "A, B and C")."""
        n = self.authors
        return n[0] if len(n) == 1 else ", ".join(n[:-1]) + " and " + n[-1]

    @property
    def license(self) -> str:
        """The data licence's id (SPDX)."""
        return self.data_license.id


#: the name the citation code uses for the same declaration
Identity = Dataset


class Declarations:
    """Everything ``schemas/`` declares, validated (see :func:`declarations`)."""

    def __init__(self, directory: Path, fields: dict[str, Field], tables: dict[str, Table],
                 vocabularies: dict[str, dict], orders: dict[str, Ordering], phrase_rules: dict[str, Any],
                 phrase_model: PhraseRules, vocabulary_file: _VocabularyFile, dataset: Dataset,
                 metric_words: dict[str, dict[str, str]] | None = None):
        self.directory = directory
        self.fields = fields
        self.tables = tables
        self.vocabularies = vocabularies
        self.orders = orders
        self.phrase_rules = phrase_rules
        self.phrase_model = phrase_model
        self.vocabulary_file = vocabulary_file
        self.dataset = dataset
        #: language -> {word stem: metric} (``schemas/metric_words.toml``)
        self.metric_words = metric_words or {}
