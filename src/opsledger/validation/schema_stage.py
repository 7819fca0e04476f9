"""The schema stage: pandera (polars backend) schemas derived from the table declarations.

Each table's :class:`pandera.polars.DataFrameSchema` is built from ``schemas/`` (types, nullability,
unique keys, id patterns, vocabularies, ISO country codes, minimums) plus the table rules the
declaration names. The rules are declared once, as :class:`~opsledger.validation.rules.base.Rule`
objects of the ``schema`` family (:mod:`opsledger.validation.rules.schema`); :func:`check_schemas`
validates lazily and turns every failure case into a :class:`~opsledger.validation.findings.Finding`
naming table, row key, column, rule and value.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable

import pandera.polars as pa
import polars as pl
import pycountry

from opsledger.data.io import frame_key
from opsledger.validation.findings import Finding, RuleRun
from opsledger.declarations import Table, declarations, per_declarations, tables, vocabularies
from opsledger.validation.rules.base import Rule, TableCheck

POLARS_TYPES = {"string": pl.Utf8, "integer": pl.Int64, "number": pl.Float64, "date": pl.Date, "boolean": pl.Boolean}


@functools.cache
def iso_countries() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes, from pycountry."""
    return frozenset(c.alpha_2 for c in pycountry.countries)


def table_rules() -> dict[str, Rule]:
    """The named table rules a declaration can list (``checks`` of a table in ``schemas/``), by the name
    it lists: the schema-stage rules decided by a :class:`~opsledger.validation.rules.base.TableCheck`."""
    from opsledger.validation.rules import schema

    return {r.name.removeprefix("schema."): r for r in schema.RULES if isinstance(r.decision, TableCheck)}


def _precision_rule(date_col: str, prec_col: str, latest_col: str | None = None) -> pl.Expr:
    d, p = pl.col(date_col), pl.col(prec_col)
    both_or_neither = d.is_null() == p.is_null()
    if latest_col:  # an interval: its first day is any day (rule timeline.interval_precision checks its width)
        return both_or_neither & (d.is_null() == pl.col(latest_col).is_null())
    aligned = (
        pl.when(p == "month").then(d.dt.day() == 1)
        .when(p == "year").then((d.dt.day() == 1) & (d.dt.month() == 1))
        .otherwise(True)
    ).fill_null(True)
    return both_or_neither & aligned


def _column_checks(f) -> list[pa.Check]:
    checks = []
    if f.pattern:
        full = f"^(?:{f.pattern[1:-1]})$"  # in full even with an alternation (declared ^...$)
        checks.append(pa.Check.str_matches(full, error=f"pattern:{f.pattern}"))
    if f.vocabulary:
        checks.append(pa.Check.isin(sorted(vocabularies()[f.vocabulary]), error=f"vocabulary:{f.vocabulary}"))
    if f.iso_country:
        checks.append(pa.Check.isin(sorted(iso_countries()), error="iso_country"))
    if f.minimum is not None:
        checks.append(pa.Check.ge(f.minimum, error=f"minimum:{f.minimum:g}"))
    if f.max_length is not None:
        checks.append(pa.Check.str_length(max_value=f.max_length, error=f"max_length:{f.max_length}"))
    return checks


def _frame_check(name: str, expr_fn: Callable[[], pl.Expr]) -> pa.Check:
    def fn(data):
        return data.lazyframe.select(expr_fn().alias("ok"))

    return pa.Check(fn, name=name, error=f"rule:{name}")


def pandera_schema(name: str) -> pa.DataFrameSchema:
    """The pandera schema of a table, derived from its declaration (built once per loaded
    declarations, so a changed ``$OPSLEDGER_SCHEMAS`` is followed)."""
    return _pandera_schema(name)


@per_declarations
def _pandera_schema(name: str) -> pa.DataFrameSchema:
    t: Table = declarations().tables[name]
    columns = {
        f.name: pa.Column(
            POLARS_TYPES[f.type],
            nullable=not f.required,
            unique=(t.primary_key == (f.name,)),
            checks=_column_checks(f),
            title=f.name,
            description=f.description,
            coerce=False,
        )
        for f in t.fields
    }
    named = table_rules()
    unknown = [r for r in t.checks if r not in named]
    if unknown:
        from opsledger.errors import DeclarationError

        raise DeclarationError(f"schemas/{name}.toml: table {name}: checks {', '.join(map(repr, unknown))} "
                               f"name no schema rule (known: {', '.join(named)})")
    checks = [_frame_check(r, named[r].decision.ok) for r in t.checks]  # type: ignore[union-attr]
    for f in t.fields:
        if f.precision:
            checks.append(_frame_check(f"precision:{f.name}",
                                       functools.partial(_precision_rule, f.name, f.precision, f.latest)))
    return pa.DataFrameSchema(
        columns,
        checks=checks,
        unique=[list(u) for u in t.unique] or None,
        strict=True,
        ordered=True,
        name=name,
        title=t.title,
        description=t.description,
    )


def rule_catalogue() -> list[RuleRun]:
    """The schema-stage rules, for the report (one entry per kind of rule), from the registry."""
    from opsledger.validation.rules.registry import rules

    return [RuleRun(r.name, "schema", r.severity, r.description) for r in rules() if r.stage == "schema"]


def _classify(check: str) -> tuple[str, str | None]:
    """pandera's check label -> (our rule name, column override)."""
    if check.startswith("rule:precision:"):
        return "schema.precision", check.removeprefix("rule:precision:")
    if check.startswith("rule:"):
        r = check.removeprefix("rule:")
        rule = table_rules().get(r)
        return f"schema.{r}", rule.decision.column if rule is not None else None  # type: ignore[union-attr]
    if check.startswith(("pattern:", "vocabulary:", "minimum:", "max_length:")) or check == "iso_country":
        return f"schema.{check.split(':')[0]}", None
    if check.startswith("dtype("):
        return "schema.type", None
    if check == "not_nullable":
        return "schema.required", None
    if check in ("field_uniqueness", "multiple_fields_uniqueness") or "unique" in check:
        return "schema.unique", None
    if check.startswith("column_in_") or "column" in check:
        return "schema.columns", None
    return f"schema.{re.sub(r'[^a-z0-9_]+', '_', check.lower()).strip('_')}", None


def _content(name: str, df: pl.DataFrame) -> tuple:
    """What a table's schema findings depend on besides the declarations: its name and its frame
    (:func:`~opsledger.data.io.frame_key`)."""
    return name, frame_key(df)


def check_table(name: str, df: pl.DataFrame) -> list[Finding]:
    """Every schema failure of one table (lazy: all of them, not the first). A table checked before
    with the same declarations, columns, types and rows is answered from that check (a new copy of
    its findings): validating again after editing one table checks that table only."""
    return copy.deepcopy(_check_table(name, df))


@per_declarations(key=_content)
def _check_table(name: str, df: pl.DataFrame) -> list[Finding]:
    t = tables()[name]
    try:
        pandera_schema(name).validate(df, lazy=True)
        return []
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
    keys = df.get_column(t.key).to_list() if t.key in df.columns else []
    named = table_rules()
    findings = []
    for case, _ctx, column, check, _n, index in fc.iter_rows():
        rule, col_override = _classify(str(check))
        column = col_override or column
        key = keys[index] if index is not None and index < len(keys) else None
        value = case
        if rule == "schema.type":
            expected = POLARS_TYPES[t.field(column).type]
            msg = f"has type {case}, the declaration says {expected}"
        elif rule == "schema.required":
            msg = "is null but required"
        elif rule == "schema.unique":
            msg = f"value {case!r} is not unique"
        elif rule.startswith("schema.") and rule.removeprefix("schema.") in named:
            r = named[rule.removeprefix("schema.")]
            msg = str(r.detail)
            value = _row_value(df, index, r.decision.shows)  # type: ignore[union-attr]
        elif rule == "schema.precision":
            prec = t.field(column).precision
            msg = f"date and {prec} disagree (both or neither set; month/year dates on the period's first day)"
            value = _row_value(df, index, (column, prec))
        else:
            msg = f"value {case!r} fails {check}"
        findings.append(Finding(rule, name, key, column, value, msg))
    return findings


def _row_value(df: pl.DataFrame, index, cols: tuple[str, ...]):
    if index is None:
        return None
    row = df.row(index, named=True)
    return {c: (str(row[c]) if row[c] is not None else None) for c in cols}


def check_schemas(frames: dict[str, pl.DataFrame]) -> list[Finding]:
    out = []
    for name, df in frames.items():
        out.extend(check_table(name, df))
    return out
