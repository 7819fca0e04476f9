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

    def as_dict(self) -> dict:
        d = asdict(self)
        d["value"] = _plain(self.value)
        return d

    def line(self) -> str:
        where = f"{self.table}[{self.key}]" if self.key is not None else self.table
        if self.column:
            where += f".{self.column}"
        tag = "ACK " if self.acknowledged else ""
        src = f" (sources: {', '.join(self.sources)})" if self.sources else ""
        return f"{tag}{self.severity.upper():7} {self.rule}: {where}: {self.message}{src}"


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

    def as_dict(self) -> dict:
        return {
            "data_dir": self.data_dir,
            "exit_code": self.exit_code,
            "unusable": self.unusable,
            "summary": self.counts(),
            "grounding": self.grounding,
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            "rules": [asdict(r) for r in self.rules],
            "findings": [f.as_dict() for f in self.findings],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, ensure_ascii=False)

    def text(self, limit: int | None = None) -> str:
        if self.unusable:
            return f"unusable input: {self.unusable}"
        c = self.counts()
        lines = [
            f"{c['rules_run']} rules run: {c['rules_passed']} passed, {c['rules_failed']} failed, "
            f"{c['rules_warning']} with warnings, {c['rules_acknowledged']} acknowledged, "
            f"{c['rules_skipped']} skipped; findings: {c['errors']} errors, {c['warnings']} warnings, "
            f"{c['acknowledged']} acknowledged" + (f"; {grounding_line(self.grounding)}" if self.grounding else "")
        ]
        for r in self.rules:
            if r.status == "skipped":
                lines.append(f"SKIPPED {r.rule}: {r.detail}")
        shown = sorted(self.findings, key=lambda f: (f.acknowledged, f.severity != "error", f.rule))
        for f in shown[:limit]:
            lines.append(f.line())
            if f.acknowledged and f.reason:
                lines.append(f"        acknowledged because: {f.reason}")
        if limit is not None and len(shown) > limit:
            lines.append(f"... and {len(shown) - limit} more findings")
        return "\n".join(lines)
