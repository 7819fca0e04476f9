"""What every rule family shares: the frame registry, the inputs a frame is built from, and the
loading of the rule declarations (``checks/suites/<family>.json``), checked before anything runs.

A **rule** is declared once, as one or more great-expectations expectations in its family's suite:
the expectation's ``meta`` names the rule, its severity, a description and the **frame** it runs on.
A **frame** is a narrow polars frame (one row per thing checked, with ``row_key`` and ``table``) built
by one function of the family's module (``opsledger/rules/<family>.py``) and registered with
:func:`frame`. great-expectations decides pass or fail on the frame's columns; for the few failing
rows, the frame's ``detail`` expression says in plain words what is wrong.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from opsledger.errors import DeclarationError
from opsledger.declarations import repo_root

CHECKS_DIR_ENV = "OPSLEDGER_CHECKS"

#: The rule families, in the order they run and report: one suite and one module each.
FAMILIES = ("referential", "support", "reconciliation", "timeline", "relations", "meaning", "evidence",
            "grounding", "privacy")


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
        return {a["key"] for a in self.acks if a.get("rule") == "reconcile.not_disputed"}

    def target_sources(self, keys: pl.Series) -> pl.DataFrame:
        """(target_id, sources): the sources of the claims on the given rows, comma-joined; computed
        only for failing rows."""
        c = self.t["claims"].filter(pl.col("target_id").is_in(keys.implode()))
        return c.group_by("target_id").agg(pl.col("source_id").unique().sort().str.join(",").alias("sources"))


# --------------------------------------------------------------------------- frames


@dataclass(frozen=True)
class FrameSpec:
    """A registered frame: how to build it and how to describe a failing row of it."""

    name: str
    family: str
    build: Callable[[Inputs], pl.DataFrame]
    #: plain-words explanation of a failing row, an expression over the frame's columns
    detail: Callable[[], pl.Expr] | None = None
    #: where a failing row's sources come from: a column of the frame, "target" (the claims on the
    #: row's key), or None (no sources)
    sources: str | None = None
    #: for frames whose rows are not the rows reported (e.g. distinct n-grams): the failing rows as
    #: findings (row_key, table, sources, detail)
    explain: Callable[[Inputs, pl.DataFrame], pl.DataFrame] | None = None


FRAMES: dict[str, FrameSpec] = {}


def frame(name: str, *, detail: Callable[[], pl.Expr] | None = None, sources: str | None = None,
          explain: Callable[[Inputs, pl.DataFrame], pl.DataFrame] | None = None) -> Callable:
    """Register the decorated function as the builder of frame ``name`` of its module's family."""

    def register(fn: Callable[[Inputs], pl.DataFrame]) -> Callable[[Inputs], pl.DataFrame]:
        family = fn.__module__.rsplit(".", 1)[-1]
        if name in FRAMES and FRAMES[name].build is not fn:
            raise DeclarationError(f"frame {name!r} is registered twice ({FRAMES[name].family}, {family})")
        FRAMES[name] = FrameSpec(name, family, fn, detail, sources, explain)
        return fn

    return register


def frame_specs() -> dict[str, FrameSpec]:
    """Every registered frame (importing each family's module registers its frames)."""
    import importlib

    for fam in FAMILIES:
        importlib.import_module(f"opsledger.validation.rules.{fam}")
    return FRAMES


# --------------------------------------------------------------------------- declarations


#: The keyword arguments of an expectation that name one column, and those that name a list of them.
COLUMN_KWARGS = ("column", "column_A", "column_B")
COLUMN_LIST_KWARGS = ("column_list",)


def quoted(col: str) -> pl.Expr:
    """A text column as Python writes a string literal (quotes, escapes): for details that cite text."""
    return pl.col(col).map_elements(repr, return_dtype=pl.Utf8)


class Meta(BaseModel):
    model_config = ConfigDict(extra="allow")

    rule: str = Field(pattern=r"^[a-z_]+(\.[a-z0-9_]+)+$")
    severity: Literal["error", "warning"]
    description: str = Field(min_length=1)
    frame: str


class Expectation(BaseModel):
    """One expectation of a suite: a GX expectation type, its keyword arguments and its meta."""

    model_config = ConfigDict(extra="ignore")

    type: str = Field(pattern=r"^expect_[a-z_]+$")
    kwargs: dict
    meta: Meta

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


class Suite(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    expectations: list[Expectation]


@dataclass
class Rule:
    """A rule: its declaration (the meta shared by its expectations) and its expectations."""

    name: str
    family: str
    severity: str
    description: str
    frame: str
    expectations: list[Expectation]
    path: Path


def load_rules(directory: Path | None = None) -> list[Rule]:
    """Every rule of every family suite, checked: the suites parse, every frame named exists, a rule
    is declared in one family with one severity, description and frame, and every suite belongs to a
    family. A declaration that fails any of this raises :class:`DeclarationError` (exit 2) naming the
    file and the rule."""
    directory = directory or checks_dir() / "suites"
    if not directory.is_dir():
        raise DeclarationError(f"{directory}: no rule suites here (set OPSLEDGER_CHECKS to the checks/ directory)")
    specs = frame_specs()
    rules: dict[str, Rule] = {}
    for fam in FAMILIES:
        path = directory / f"{fam}.json"
        expectations = list(_generated(fam))
        if path.is_file():
            try:
                suite = Suite.model_validate(json.loads(path.read_text(encoding="utf-8")))
            except (ValueError, ValidationError) as exc:
                raise DeclarationError(f"{path}: {_one_line(exc)}") from None
            expectations += suite.expectations
        for e in expectations:
            m = e.meta
            where = f"{path}: rule {m.rule}"
            spec = specs.get(m.frame)
            if spec is None:
                raise DeclarationError(f"{where}: frame {m.frame!r} does not exist "
                                       f"(frames of {fam}: {', '.join(sorted(n for n, s in specs.items() if s.family == fam))})")
            if spec.family != fam:
                raise DeclarationError(f"{where}: frame {m.frame!r} belongs to the {spec.family} family, not {fam}")
            r = rules.get(m.rule)
            if r is None:
                rules[m.rule] = Rule(m.rule, fam, m.severity, m.description, m.frame, [e], path)
            elif (r.family, r.severity, r.description, r.frame) != (fam, m.severity, m.description, m.frame):
                raise DeclarationError(f"{where}: declared again with a different family, severity, description "
                                       f"or frame (first in {r.path})")
            else:
                r.expectations.append(e)
    unknown = sorted(p.name for p in directory.glob("*.json") if p.stem not in FAMILIES)
    if unknown:
        raise DeclarationError(f"{directory}: suite(s) {', '.join(unknown)} belong to no rule family "
                               f"({', '.join(FAMILIES)})")
    return list(rules.values())


def _generated(family: str) -> list[Expectation]:
    """Expectations a family generates from the table declarations (e.g. one per foreign key)."""
    import importlib

    mod = importlib.import_module(f"opsledger.validation.rules.{family}")
    gen = getattr(mod, "generated_expectations", None)
    return [Expectation.model_validate(e) for e in gen()] if gen else []


def _one_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        e = exc.errors()[0]
        loc = ".".join(str(x) for x in e["loc"])
        return f"{loc}: {e['msg']}"
    return str(exc).splitlines()[0]


def check_columns(rule: Rule, df: pl.DataFrame) -> None:
    """Every column a rule's expectations read exists in its frame (else exit 2 naming them)."""
    for e in rule.expectations:
        missing = [c for c in e.columns() if c not in df.columns]
        if missing:
            raise DeclarationError(f"{rule.path}: rule {rule.name}: frame {rule.frame!r} has no column "
                                   f"{', '.join(missing)} (it has {', '.join(df.columns)})")
