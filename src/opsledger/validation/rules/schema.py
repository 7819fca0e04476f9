"""Schema-stage rules: what pandera checks on each table, from the declarations in ``schemas/`` (types,
nullability, keys, patterns, vocabularies, country codes, minimums, limits) and the named table rules
a declaration lists (``checks``). :mod:`opsledger.validation.schema_stage` builds the pandera schemas
and names each failure by these rules. No frame: pandera reads the tables themselves."""

from __future__ import annotations

import polars as pl

from opsledger.validation.rules.base import Family, Rule, TableCheck

FAMILY = Family("schema", "0. Every table has its declared shape")


def _le(a: str, b: str) -> pl.Expr:
    return (pl.col(a) <= pl.col(b)).fill_null(True)


def _schema(name: str, description: str, check: str) -> Rule:
    return Rule(name, "error", description, decision=check, stage="schema")


def _table(name: str, description: str, check: TableCheck) -> Rule:
    return Rule(f"schema.{name}", "error", description, decision=check, detail=f"breaks {description}", stage="schema")


RULES = [
    _schema("schema.type", "Every column has its declared Arrow type.", "the column's dtype"),
    _schema("schema.required", "Required columns have no nulls.", "not nullable"),
    _schema("schema.unique", "Primary keys (and declared unique column sets) are unique.", "unique"),
    _schema("schema.pattern", "Identifiers, codes and hashes match their declared pattern.", "str_matches"),
    _schema("schema.vocabulary", "Enum-like columns hold terms of their vocabulary.", "isin the vocabulary"),
    _schema("schema.iso_country", "Country codes are ISO 3166-1 alpha-2 (pycountry).", "isin pycountry's codes"),
    _schema("schema.minimum", "Counts and offsets are not negative.", "ge the declared minimum"),
    # {table.field.attribute}: a fact of schemas/, read when the rules are collected
    _schema("schema.max_length", "Strings with a declared limit fit it (a claim's quotation: at most "
            "{claims.quotation.max_length} characters, a citation, not a copy).", "str_length up to the declared limit"),
    _schema("schema.precision", "A date and its precision (and, for an interval, its last day) are both set or both "
            "null; month and year dates without a last day hold the period's first day.",
            "a date and its precision (and last day) agree"),
    _table("value_within_bounds", "value_low <= value <= value_high (a null bound is no bound)", TableCheck(
        "value", ("value_low", "value", "value_high"),
        lambda: _le("value_low", "value") & _le("value", "value_high") & _le("value_low", "value_high"))),
    _table("low_le_high", "a claim's low <= high", TableCheck("low", ("low", "high"), lambda: _le("low", "high"))),
    _table("date_low_le_high", "a claim's date_low <= date_high",
           TableCheck("date_low", ("date_low", "date_high"), lambda: _le("date_low", "date_high"))),
]

