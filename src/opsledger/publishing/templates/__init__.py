"""Jinja2 templates for everything a person reads in a release: notes, datasheet, site pages, report.

Prose lives in these templates, not in Python strings; :func:`render` fills them with values written
by :mod:`opsledger.data.fmt`. HTML templates are autoescaped.
"""

from __future__ import annotations

import functools
from pathlib import Path

HERE = Path(__file__).parent


@functools.cache
def environment():
    import jinja2

    from opsledger.data import fmt

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE)),
        autoescape=jinja2.select_autoescape(["html", "html.j2", "svg.j2"], default_for_string=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(number=fmt.number, span=fmt.span, figure=fmt.figure, date=fmt.date,
                       plain=fmt.plain, words=fmt.words, interval=fmt.interval)
    return env


def render(name: str, **context) -> str:
    """Render ``templates/<name>`` with ``context``."""
    return environment().get_template(name).render(**context)
