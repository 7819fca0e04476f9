"""The one declaration of every table, read from ``schemas/`` and validated.

``schemas/tables.toml`` lists the tables in dependency order; ``schemas/fields.toml`` declares each
column once; ``schemas/<table>.toml`` lists a table's columns (by name, with per-table overrides), its
primary key, its named table rules, its derived columns and the columns a claim can support
(``claim_targets``); ``schemas/vocabularies.toml`` holds every controlled vocabulary and, under
``[order.<vocabulary>]``, the vocabularies whose order means something (source preference, timeline
stages); ``schemas/phrase_rules.toml`` how a stated phrase becomes an interval.

Every file is loaded into pydantic models that refuse an unknown key, and the declarations are checked
against each other (a key, unique set, derived column or claim target names a column of its table; a
foreign key names a declared table and column; a vocabulary named by a column exists; the table order
respects the foreign keys ...). A bad declaration raises :class:`~opsledger.errors.DeclarationError`
(exit 2) whose one-line message names the file, the table or field, and what is wrong.

Everything else is derived from these objects: the Arrow schema (:func:`Table.arrow_schema`), the
pandera schema (:mod:`opsledger.schema`), the data dictionary (:func:`data_dictionary`), the
Frictionless table schema (:func:`Table.table_schema`), and the facts the rules need
(:func:`claim_keys`, :func:`date_targets`, :func:`target_columns`, :func:`source_preference`,
:func:`timeline_rank` ...).
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator
from pydantic import Field as _PField

from opsledger.errors import DeclarationError

ARROW_TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "date": pa.date32(),
    "boolean": pa.bool_(),
}

#: Files of ``schemas/`` that are not the declaration of one table.
NOT_TABLES = ("tables", "fields", "vocabularies", "phrase_rules")

#: Orders ``[order.<vocabulary>]`` that the code reads, and what for.
REQUIRED_ORDERS = {
    "source_kind": "the preference of sources when choosing a best value",
    "timeline_stage": "the order of an operation's timeline",
}

#: A name of a table, column, vocabulary or term: lowercase letters, digits and underscores.
NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def schema_dir() -> Path:
    """Where the declarations live: ``$OPSLEDGER_SCHEMAS``, the copy inside a wheel, or the repo's.
    (Called on every lookup of a declaration: the answer is cached per value of the variable.)"""
    return _schema_dir(os.environ.get("OPSLEDGER_SCHEMAS") or None)


@functools.lru_cache(maxsize=16)
def _schema_dir(env: str | None) -> Path:
    if env:
        return Path(env)
    bundled = Path(__file__).parent / "schemas"
    if bundled.is_dir():
        return bundled
    return Path(__file__).resolve().parents[2] / "schemas"


def repo_root() -> Path:
    return schema_dir().parent


# --------------------------------------------------------------------------- models


class _Decl(BaseModel):
    """A declaration: immutable, and an unknown key is an error (a typo never passes silently)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


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
    #: for a date, the column holding its precision (day / month / year)
    precision: str | None = None
    minimum: int | float | None = None
    #: longest string allowed (characters), e.g. a claim's quotation
    max_length: int | None = _PField(default=None, ge=1)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME.match(v):
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


class PerMetric(_Decl):
    """Columns repeated for each of some metrics (the headline table)."""

    metrics: tuple[str, ...]
    columns: tuple[PerMetricColumn, ...]


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
    claim_targets: tuple[str, ...] = ()

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
    #: named table rules (``opsledger.schema.TABLE_RULES``)
    checks: tuple[str, ...] = ()
    #: columns computed from other data (``derived = [...]`` in the table's TOML, ``"*"`` for a table
    #: computed entirely): never set by a change set
    derived: tuple[str, ...] = ()
    #: the columns a claim can support (a claim's ``target_column`` when its ``target_table`` is this
    #: table); a date column among them is reconciled from the date claims, with its precision column
    claim_targets: tuple[str, ...] = ()
    per_metric: PerMetric | None = None

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
        for c in self.claim_targets:
            need(c, "claim target column")
            f = self.field(c)
            if f.type == "date":
                if not f.precision:
                    raise ValueError(f"claim target {c!r} is a date without a precision column")
                missing = [x for x in (c, f.precision) if x not in self.derived]
                if missing:
                    raise ValueError(f"claim target {c!r} is reconciled from the date claims, so "
                                     f"{missing[0]!r} must be listed in derived")
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
    includes: str | None = None
    excludes: str | None = None
    examples: str | None = None


class Ordering(_Decl):
    """``[order.<vocabulary>]``: every term of a vocabulary, first first, and what the order means."""

    terms: tuple[str, ...]
    why: str


class _VocabularyFile(BaseModel):
    """``schemas/vocabularies.toml``: ``[metric.<term>]`` tables, ``[order.<vocabulary>]`` orders, and
    every other section one vocabulary of ``term = "definition"``."""

    model_config = ConfigDict(frozen=True, extra="allow")

    metric: dict[str, Metric]
    order: dict[str, Ordering] = {}

    @model_validator(mode="after")
    def _check(self) -> _VocabularyFile:
        vocabs = self.vocabularies()
        for name, terms_ in vocabs.items():
            if not NAME.match(name):
                raise ValueError(f"vocabulary name {name!r} is not lowercase letters, digits and underscores")
            if not isinstance(terms_, dict) or not terms_:
                raise ValueError(f"[{name}]: a vocabulary is a table of at least one term = definition")
            for term, definition in terms_.items():
                if not NAME.match(term):
                    raise ValueError(f"[{name}]: term {term!r} is not lowercase letters, digits and underscores")
                if name != "metric" and not (isinstance(definition, str) and definition.strip()):
                    raise ValueError(f"[{name}]: term {term!r} needs a definition (a non-empty string)")
        units = vocabs.get("unit")
        if units is None:
            raise ValueError("[unit]: the unit vocabulary is missing")
        for term, m in self.metric.items():
            if m.unit not in units:
                raise ValueError(f"[metric.{term}]: unit {m.unit!r} is not a term of the unit vocabulary")
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


class Hedge(_Decl):
    """``[hedge.<qualifier>]`` of phrase_rules.toml: how a hedge turns the figure into bounds."""

    low_factor: float | None = None
    low_steps: int = 0
    high_factor: float | None = None
    high_steps: int = 0
    rounding: bool = False
    why: str


class ExcludesHome(_Decl):
    other: tuple[str, ...] = ()
    country: tuple[str, ...] = ()


class Language(_Decl):
    """``[language.<iso 639-1>]`` of phrase_rules.toml: every word the phrase rules read in a language."""

    decimal: str
    group: tuple[str, ...]
    range_prefix: tuple[str, ...] = ()
    range_joiner: tuple[str, ...] = ()
    range_joiner_after_prefix: tuple[str, ...] = ()
    part_joiner: tuple[str, ...] = ()
    date_preposition: tuple[str, ...] = ()
    date_filler: tuple[str, ...] = ()
    year_filler: tuple[str, ...] = ()
    excludes_home: ExcludesHome = ExcludesHome()
    hedge: dict[str, str] = {}
    magnitude: dict[str, tuple[float, float]] = {}
    #: word -> (unit, factor to the unit, rounding slack in the unit)
    unit_word: dict[str, tuple[str, float, float]] = {}
    scale: dict[str, float] = {}
    number_word: dict[str, float] = {}
    part_of_year: dict[str, tuple[int, int]] = {}
    month: dict[str, int] = {}

    @model_validator(mode="after")
    def _check(self) -> Language:
        for word, (lo, hi) in self.magnitude.items():
            if lo > hi:
                raise ValueError(f"magnitude {word!r}: {lo:g} is above {hi:g}")
        for word, (first, last) in self.part_of_year.items():
            if not 1 <= first <= last <= 12:
                raise ValueError(f"part_of_year {word!r}: months {first} to {last} are not within 1 to 12")
        for word, m in self.month.items():
            if not 1 <= m <= 12:
                raise ValueError(f"month {word!r}: {m} is not a month (1 to 12)")
        return self


class ReconcileRules(_Decl):
    running_total_window_days: int = _PField(ge=0)
    wording: str


class PhraseRules(_Decl):
    """``schemas/phrase_rules.toml``."""

    hedge: dict[str, Hedge]
    step: dict[str, float]
    currency: dict[str, tuple[str, ...]] = {}
    language: dict[str, Language]
    reconcile: ReconcileRules

    @model_validator(mode="after")
    def _check(self) -> PhraseRules:
        for unit, s in self.step.items():
            if s <= 0:
                raise ValueError(f"[step]: the step of {unit!r} must be above 0, not {s:g}")
        for sign, units in self.currency.items():
            for u in units:
                if u not in self.step:
                    raise ValueError(f"[currency]: {sign!r} stands for {u!r}, which has no rounding step in [step]")
        for code, lang in self.language.items():
            if not re.fullmatch(r"[a-z]{2}", code):
                raise ValueError(f"[language.{code}]: a language is named by its ISO 639-1 code (two letters)")
            for word, q in lang.hedge.items():
                if q not in self.hedge:
                    raise ValueError(f"[language.{code}.hedge]: {word!r} names hedge {q!r}, which has no [hedge.{q}]")
            for word, (unit, _f, _s) in lang.unit_word.items():
                if unit not in self.step:
                    raise ValueError(f"[language.{code}.unit_word]: {word!r} names unit {unit!r}, "
                                     "which has no rounding step in [step]")
        return self


class Declarations:
    """Everything ``schemas/`` declares, validated (see :func:`declarations`)."""

    def __init__(self, directory: Path, fields: dict[str, Field], tables: dict[str, Table],
                 vocabularies: dict[str, dict], orders: dict[str, Ordering], phrase_rules: dict[str, Any],
                 phrase_model: PhraseRules):
        self.directory = directory
        self.fields = fields
        self.tables = tables
        self.vocabularies = vocabularies
        self.orders = orders
        self.phrase_rules = phrase_rules
        self.phrase_model = phrase_model


# --------------------------------------------------------------------------- loading


def _where(directory: Path, file: str) -> str:
    """How a message names a declaration file (never by a machine path)."""
    return f"{directory.name}/{file}"


def _load_toml(path: Path) -> dict:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise DeclarationError(f"{_where(path.parent, path.name)}: no such declaration file") from None
    except tomllib.TOMLDecodeError as exc:
        raise DeclarationError(f"{_where(path.parent, path.name)}: not valid TOML ({exc})") from None


def _problem(err: Any, strip: int = 0) -> str:
    """One pydantic error as a phrase: where (the key path) and what."""
    loc = [str(x) for x in err["loc"][strip:]]
    kind = err["type"]
    if kind == "extra_forbidden":
        where = ".".join(loc[:-1])
        return f"{where + ': ' if where else ''}unknown key {loc[-1]!r}"
    if kind == "missing":
        where = ".".join(loc[:-1])
        return f"{where + ': ' if where else ''}missing key {loc[-1]!r}"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{'.'.join(loc)}: {msg}" if loc else msg


def _refuse(file: str, subject: str | None, exc: ValidationError, strip: int = 0) -> DeclarationError:
    # a misspelt key is both unknown and (under its right name) missing: name the unknown one first
    errs = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    more = f" (and {len(errs) - 1} more problem{'s' if len(errs) > 2 else ''})" if len(errs) > 1 else ""
    head = f"{file}: {subject + ': ' if subject else ''}"
    return DeclarationError(f"{head}{_problem(errs[0], strip)}{more}")


def _load_fields(directory: Path) -> dict[str, Field]:
    file = _where(directory, "fields.toml")
    out = {}
    for name, spec in _load_toml(directory / "fields.toml").items():
        if not isinstance(spec, dict):
            raise DeclarationError(f"{file}: field {name}: a field is a table ([{name}]), not a value")
        try:
            out[name] = Field.model_validate({"name": name, **spec})
        except ValidationError as exc:
            raise _refuse(file, f"field {name}", exc) from None
    return out


def _load_vocabularies(directory: Path) -> tuple[dict[str, dict], _VocabularyFile]:
    raw = _load_toml(directory / "vocabularies.toml")
    try:
        return {k: v for k, v in raw.items() if k != "order"}, _VocabularyFile.model_validate(raw)
    except ValidationError as exc:
        raise _refuse(_where(directory, "vocabularies.toml"), None, exc) from None


def _load_table(directory: Path, name: str, fields: dict[str, Field]) -> Table:
    file = _where(directory, f"{name}.toml")
    subject = f"table {name}"
    doc = _load_toml(directory / f"{name}.toml")
    try:
        raw = _TableFile.model_validate(doc)
    except ValidationError as exc:
        loc = exc.errors()[0]["loc"]
        entries = doc.get("fields")
        if len(loc) > 2 and loc[0] == "fields" and isinstance(loc[1], int) and isinstance(entries, list) \
                and loc[1] < len(entries) and isinstance(entries[loc[1]], dict) and "name" in entries[loc[1]]:
            raise _refuse(file, f"{subject}: column {entries[loc[1]]['name']}", exc, strip=2) from None
        raise _refuse(file, subject, exc) from None
    cols = []
    for entry in raw.fields:
        if entry.name not in fields:
            raise DeclarationError(f"{file}: {subject}: column {entry.name!r} is not declared in fields.toml")
        base = fields[entry.name]
        overrides = entry.model_dump(exclude_unset=True, exclude={"name"})
        try:
            cols.append(Field.model_validate({**base.model_dump(), **overrides}))
        except ValidationError as exc:
            raise _refuse(file, f"{subject}: column {entry.name}", exc) from None
    if raw.per_metric:
        for metric in raw.per_metric.metrics:
            for spec in raw.per_metric.columns:
                if spec.from_ not in fields:
                    raise DeclarationError(f"{file}: {subject}: per_metric column {spec.pattern!r} takes its "
                                           f"type from {spec.from_!r}, which is not declared in fields.toml")
                spec_ = fields[spec.from_].model_dump()
                spec_.update(name=spec.pattern.format(metric=metric),
                             description=spec.description.format(metric=metric),
                             required=False, precision=None, references=None)
                cols.append(Field.model_validate(spec_))
    derived = [f.name for f in cols] if raw.derived == "*" else list(raw.derived)
    try:
        return Table(name=name, title=raw.title, description=raw.description, primary_key=raw.primary_key,
                     fields=tuple(cols), unique=raw.unique, checks=raw.checks, derived=tuple(derived),
                     claim_targets=raw.claim_targets, per_metric=raw.per_metric)
    except ValidationError as exc:
        raise _refuse(file, subject, exc) from None


def _load_phrase_rules(directory: Path) -> tuple[dict[str, Any], PhraseRules]:
    raw = _load_toml(directory / "phrase_rules.toml")
    try:
        return raw, PhraseRules.model_validate(raw)
    except ValidationError as exc:
        raise _refuse(_where(directory, "phrase_rules.toml"), None, exc) from None


def _cross_check(d: Declarations) -> None:
    """The declarations against each other; the first problem found is raised."""
    directory, tables, vocab = d.directory, d.tables, d.vocabularies
    order = list(tables)

    def fail(file: str, subject: str, problem: str) -> None:
        raise DeclarationError(f"{_where(directory, file)}: {subject}: {problem}")

    for name, f in d.fields.items():
        if f.vocabulary and f.vocabulary not in vocab:
            fail("fields.toml", f"field {name}", f"vocabulary {f.vocabulary!r} is not declared in vocabularies.toml")
    for t in tables.values():
        file = f"{t.name}.toml"
        for f in t.fields:
            if f.vocabulary and f.vocabulary not in vocab:
                fail(file, f"table {t.name}: column {f.name}",
                     f"vocabulary {f.vocabulary!r} is not declared in vocabularies.toml")
        for fk in t.foreign_keys:
            # a reference comes from fields.toml unless the table overrides it
            base = d.fields.get(fk.column)
            src = "fields.toml" if base is not None and base.references == f"{fk.table}.{fk.ref_column}" else file
            subject = f"field {fk.column} (in table {t.name})" if src == "fields.toml" else \
                f"table {t.name}: column {fk.column}"
            if fk.table not in tables:
                fail(src, subject, f"references table {fk.table!r}, which is not declared (tables.toml)")
            if fk.ref_column not in tables[fk.table].columns:
                fail(src, subject, f"references {fk.table}.{fk.ref_column}, but {fk.table} has no column "
                                   f"{fk.ref_column!r}")
            if order.index(fk.table) > order.index(t.name):
                fail("tables.toml", "order", f"table {t.name} references {fk.table}, so {fk.table} must come "
                                             f"before {t.name}")
        if t.per_metric:
            for m in t.per_metric.metrics:
                if m not in vocab["metric"]:
                    fail(file, f"table {t.name}: per_metric", f"metric {m!r} is not a term of the metric vocabulary")
    targets = {t.name for t in tables.values() if t.claim_targets}
    if "claim_target" in vocab:
        terms = set(vocab["claim_target"])
        for name in sorted(terms - targets):
            what = "is not a declared table" if name not in tables else "declares no claim_targets"
            fail("vocabularies.toml", "vocabulary claim_target", f"term {name!r} {what}")
        for name in sorted(targets - terms):
            fail(f"{name}.toml", f"table {name}",
                 "declares claim_targets but is not a term of the claim_target vocabulary (vocabularies.toml)")
    rules = d.phrase_model
    for q in rules.hedge:
        if "qualifier" in vocab and q not in vocab["qualifier"]:
            fail("phrase_rules.toml", f"hedge.{q}", f"{q!r} is not a term of the qualifier vocabulary")
    for unit in vocab.get("unit", {}):
        if unit not in rules.step:
            fail("phrase_rules.toml", "step", f"unit {unit!r} (vocabularies.toml) has no rounding step")


@functools.cache
def _declarations(directory: Path) -> Declarations:
    tables_file = _where(directory, "tables.toml")
    try:
        listing = _TablesFile.model_validate(_load_toml(directory / "tables.toml"))
    except ValidationError as exc:
        raise _refuse(tables_file, None, exc) from None
    names = list(listing.order)
    for name in names:
        if name in NOT_TABLES or not NAME.match(name):
            raise DeclarationError(f"{tables_file}: order: {name!r} cannot name a table")
        if names.count(name) > 1:
            raise DeclarationError(f"{tables_file}: order: table {name!r} is listed twice")
        if not (directory / f"{name}.toml").is_file():
            raise DeclarationError(f"{tables_file}: order: table {name!r} has no declaration {name}.toml")
    for path in sorted(directory.glob("*.toml")):
        if path.stem not in NOT_TABLES and path.stem not in names:
            raise DeclarationError(f"{_where(directory, path.name)}: table {path.stem} is not listed in the "
                                   "order of tables.toml")
    fields = _load_fields(directory)
    vocabs, vocab_file = _load_vocabularies(directory)
    tables = {name: _load_table(directory, name, fields) for name in names}
    raw_rules, rules_model = _load_phrase_rules(directory)
    d = Declarations(directory, fields, tables, vocabs, dict(vocab_file.order), raw_rules, rules_model)
    _cross_check(d)
    return d


def declarations() -> Declarations:
    """Every declaration of ``schemas/`` (or ``$OPSLEDGER_SCHEMAS``), validated; loaded once per
    directory. Raises :class:`~opsledger.errors.DeclarationError` for a bad declaration."""
    return _declarations(schema_dir())


def clear_caches() -> None:
    """Forget the loaded declarations (after a declaration file changed, e.g. in a test)."""
    _declarations.cache_clear()


def check() -> None:
    """Load and check every declaration (raises :class:`~opsledger.errors.DeclarationError`)."""
    declarations()


def _tables(directory: Path) -> dict[str, Table]:
    return _declarations(directory).tables


def _fields(directory: Path) -> dict[str, Field]:
    return _declarations(directory).fields


def _vocabularies(directory: Path) -> dict[str, dict]:
    return _declarations(directory).vocabularies


# --------------------------------------------------------------------------- accessors


def table_order() -> tuple[str, ...]:
    """Table names in dependency order (``schemas/tables.toml``): a table only references tables
    before it, or itself."""
    return tuple(declarations().tables)


def declared_derived(directory: Path | None = None) -> dict[str, list[str]]:
    """``derived`` of every table as its TOML lists it (``[]`` for a table derived entirely, ``"*"``)."""
    d = _declarations(directory or schema_dir())
    return {name: [] if t.is_derived else list(t.derived) for name, t in d.tables.items()}


def vocabularies() -> dict[str, dict]:
    """Every controlled vocabulary: ``{name: {term: definition-or-table}}``."""
    return declarations().vocabularies


def vocabulary_order(name: str) -> tuple[str, ...]:
    """The terms of an ordered vocabulary (``[order.<name>]`` of vocabularies.toml), first first."""
    orders = declarations().orders
    if name not in orders:
        raise KeyError(f"vocabulary {name!r} declares no order ([order.{name}] in vocabularies.toml)")
    return orders[name].terms


def source_preference() -> dict[str, int]:
    """Source kind -> rank when choosing a best value (0 preferred): ``[order.source_kind]``."""
    return {term: i for i, term in enumerate(vocabulary_order("source_kind"))}


def timeline_rank() -> dict[str, int]:
    """Timeline stage -> rank (``[order.timeline_stage]``): an item of lower rank may not start after
    an item of higher rank ends."""
    return {term: i for i, term in enumerate(vocabulary_order("timeline_stage"))}


def tables() -> dict[str, Table]:
    """Every table declaration, in dependency order."""
    return declarations().tables


def table(name: str) -> Table:
    try:
        return tables()[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; tables are: {', '.join(tables())}") from None


def claim_keys() -> dict[str, str]:
    """Tables a claim can support -> their key column (the tables declaring ``claim_targets``)."""
    return {name: t.key for name, t in tables().items() if t.claim_targets}


def target_columns() -> dict[str, set[str]]:
    """Tables a claim can support -> the columns a claim may name as its ``target_column``."""
    return {name: set(t.claim_targets) for name, t in tables().items() if t.claim_targets}


def date_targets() -> dict[tuple[str, str], tuple[str, str]]:
    """(table, target column) -> (date column, precision column): the dates reconciled from claims."""
    return {(name, col): dp for name, t in tables().items() for col, dp in t.date_targets.items()}


def date_columns() -> frozenset[str]:
    """Claim target columns that hold dates (in any table)."""
    return frozenset(col for _t, col in date_targets())


def phrase_rules() -> dict[str, Any]:
    """``schemas/phrase_rules.toml`` as written (validated)."""
    return declarations().phrase_rules


def metric_unit(metric: str) -> str:
    return vocabularies()["metric"][metric]["unit"]


def metrics_with(attribute: str) -> frozenset[str]:
    """Metrics whose vocabulary entry sets ``attribute`` true (``running_total``, ``per_offender``)."""
    return frozenset(m for m, spec in vocabularies()["metric"].items() if spec.get(attribute))


def headline_metrics() -> tuple[str, ...]:
    """The metrics the headline table reports, in its column order."""
    pm = table("headline").per_metric
    return pm.metrics if pm else ()


# --------------------------------------------------------------------------- live module constants


class LiveSequence(Sequence):
    """A tuple computed from the declarations on every use (so it follows ``$OPSLEDGER_SCHEMAS``)."""

    def __init__(self, get: Callable[[], Sequence]):
        self._get = get

    def __getitem__(self, i):  # type: ignore[override]
        return self._get()[i]

    def __len__(self) -> int:
        return len(self._get())

    def __iter__(self) -> Iterator:
        return iter(self._get())

    def __contains__(self, x: object) -> bool:
        return x in self._get()

    def __eq__(self, other: object) -> bool:
        return tuple(self) == (tuple(other) if isinstance(other, Sequence) else other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(tuple(self))


class LiveMapping(Mapping):
    """A dict computed from the declarations on every use."""

    def __init__(self, get: Callable[[], Mapping]):
        self._get = get

    def __getitem__(self, k):
        return self._get()[k]

    def __len__(self) -> int:
        return len(self._get())

    def __iter__(self) -> Iterator:
        return iter(self._get())

    def __repr__(self) -> str:
        return repr(dict(self._get()))


class LiveSet(Set):
    """A frozenset computed from the declarations on every use."""

    def __init__(self, get: Callable[[], Set]):
        self._get = get

    def __contains__(self, x: object) -> bool:
        return x in self._get()

    def __len__(self) -> int:
        return len(self._get())

    def __iter__(self) -> Iterator:
        return iter(self._get())

    def __repr__(self) -> str:
        return repr(frozenset(self._get()))


#: Table names in dependency order, from ``schemas/tables.toml`` (see :func:`table_order`).
TABLES: Sequence[str] = LiveSequence(table_order)


def data_dictionary(data: dict | None = None) -> str:
    """The data dictionary (Markdown), generated from the declarations; with ``data`` (the tables),
    it ends with the dataset's coverage."""
    vocab = vocabularies()
    orders = declarations().orders
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
        if t.claim_targets:
            lines.append(f"Claims can support: {', '.join(f'`{c}`' for c in t.claim_targets)}.")
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
            if f.max_length is not None:
                cons.append(f"at most {f.max_length} characters")
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
        if vname in orders:
            lines += [f"In order: {', '.join(f'`{t}`' for t in orders[vname].terms)} "
                      f"({orders[vname].why.rstrip('.')}).", ""]
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
