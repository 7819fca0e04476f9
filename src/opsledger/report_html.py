"""An offline HTML validation report: one self-contained page, no script, no remote asset."""

from __future__ import annotations

import html
from pathlib import Path

from opsledger.findings import Report
from opsledger.util import write_text_atomic

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em}table{border-collapse:collapse;width:100%;margin:1em 0;table-layout:fixed}
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top;overflow-wrap:break-word}
code{font-size:.92em}
th{background:#f3f3f3}.passed{color:#176b2c}.failed{color:#a40000;font-weight:bold}
.warning{color:#8a5a00}.acknowledged{color:#555}.skipped{color:#777;font-style:italic}
.summary span{display:inline-block;margin-right:1.5em}
"""


def render_html(report: Report) -> str:
    e = html.escape
    c = report.counts()
    verdict = "PASSED" if report.ok else "FAILED"
    rows = "".join(
        f"<tr><td><code>{e(r.rule)}</code></td><td>{e(r.stage)}</td><td>{e(r.severity)}</td>"
        f"<td class='{e(r.status)}'>{e(r.status)}</td><td>{e(r.description)}"
        f"{('<br><small>' + e(r.detail) + '</small>') if r.detail else ''}</td></tr>"
        for r in report.rules
    )
    frows = "".join(
        f"<tr><td><code>{e(f.rule)}</code></td><td>{e(f.severity)}</td>"
        f"<td class='{'acknowledged' if f.acknowledged else ('failed' if f.severity == 'error' else 'warning')}'>"
        f"{'acknowledged' if f.acknowledged else 'open'}</td><td>{e(f.table)}</td><td><code>{e(str(f.key))}</code></td>"
        f"<td>{e(f.column or '')}</td><td>{e(', '.join(f.sources))}</td><td>{e(f.message)}"
        f"{('<br><small>Acknowledged: ' + e(f.reason) + '</small>') if f.reason else ''}</td></tr>"
        for f in report.findings
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>opsledger validation report</title><style>{CSS}</style></head>
<body>
<h1>opsledger validation report: <span id="verdict" class="{'passed' if report.ok else 'failed'}">{verdict}</span></h1>
<p>Data: <code>{e(report.data_dir)}</code>; exit code {report.exit_code}.</p>
<p class="summary" id="summary"><span>rules run: {c['rules_run']}</span><span>passed: {c['rules_passed']}</span>
<span>failed: {c['rules_failed']}</span><span>warnings: {c['rules_warning']}</span>
<span>acknowledged: {c['rules_acknowledged']}</span><span>skipped: {c['rules_skipped']}</span></p>
{_grounding(report)}
<h2>Findings ({len(report.findings)})</h2>
<table id="findings"><colgroup><col style="width:14%"><col style="width:7%"><col style="width:10%">
<col style="width:8%"><col style="width:14%"><col style="width:6%"><col style="width:13%"><col style="width:28%"></colgroup><tr><th>rule</th><th>severity</th><th>state</th><th>table</th><th>row key</th><th>column</th><th>sources</th><th>reason</th></tr>{frows}</table>
<h2>Rules ({len(report.rules)})</h2>
<table id="rules"><colgroup><col style="width:24%"><col style="width:7%"><col style="width:7%">
<col style="width:10%"><col style="width:52%"></colgroup><tr><th>rule</th><th>stage</th><th>severity</th><th>status</th><th>description</th></tr>{rows}</table>
</body></html>
"""


def _grounding(report: Report) -> str:
    g = report.grounding
    if not g:
        return ""
    return (f"<p class='summary' id='grounding'><span>claims grounded in an archived text: {g['grounded']}</span>"
            f"<span>supported only by a quotation: {g['quotation_only']}</span>"
            f"<span>unsupported: {g['unsupported']}</span></p>")


def write_html(report: Report, path: Path | str) -> None:
    write_text_atomic(path, render_html(report))
