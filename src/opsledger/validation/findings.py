"""Findings and the validation report shared by every stage."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Finding:
    rule: str
    table: str
    key: str | None
    column: str | None
    value: Any
    message: str
    severity: str = "error"  # error | warning
    sources: list[str] = field(default_factory=list)
    acknowledged: bool = False
    reason: str | None = None  # the acknowledgement's reason
    operation: str | None = None  # the operation the finding concerns, where one does

    @property
    def family(self) -> str:
        return family(self.rule)

    @property
    def state(self) -> str:
        """acknowledged, error or warning: what a reader should make of it."""
        return "acknowledged" if self.acknowledged else self.severity

    def as_dict(self) -> dict:
        d = asdict(self)
        d["value"] = _plain(self.value)
        return d

    def line(self) -> str:
        where = f"{self.table}[{self.key}]" if self.key is not None else self.table
        if self.column:
            where += f".{self.column}"
        src = f" (sources: {', '.join(self.sources)})" if self.sources else ""
        return f"{self.state.upper():12} {self.rule}: {where}: {self.message}{src}"


def _order(f: Finding) -> tuple:
    """A stable order of findings (the checks may return rows in any order)."""
    return (f.rule, f.table, str(f.key), f.column or "", f.message)


def family(rule: str) -> str:
    """The rule family: the part of a rule's name before the first dot (schema, reconciliation ...)."""
    return rule.split(".", 1)[0]


def _plain(v: Any) -> Any:
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    return str(v)


@dataclass
class RuleRun:
    rule: str
    stage: str  # schema | cross
    severity: str
    description: str
    status: str = "passed"  # passed | failed | warning | acknowledged | skipped
    detail: str | None = None


def grounding_line(c: dict[str, int]) -> str:
    return (f"claims: {c['grounded']} grounded in an archived text, {c['quotation_only']} supported only "
            f"by a quotation, {c['unsupported']} unsupported")


@dataclass
class Report:
    data_dir: str
    rules: list[RuleRun] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    unusable: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    #: claims grounded in an archived (or fetched) text, supported only by a quotation, unsupported
    grounding: dict[str, int] | None = None

    @property
    def open_errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error" and not f.acknowledged]

    @property
    def open_warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning" and not f.acknowledged]

    @property
    def exit_code(self) -> int:
        if self.unusable:
            return 2
        return 1 if self.open_errors else 0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def counts(self) -> dict[str, int]:
        by = {s: sum(1 for r in self.rules if r.status == s)
              for s in ("passed", "failed", "warning", "acknowledged", "skipped")}
        return {
            "rules_run": sum(1 for r in self.rules if r.status != "skipped"),
            **{f"rules_{k}": v for k, v in by.items()},
            "findings": len(self.findings),
            "errors": len(self.open_errors),
            "warnings": len(self.open_warnings),
            "acknowledged": sum(1 for f in self.findings if f.acknowledged),
        }

    def families(self) -> dict[str, dict[str, int]]:
        """Per rule family: rules run and passed, open errors, open warnings, acknowledged findings."""
        out: dict[str, dict[str, int]] = {}
        for r in self.rules:
            d = out.setdefault(family(r.rule), dict.fromkeys(
                ("rules", "passed", "skipped", "errors", "warnings", "acknowledged"), 0))
            d["rules"] += 1
            d["passed"] += r.status == "passed"
            d["skipped"] += r.status == "skipped"
        for f in self.findings:
            d = out.setdefault(f.family, dict.fromkeys(
                ("rules", "passed", "skipped", "errors", "warnings", "acknowledged"), 0))
            d[{"error": "errors", "warning": "warnings"}.get(f.state, "acknowledged")] += 1
        return out

    def as_dict(self, timings: bool = True) -> dict:
        d = {
            "data_dir": self.data_dir,
            "exit_code": self.exit_code,
            "unusable": self.unusable,
            "summary": self.counts(),
            "grounding": self.grounding,
            "families": self.families(),
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            "rules": [asdict(r) for r in self.rules],
            "findings": [f.as_dict() for f in sorted(self.findings, key=_order)],
        }
        if not timings:  # a release's report: the same data gives the same bytes
            del d["timings_s"]
        return d

    def to_json(self, timings: bool = True) -> str:
        return json.dumps(self.as_dict(timings), indent=2, ensure_ascii=False)

    def text(self, limit: int | None = None, verbose: bool = False) -> str:
        """One summary (counts per rule family), then what needs a person: the open findings.
        ``verbose`` also lists the acknowledged findings, marked as such, with the curators' reason."""
        if self.unusable:
            return f"unusable input: {self.unusable}"
        c = self.counts()
        verdict = "passed" if self.ok and not c["warnings"] else ("passed with warnings" if self.ok else "FAILED")
        lines = [f"Validation {verdict}: {c['rules_run']} rules run; {c['errors']} open errors, "
                 f"{c['warnings']} open warnings, {c['acknowledged']} findings acknowledged by the curators."
                 + (f" {grounding_line(self.grounding).capitalize()}." if self.grounding else "")]
        lines.append(f"  {'family':<18}{'rules':>6}{'passed':>8}  findings")
        for fam, d in sorted(self.families().items()):
            parts = [f"{d[k]} {k}" for k in ("errors", "warnings", "acknowledged") if d[k]]
            if d["skipped"]:
                parts.append(f"{d['skipped']} rules skipped")
            lines.append(f"  {fam:<18}{d['rules']:>6}{d['passed']:>8}  {', '.join(parts) or 'none'}")
        for r in self.rules:
            if r.status == "skipped":
                lines.append(f"Skipped {r.rule}: {r.detail}")
        shown = [f for f in self.findings if verbose or not f.acknowledged]
        shown.sort(key=lambda f: (f.acknowledged, f.severity != "error", *_order(f)))
        for f in shown[:limit]:
            lines.append(f.line())
            if f.acknowledged and f.reason:
                lines.append(f"    acknowledged because: {f.reason}")
        if limit is not None and len(shown) > limit:
            lines.append(f"... and {len(shown) - limit} more findings")
        hidden = sum(1 for f in self.findings if f.acknowledged) if not verbose else 0
        if hidden:
            lines.append(f"{hidden} acknowledged findings not listed; --verbose lists them with the curators' reasons.")
        return "\n".join(lines)
