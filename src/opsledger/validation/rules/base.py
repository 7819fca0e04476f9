"""What every rule family shares: the inputs a frame is built from, and the :class:`Rule`, :class:`Frame`
and :class:`Family` objects a family declares its rules with.

A **rule** is one :class:`Rule` object, declared once in its family's module
(``opsledger/validation/rules/<family>.py``, in the module's ``RULES`` list, next to the module's
:class:`Family`): its name (prefixed by its family), stage, severity, description, the **frame** it
judges, the template of a failing row's detail and its **decision** (great-expectations expectations
on the frame's columns, or for the schema stage the check pandera runs). A **frame** is a narrow
polars frame (one row per thing checked, with ``row_key`` and ``table``) built by one function of the
family's module, declared with :func:`frame`. great-expectations decides pass or fail on the frame's
columns; for the few failing rows, the rule's ``detail`` expression says in plain words what is
wrong. :mod:`opsledger.validation.rules.registry` collects every family and checks the declarations.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from opsledger.declarations import repo_root
from opsledger.errors import DeclarationError

CHECKS_DIR_ENV = "OPSLEDGER_CHECKS"


def phrases_said() -> pl.Expr:
    """In an aggregation: the distinct phrases of the claims, as written, quoted and joined
    ("\"20 countries\" / \"19 countries\""), for a finding that says what its sources say."""
    return pl.format("\"{}\"", pl.col("stated")).unique(maintain_order=True).str.join(" / ")


def checks_dir() -> Path:
    return Path(os.environ.get(CHECKS_DIR_ENV) or repo_root() / "checks")


# --------------------------------------------------------------------------- inputs

#: the columns of the value claims (``reconcile.value_claims``) that frames read
VALUE_CLAIM_COLUMNS = ("claim_id", "source_id", "operation_id", "target_id", "metric", "stated", "low", "high",
                       "anchor", "running", "as_of", "as_of_end", "current", "corrected_by")


@dataclass
class Inputs:
    """The tables of one run and what the frames compute from them, each at most once."""

    t: dict[str, pl.DataFrame]
    sources: Path | None = None
    names: list[str] | None = None
    acks: list[dict] = field(default_factory=list)

    @property
    def archive(self) -> Path | None:
        """The source archive when it exists (grounding rules are skipped otherwise)."""
        return Path(self.sources) if self.sources is not None and Path(self.sources).is_dir() else None

    @cached_property
    def _derived(self) -> tuple[dict[str, pl.DataFrame], pl.DataFrame, dict[str, pl.DataFrame]]:
        """(re-derived tables, phrase frame, value claims of the re-derived claims by table), let go of
        together once no frame needs them."""
        from opsledger.derive.reconcile import derive_all_with_phrases

        kept: dict[str, pl.DataFrame] = {}
        derived, phrases = derive_all_with_phrases(self.t, self.sources, value_claims_of=kept)
        return derived, phrases, kept

    @property
    def derived(self) -> dict[str, pl.DataFrame]:
        """Every derived column re-derived from the claims (and the archive, when given)."""
        return self._derived[0]

    @property
    def phrases(self) -> pl.DataFrame:
        """What each claim's phrase implies (``reconcile.phrase_frame``)."""
        return self._derived[1]

    @cached_property
    def grounding(self) -> pl.DataFrame:
        from opsledger.validation.quotations import grounding_frame

        return grounding_frame(self.t, self.sources)

    def value_claims(self, name: str) -> pl.DataFrame:
        """The value claims of ``outcomes`` or ``statistics`` (``reconcile.value_claims``), once."""
        cache = self.__dict__.setdefault("_value_claims", {})
        if name not in cache:
            from opsledger.derive.reconcile import KEYS, value_claims

            kept = self._derived[2].get(name) if "_derived" in self.__dict__ else None
            if kept is not None and self._claims_as_derived:
                got = kept  # the re-derivation computed them from the very same claims
            else:
                got = value_claims(self.t["claims"], name, self.t["sources"], self.t[name], KEYS[name])
            # only the columns the frames read are kept for the rest of the run (a million claims' every
            # column, held to the end, was a quarter of a gigabyte)
            cache[name] = got.select(c for c in VALUE_CLAIM_COLUMNS if c in got.columns)
        return cache[name]

    @cached_property
    def _claims_as_derived(self) -> bool:
        """Whether the stored claims and sources' kinds are what the re-derivation gives (then the value
        claims it computed are those of the stored claims); asked only while it is held."""
        d = self.derived
        kinds = ["source_id", "kind"]
        same = [(d["claims"], self.t["claims"]), (d["sources"].select(kinds), self.t["sources"].select(kinds))]
        return all(a.schema == b.schema and a.equals(b) for a, b in same)

    @cached_property
    def acked_disputes(self) -> set[str]:
        return {a["key"] for a in self.acks if a.get("rule") == "reconciliation.not_disputed"}

    def target_sources(self, keys: pl.Series) -> pl.DataFrame:
        """(target_id, sources): the sources of the claims on the given rows, comma-joined; computed
        only for failing rows."""
        c = self.t["claims"].filter(pl.col("target_id").is_in(keys.implode()))
        return c.group_by("target_id").agg(pl.col("source_id").unique().sort().str.join(",").alias("sources"))


# --------------------------------------------------------------------------- frames


@dataclass(frozen=True)
class Frame:
    """A frame a rule judges: its name, the function that builds it (the frame is called as that
    function), where a failing row's sources come from, and the module that declares it."""

    name: str
    build: Callable[[Inputs], pl.DataFrame]
    #: where a failing row's sources come from: a column of the frame, "target" (the claims on the
    #: row's key), or None (no sources)
    sources: str | None = None
    #: for frames whose rows are not the rows reported (e.g. distinct n-grams): the failing rows as
    #: findings (row_key, table, sources, detail)
    explain: Callable[[Inputs, pl.DataFrame], pl.DataFrame] | None = None

    @property
    def module(self) -> str:
        return self.build.__module__

    @property
    def doc(self) -> str:
        return " ".join((self.build.__doc__ or "").split())

    def __call__(self, x: Inputs) -> pl.DataFrame:
        return self.build(x)


def frame(name: str, *, sources: str | None = None,
          explain: Callable[[Inputs, pl.DataFrame], pl.DataFrame] | None = None) -> Callable[..., Frame]:
    """Declare the decorated function as the builder of frame ``name`` (the name becomes a :class:`Frame`)."""

    def declare(fn: Callable[[Inputs], pl.DataFrame]) -> Frame:
        return Frame(name, fn, sources, explain)

    return declare


# --------------------------------------------------------------------------- declarations


#: The keyword arguments of an expectation that name one column, and those that name a list of them.
COLUMN_KWARGS = ("column", "column_A", "column_B")
COLUMN_LIST_KWARGS = ("column_list",)


def quoted(col: str) -> pl.Expr:
    """A text column as Python writes a string literal (quotes, escapes): for details that cite text."""
    return pl.col(col).map_elements(repr, return_dtype=pl.Utf8)


class Expectation(BaseModel):
    """One great-expectations expectation: its type and keyword arguments (``{"$PARAMETER": name}``
    stands for a parameter its family gives at run time)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(pattern=r"^expect_[a-z_]+$")
    kwargs: dict

    @field_validator("kwargs")
    @classmethod
    def _no_result_format(cls, v: dict) -> dict:
        if "result_format" in v or "row_condition" in v:
            raise ValueError("result_format and row_condition are set by the runner, not per expectation")
        return v

    def columns(self) -> list[str]:
        """The frame columns the expectation reads."""
        k = self.kwargs
        return [k[c] for c in COLUMN_KWARGS if c in k] + [c for lc in COLUMN_LIST_KWARGS for c in k.get(lc, [])]


def expect(type_: str, **kwargs: Any) -> Expectation:
    """``expect("column_values_to_be_between", column="n", min_value=1)``: the expectation
    ``expect_column_values_to_be_between`` with those arguments."""
    return Expectation(type=f"expect_{type_}", kwargs=kwargs)


@dataclass(frozen=True)
class TableCheck:
    """The decision of a schema-stage table rule a declaration can name (``checks`` of a table in
    ``schemas/``): the column a finding names, the columns its value shows, and the row-wise ok
    expression pandera evaluates."""

    column: str
    shows: tuple[str, ...]
    ok: Callable[[], pl.Expr]


#: A counted rule's decision: given the inputs, its (status, detail) for the report, or None when it
#: has nothing to say in this run.
Count = Callable[[Inputs], "tuple[str, str | None] | None"]

#: When a rule is decided: by pandera on the tables (``schema``), on the inputs of the cross-source
#: stage (``cross``), or ``after`` the other rules, on their findings (``acknowledgements.not_stale``,
#: reported in the cross-source stage, decided by a function of its own).
Stage = Literal["schema", "cross", "after"]


@dataclass(frozen=True)
class Rule:
    """One rule, at any stage, declared once in its family's ``RULES``.

    ``decision`` is what decides it: for a cross-source rule on a frame, its great-expectations
    expectations on the frame's columns; for a counted rule (``frame`` None), a :data:`Count`; for a
    schema-stage rule, the :class:`TableCheck` pandera runs or, for a check pandera derives from the
    declarations (types, keys, patterns ...), a description of it. ``detail`` says what is wrong with
    a failing row: an expression over the frame's columns (cross-source), or a message template
    (schema stage). ``family`` and ``origin`` (the declaring module's file) are set by the registry."""

    name: str
    severity: Literal["error", "warning"]
    description: str
    frame: Frame | None = None
    decision: tuple[Expectation, ...] | TableCheck | str | Callable[..., Any] = ()
    detail: Callable[[], pl.Expr] | str | None = None
    stage: Stage = "cross"
    family: str = ""
    origin: str = ""

    @property
    def expectations(self) -> tuple[Expectation, ...]:
        return self.decision if isinstance(self.decision, tuple) else ()

    @property
    def frame_name(self) -> str:
        return self.frame.name if self.frame is not None else ""

    @property
    def count(self) -> Count | None:
        """A counted rule's decision (None: the rule is not counted)."""
        return self.decision if self.frame is None and callable(self.decision) and self.stage == "cross" else None


def no_skip(_x: Inputs) -> str | None:
    return None


def no_parameters(_x: Inputs) -> dict:
    return {}


@dataclass(frozen=True)
class Family:
    """What a family declares once for all its rules: its name (every rule's name starts with it and a
    dot), its title, why it cannot run on some inputs (``skip``: a reason, or None when it runs), the
    parameters its expectations name (``{"$PARAMETER": name}``), and rules it generates from the
    table declarations in ``schemas/`` (listed before its ``RULES``)."""

    name: str
    title: str
    skip: Callable[[Inputs], str | None] = no_skip
    parameters: Callable[[Inputs], dict] = no_parameters
    generated: Callable[[], list[Rule]] | None = None
    note: str = ""


def check_columns(rule: Rule, df: pl.DataFrame) -> None:
    """Every column a rule's expectations read exists in its frame (else exit 2 naming them)."""
    for e in rule.expectations:
        missing = [c for c in e.columns() if c not in df.columns]
        if missing:
            raise DeclarationError(f"{rule.origin}: rule {rule.name}: frame {rule.frame_name!r} has no column "
                                   f"{', '.join(missing)} (it has {', '.join(df.columns)})")
