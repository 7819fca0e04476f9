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
pandera schema (:mod:`opsledger.validation.schema_stage`), the data dictionary (:func:`data_dictionary`), the
Frictionless table schema (:func:`Table.table_schema`), and the facts the rules need
(:func:`claim_keys`, :func:`date_targets`, :func:`target_columns`, :func:`source_preference`,
:func:`timeline_rank` ...).
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from opsledger.errors import DeclarationError
# where the declarations are: light helpers, re-exported here (loading a release needs them, not pydantic)
from opsledger.data.paths import _schema_dir, repo_root, schema_dir  # noqa: F401
from opsledger.declarations.models import *  # noqa: F403
from opsledger.declarations.models import (Dataset, Declarations, Field, Identity, Metric, PhraseRules, Table, TimelineStage, _TableFile,
                                           _TablesFile, _VocabularyFile, NOT_TABLES, REQUIRED_ORDERS, NAME)  # noqa: F401


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
        return ({k: v for k, v in raw.items() if k not in ("order", "scope_shape", "timeline", "precision_days")},
                _VocabularyFile.model_validate(raw))
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
                             required=False, precision=None, latest=None, references=None)
                cols.append(Field.model_validate(spec_))
    derived = [f.name for f in cols] if raw.derived == "*" else list(raw.derived)
    try:
        return Table(name=name, title=raw.title, description=raw.description, primary_key=raw.primary_key,
                     fields=tuple(cols), unique=raw.unique, checks=raw.checks, derived=tuple(derived),
                     claim_targets=raw.claim_targets, claim_required=raw.claim_required,
                     per_metric=raw.per_metric, from_outcomes=raw.from_outcomes, year=raw.year)
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
        if t.from_outcomes:
            for c in t.from_outcomes.unset:
                if "outcomes" in tables and c not in tables["outcomes"].columns:
                    fail(file, f"table {t.name}: from_outcomes", f"outcomes has no column {c!r}")
            for sc in t.from_outcomes.scopes:
                if "scope" in vocab and sc not in vocab["scope"]:
                    fail(file, f"table {t.name}: from_outcomes", f"scope {sc!r} is not a term of the scope vocabulary")
        if t.per_metric:
            for m in t.per_metric.metrics:
                if m not in vocab["metric"]:
                    fail(file, f"table {t.name}: per_metric", f"metric {m!r} is not a term of the metric vocabulary")
        if t.year:
            for y in t.year.from_:
                if y not in vocab.get("year_from", {}):
                    fail(file, f"table {t.name}: year", f"{y!r} is not a term of the year_from vocabulary")
    kinds = set(vocab.get("noun_kind", {}))
    for m, spec in d.vocabulary_file.metric.items():
        for k in spec.not_counted:
            if k not in kinds:
                fail("vocabularies.toml", f"metric {m}", f"not_counted {k!r} is not a term of the noun_kind vocabulary")
    for code, lang in d.phrase_model.language.items():
        for word, k in lang.noun.items():
            if k not in kinds:
                fail("phrase_rules.toml", f"language {code}: noun {word!r}", f"{k!r} is not a term of the noun_kind vocabulary")
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
    for stage, where in d.vocabulary_file.timeline.items():
        subject = f"timeline.{stage}"
        if where.table not in tables:
            fail("vocabularies.toml", subject, f"table {where.table!r} is not declared")
        elif where.column not in tables[where.table].columns:
            fail("vocabularies.toml", subject, f"{where.table} has no column {where.column!r}")
        elif tables[where.table].field(where.column).type != "date" or not tables[where.table].field(where.column).precision:
            fail("vocabularies.toml", subject, f"{where.table}.{where.column} is not a date with a precision column")
    for word_lang, words in d.metric_words.items():
        if not isinstance(words, dict) or word_lang not in d.phrase_model.language:
            fail("metric_words.toml", f"[{word_lang}]", "is not a language of phrase_rules.toml with a table of word = metric")
        for word, metric in words.items():
            if metric not in d.vocabulary_file.metric:
                fail("metric_words.toml", f"[{word_lang}] {word}", f"{metric!r} is not a metric")
            if word != word.lower():
                fail("metric_words.toml", f"[{word_lang}] {word}", "a word stem is written in lower case")
    for m in d.dataset.site.index_metrics:
        if m not in d.vocabulary_file.metric:
            fail("dataset.toml", "site.index_metrics", f"{m!r} is not a metric")


@functools.cache
def _declarations(directory: Path) -> Declarations:
    tables_file = _where(directory, "tables.toml")
    try:
        listing = _TablesFile.model_validate(_load_toml(directory / "tables.toml"))
    except ValidationError as exc:
        raise _refuse(tables_file, None, exc) from None
    names = list(listing.order)
    for name in names:
        if name in NOT_TABLES or not NAME.fullmatch(name):
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
    try:
        dataset = Dataset.model_validate(_load_toml(directory / "dataset.toml"))
    except ValidationError as exc:
        raise _refuse(_where(directory, "dataset.toml"), None, exc) from None
    words_file = directory / "metric_words.toml"
    words = _load_toml(words_file) if words_file.is_file() else {}
    d = Declarations(directory, fields, tables, vocabs, dict(vocab_file.order), raw_rules, rules_model, vocab_file,
                     dataset, words)
    _cross_check(d)
    return d


def declarations() -> Declarations:
    """Every declaration of ``schemas/`` (or ``$OPSLEDGER_SCHEMAS``), validated; loaded once per
    directory. Raises :class:`~opsledger.errors.DeclarationError` for a bad declaration."""
    return _declarations(schema_dir())


#: every cache of a value derived from the declarations (see :func:`per_declarations`)
_DERIVED_CACHES: list[dict] = []


def per_declarations(fn: Callable | None = None, *, key: Callable | None = None) -> Callable:
    """Cache a function of the declarations: one answer per loaded declarations (so per schemas
    directory, and per load) and arguments. ``key``, where given, maps the arguments to what
    identifies the answer (for arguments that are not hashable themselves, such as a table).
    :func:`clear_caches` forgets every such answer: this is the one cache of the package, cleared in
    one place."""
    if fn is None:
        return functools.partial(per_declarations, key=key)
    cache: dict = {}

    @functools.wraps(fn)
    def wrapper(*args):
        key_ = (declarations(), *(args if key is None else key(*args)))
        try:
            return cache[key_]
        except KeyError:
            value = cache[key_] = fn(*args)
            return value

    wrapper.cache_clear = cache.clear  # type: ignore[attr-defined]
    _DERIVED_CACHES.append(cache)
    return wrapper


def identity() -> Identity:
    """The dataset's identity (``schemas/dataset.toml``): title, authors, licence, repository, DOI ...
    (the same declaration as :func:`dataset`). Raises :class:`~opsledger.errors.DeclarationError`
    naming the file and key when it is wrong."""
    return declarations().dataset


def clear_caches() -> None:
    """Forget the loaded declarations and everything derived from them (after a declaration file
    changed, e.g. in a test)."""
    _declarations.cache_clear()
    for cache in _DERIVED_CACHES:
        cache.clear()


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


def dataset() -> Dataset:
    """The dataset's identity (``schemas/dataset.toml``): title, description, author, licences."""
    return declarations().dataset


def metric_words(lang: str) -> list[tuple[str, str]]:
    """(word stem, metric) of a language, longest stem first (``schemas/metric_words.toml``)."""
    return sorted(declarations().metric_words.get(lang, {}).items(), key=lambda kv: (-len(kv[0]), kv[0]))


def metrics() -> dict[str, Metric]:
    """Every metric of ``[metric.<term>]``, as its typed model."""
    return declarations().vocabulary_file.metric


def metric_unit(metric: str) -> str:
    return metrics()[metric].unit


def metrics_with(attribute: str) -> frozenset[str]:
    """Metrics whose declaration sets ``attribute`` true (``running_total``, ``per_offender``, ``additive``)."""
    return frozenset(m for m, spec in metrics().items() if getattr(spec, attribute))


def metric_relations() -> list[tuple[str, str]]:
    """``(part, whole)``: each metric whose worldwide figure never exceeds that of another (``at_most``)."""
    return [(m, spec.at_most) for m, spec in metrics().items() if spec.at_most]


def scope_shapes() -> list[str]:
    """The shapes a row's scope may take, as ``scope|country|area`` with ``-`` where the column is null."""
    return [f"{scope}|{'country' if s.country else '-'}|{'area' if s.area else '-'}"
            for scope, s in declarations().vocabulary_file.scope_shape.items()]


def timeline_stages() -> dict[str, TimelineStage]:
    """Where each stage of an operation's timeline is dated (``[timeline.<stage>]``), in stage order."""
    stages = declarations().vocabulary_file.timeline
    return {s: stages[s] for s in vocabulary_order("timeline_stage")}


def precision_days() -> dict[str, int]:
    """Days each date precision allows between an interval's first and last day (``[precision_days]``)."""
    return dict(declarations().vocabulary_file.precision_days)


def year_order() -> tuple[str, ...]:
    """Where the headline ``year`` comes from, first first (``[year] from`` of schemas/headline.toml)."""
    y = table("headline").year
    return y.from_ if y else ()


def intervals() -> dict[str, dict[str, tuple[str, str]]]:
    """Table -> {date column: (precision column, latest column)} for every date that is an interval."""
    return {name: t.intervals for name, t in tables().items() if t.intervals}


def headline_metrics() -> tuple[str, ...]:
    """The metrics the headline table reports, in its column order."""
    pm = table("headline").per_metric
    return pm.metrics if pm else ()


def headline_from() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(columns an outcome must leave empty, scopes in order of preference) for a headline figure:
    ``[from_outcomes]`` of schemas/headline.toml."""
    f = table("headline").from_outcomes
    return (f.unset, f.scopes) if f else (("part_of", "subgroup", "offender_role"), ("worldwide",))


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
