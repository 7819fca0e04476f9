"""The rule registry: every family, listed here by import (no discovery), and every :class:`Rule` they
declare, checked before anything runs.

A family is a module with a :class:`~opsledger.validation.rules.base.Family` (``FAMILY``) and its
rules (``RULES``). The registry refuses, with a one-line :class:`~opsledger.errors.DeclarationError`
(exit 2) naming the module and the rule: a name declared twice, a name that does not start with its
family's name and a dot, a cross-source rule on a frame of another family's module or with no way
to decide it, and two frames of one name. Library use::

    from opsledger.validation.rules.registry import rules
    [r.name for r in rules() if r.family == "timeline"]
"""

from __future__ import annotations

import dataclasses
import re
from types import ModuleType

from opsledger.errors import DeclarationError
from opsledger.validation.rules import (
    acks,
    evidence,
    grounding,
    meaning,
    privacy,
    reconciliation,
    referential,
    relations,
    schema,
    support,
    timeline,
)
from opsledger.validation.rules.base import Expectation, Family, Frame, Rule, TableCheck

#: Every family module, in the order its rules run and report: the schema stage, then the
#: cross-source families, then the acknowledgements (checked last, against every other finding).
MODULES: tuple[ModuleType, ...] = (schema, referential, support, reconciliation, timeline, relations, meaning,
                                   evidence, grounding, privacy, acks)

NAME = re.compile(r"^[a-z_]+(\.[a-z0-9_]+)+$")


def families() -> dict[str, Family]:
    """Every family by name, in order."""
    return {m.FAMILY.name: m.FAMILY for m in MODULES}


def rules(modules: tuple[ModuleType, ...] = MODULES) -> list[Rule]:
    """Every rule of every family, in order (each family's generated rules first, then its ``RULES``),
    with its ``family`` and ``origin`` set; checked (see the module's docstring)."""
    out: dict[str, Rule] = {}
    frames: dict[str, Frame] = {}
    seen_families: set[str] = set()
    for mod in modules:
        fam: Family = mod.FAMILY
        origin = _origin(mod)
        if fam.name in seen_families:
            raise DeclarationError(f"{origin}: family {fam.name!r} is declared twice")
        seen_families.add(fam.name)
        declared = [*(fam.generated() if fam.generated else []), *mod.RULES]
        for r in declared:
            where = f"{origin}: rule {r.name}"
            if not isinstance(r, Rule):
                raise DeclarationError(f"{origin}: RULES holds {r!r}, not a Rule")
            if not NAME.match(r.name):
                raise DeclarationError(f"{where}: a rule's name is lower-case words joined by dots (family.rule)")
            if not r.name.startswith(fam.name + "."):
                raise DeclarationError(f"{where}: its name must start with its family's, {fam.name}. "
                                       f"(declared in the {fam.name} family)")
            if r.name in out:
                raise DeclarationError(f"{where}: declared twice (first in {out[r.name].origin})")
            if r.severity not in ("error", "warning"):
                raise DeclarationError(f"{where}: severity {r.severity!r} is neither error nor warning")
            if not r.description.strip():
                raise DeclarationError(f"{where}: no description")
            _check_decision(r, where, mod, frames)
            out[r.name] = dataclasses.replace(r, family=fam.name, origin=origin, description=_facts(r.description))
    return list(out.values())


def cross_rules() -> list[Rule]:
    """The cross-source rules great-expectations decides on a frame, in order."""
    return [r for r in rules() if r.stage == "cross" and r.frame is not None]


def _check_decision(r: Rule, where: str, mod: ModuleType, frames: dict[str, Frame]) -> None:
    if r.stage == "schema":
        if r.frame is not None or not isinstance(r.decision, (TableCheck, str)) or not r.decision:
            raise DeclarationError(f"{where}: a schema-stage rule is decided by a TableCheck or a pandera check "
                                   "it names, on no frame")
        return
    if r.stage == "after":
        if r.frame is not None or not callable(r.decision):
            raise DeclarationError(f"{where}: a rule decided after the others is decided by a function, on no frame")
        return
    if r.frame is None:
        if not callable(r.decision):
            raise DeclarationError(f"{where}: a cross-source rule without a frame is decided by a count")
        return
    if not isinstance(r.frame, Frame):
        raise DeclarationError(f"{where}: frame {r.frame!r} is not a Frame (declare it with @frame)")
    if r.frame.module != mod.__name__:
        raise DeclarationError(f"{where}: frame {r.frame.name!r} belongs to the "
                               f"{r.frame.module.rsplit('.', 1)[-1]} module, not {mod.__name__.rsplit('.', 1)[-1]}")
    other = frames.setdefault(r.frame.name, r.frame)
    if other is not r.frame and other.build is not r.frame.build:
        raise DeclarationError(f"{where}: frame {r.frame.name!r} is declared twice")
    if not isinstance(r.decision, tuple) or not r.decision or not all(isinstance(e, Expectation) for e in r.decision):
        raise DeclarationError(f"{where}: decided by no expectation (decision: a tuple of Expectations)")


FACT = re.compile(r"\{([a-z_]+)\.([a-z_]+)\.([a-z_]+)\}")


def _facts(text: str) -> str:
    """``{table.field.attribute}`` in a description, replaced by that fact of the declarations in
    ``schemas/`` (e.g. ``{claims.quotation.max_length}``)."""
    if "{" not in text:
        return text
    from opsledger.declarations import tables

    return FACT.sub(lambda m: str(getattr(tables()[m[1]].field(m[2]), m[3])), text)


def _origin(mod: ModuleType) -> str:
    """The declaring module's file, as a path inside the package (for messages)."""
    f = mod.__file__ or mod.__name__
    i = f.replace("\\", "/").rfind("opsledger/")
    return f[i:] if i >= 0 else f
