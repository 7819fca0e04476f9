"""An offline HTML validation report: one self-contained page (template ``templates/report.html.j2``)
with a summary per rule family and per operation, filters, the tool version, the data commit and the
time. No remote asset; the inline script only filters rows."""

from __future__ import annotations

import datetime as dt
import subprocess
from collections import Counter

from opsledger.validation.findings import Report, _order
from opsledger.data.txn import write_text_atomic


def data_commit() -> str | None:
    """The git commit of the repository holding the data, if it is a git checkout."""
    from opsledger.declarations import repo_root

    try:
        p = subprocess.run(["git", "-C", str(repo_root()), "rev-parse", "HEAD"], capture_output=True,
                           text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return p.stdout.strip() or None if p.returncode == 0 else None


def render_html(report: Report, when: str | None = None) -> str:
    """The report as HTML; ``when`` (default: now, UTC) is the time it states."""
    from opsledger import __version__
    from opsledger.publishing.outputs.site import REPORT_SCRIPT, page_script
    from opsledger.publishing.templates import render

    js, policy = page_script(REPORT_SCRIPT)
    when = when or dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    per_op: dict[str, Counter] = {}
    for f in report.findings:
        per_op.setdefault(f.operation or "(none)", Counter())[f.state] += 1
    findings = sorted(report.findings, key=lambda f: (f.acknowledged, f.severity != "error", *_order(f)))
    return render("report.html.j2", report=report, counts=report.counts(), families=report.families(),
                  per_op=sorted(per_op.items()), findings=findings, version=__version__,
                  commit=data_commit(), when=when, csp=policy, script=js)


def write_html(report: Report, path) -> None:
    write_text_atomic(path, render_html(report))
