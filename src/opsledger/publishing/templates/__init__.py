"""Jinja2 templates for everything a person reads in a release: notes, datasheet, site pages, report.

Prose lives in these templates, not in Python strings; :func:`render` fills them with values written
by :mod:`opsledger.data.fmt`. Every value is escaped for its template's format by the one function of
:mod:`opsledger.escape` for that format, applied to each ``{{ ... }}`` before it is written:

- HTML (``*.html.j2``, ``*.svg.j2``): :func:`opsledger.escape.html` (control and bidi characters made
  visible), then Jinja's autoescaping;
- Markdown (``*.md.j2``): :func:`opsledger.escape.markdown`. Markdown that opsledger built itself (a
  table, a row-level diff) is passed as :class:`opsledger.escape.MarkdownText`; text declared as
  Markdown in ``schemas/`` goes through the ``md`` filter, and an identifier shown as code through
  ``code``;
- other templates (CITATION.cff, JSON) hold no value from the data.
"""

from __future__ import annotations

import functools
from pathlib import Path

HERE = Path(__file__).parent
HTML = (".html.j2", ".svg.j2")
MARKDOWN = (".md.j2",)


def declared_markdown(text: object) -> str:
    """Markdown written in ``schemas/`` (a table's or column's description), passed as it is."""
    from opsledger.escape import MarkdownText

    return MarkdownText("" if text is None else str(text))


@functools.cache
def environment(kind: str = "text"):
    """The environment of one kind of template: ``html``, ``markdown`` or ``text``."""
    import jinja2

    from opsledger import escape
    from opsledger.data import fmt

    finalize = {"html": escape.html, "markdown": escape.markdown}.get(kind)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE)),
        autoescape=kind == "html",
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    if finalize is not None:
        env.finalize = finalize
    env.filters.update(number=fmt.number, span=fmt.span, figure=fmt.figure, date=fmt.date,
                       plain=fmt.plain, words=fmt.words, href=escape.href, code=escape.markdown_code,
                       md=declared_markdown, interval=fmt.interval)
    return env


def kind_of(name: str) -> str:
    return "html" if name.endswith(HTML) else "markdown" if name.endswith(MARKDOWN) else "text"


def render(name: str, **context) -> str:
    """Render ``templates/<name>`` with ``context``, every value escaped for the template's format. Every
    template also sees ``dataset``, the dataset's declared identity (title, licences, ...)."""
    from opsledger.declarations import dataset

    return environment(kind_of(name)).get_template(name).render(**{"dataset": dataset(), **context})
