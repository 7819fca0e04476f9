"""One escaping function per output format, each defined here and only here. Values from the data (a
source title, an operation name, a stated phrase, a change set's reason) may hold anything: markup,
control characters, bidi overrides, a newline, a spreadsheet formula, a ``$`` that matplotlib would
read as mathematics. Every output goes through its format's function:

============================  ============================================================================
format                        function
============================  ============================================================================
terminal (every line printed) :func:`terminal` (:func:`terminal_line` for a value inside a one-line message)
``opsledger show`` rows       :func:`show_cell`: one line per row, whatever the value holds
CSV cells                     :func:`csv_cell`: formulas neutralised (see its docstring for the rule)
Markdown (notes, datasheet)   :func:`markdown`: no raw HTML, link, emphasis or line break from the data
                              (:func:`markdown_code` for an identifier shown as code)
HTML (site, report)           :func:`html` (applied to every value of an HTML template before Jinja's
                              autoescaping) and :func:`href` (a link's address: http(s) only)
chart labels (matplotlib)     :func:`chart_label`: one line, no control character (mathtext is off)
============================  ============================================================================

Standard library only.
"""

from __future__ import annotations

import re
from typing import Any

#: C0 controls except tab and newline, DEL, C1 controls, and the invisible formatting characters that
#: reorder or hide text: bidi embeddings/overrides/isolates, marks, zero-width characters, BOM,
#: line/paragraph separators and interlinear annotation characters.
UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]"
)


def _escape(m: re.Match) -> str:
    return f"\\u{ord(m.group()):04x}"


def visible(text: object) -> str:
    """``text`` as a string with every character of :data:`UNSAFE` shown as a ``\\uXXXX`` escape."""
    return UNSAFE.sub(_escape, str(text))


# --------------------------------------------------------------------------- terminal


def terminal(text: object, markup: bool = False) -> str:
    """Text for a terminal: every control or bidi character shown as ``\\uXXXX`` (valid inside JSON
    strings too). With ``markup=True`` the opening bracket of rich markup (``[bold]``) is escaped too."""
    s = visible(text)
    return s.replace("[", "\\[") if markup else s


def terminal_line(text: object) -> str:
    """:func:`terminal`, with newlines and tabs shown as ``\\n`` and ``\\t`` (a value inside one line)."""
    return visible(text).replace("\n", "\\n").replace("\t", "\\t")


def show_cell(value: Any) -> str:
    """A cell in ``opsledger show`` (and a row key there): its plain text (ISO dates, ``100`` for
    100.0) on one line, so a newline in the data can never print a second, forged row."""
    from opsledger.data.fmt import plain

    return terminal_line(plain(value))


# --------------------------------------------------------------------------- CSV

#: A text cell starting with one of these is read as a formula by spreadsheets (or is our own mark).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "'")


def csv_cell(value: Any) -> Any:
    """A value for a CSV cell. Text starting with ``=``, ``+``, ``-``, ``@``, a tab, a carriage return
    or a line feed, which a spreadsheet would run as a formula, gets one single quote in front
    (``=SUM(A1)`` is written ``'=SUM(A1)``); so does text already starting with a single quote, so
    the rule can be undone: remove one leading ``'`` from a text cell that has one. Numbers, dates and
    booleans are written as they are (``-5`` stays a number)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


# --------------------------------------------------------------------------- Markdown

_MD_INLINE = re.compile(r"([\\`*_\[\]<>|~$&])")
#: what makes a line a block (heading, list item, quote, setext underline, numbered item)
_MD_BLOCK = re.compile(r"^(?:#{1,6}|[-+])(?=\s|$)|^>|^[-=](?=[-=\s]*$)|^\d{1,9}(?=[.)](\s|$))")


class MarkdownText(str):
    """Markdown built by opsledger itself (a table, a list) whose data values were escaped already:
    a Markdown template writes it as it is."""


def markdown(text: object) -> str:
    """A value inside Markdown text: control and bidi characters made visible, line breaks and tabs
    read as spaces, every character with an inline meaning (``\\ ` * _ [ ] < > | ~ $ &``) backslash-
    escaped, and a leading block marker (``#``, ``>``, ``-``, ``+``, ``=``, ``1.``) escaped, so no
    HTML, link, image, emphasis, table cell or heading can come from the data. Renders as the text."""
    if isinstance(text, MarkdownText):
        return text
    s = visible(text).replace("\r\n", " ").replace("\r", " ").replace("\n", " ").replace("\t", " ").strip()
    s = _MD_INLINE.sub(r"\\\1", s)
    m = _MD_BLOCK.match(s)
    if m is None:
        return s
    at = m.end() if s[:1].isdigit() else 0  # "1." -> "1\.", "# x" -> "\# x"
    return s[:at] + "\\" + s[at:]


def markdown_code(text: object) -> MarkdownText:
    """``text`` as a Markdown code span (an identifier shown as code), fenced by more backticks than it
    holds, so nothing inside is read as Markdown; one line, control characters made visible."""
    s = " ".join(visible(text).replace("\r", "\n").split("\n"))
    if not s:
        return MarkdownText("")
    longest = max((len(r) for r in re.findall("`+", s)), default=0)
    fence = "`" * (longest + 1)
    # a span that starts or ends with a backtick or a space is padded by one space each side, which
    # readers remove (an all-space span is kept as it is)
    pad = " " if s.strip() and (s[0] in "` " or s[-1] in "` ") else ""
    return MarkdownText(f"{fence}{pad}{s}{pad}{fence}")


# --------------------------------------------------------------------------- HTML


def html(value: Any) -> Any:
    """A value of an HTML template, before Jinja's autoescaping (which handles ``< > & " '``): control
    and bidi characters shown as ``\\uXXXX``, so none reaches the page raw. Markup built by opsledger
    (an SVG chart) keeps its type; values that are not text are left alone."""
    if not isinstance(value, str) or UNSAFE.search(value) is None:
        return value
    if hasattr(value, "__html__"):  # markupsafe.Markup: already safe HTML, kept as such
        return type(value)(visible(value))
    return visible(value)


_SCHEME_NOISE = re.compile(r"[\x00-\x20\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")


def href(url: object) -> str | None:
    """The address of a link from the data, or None (no link) unless it is an absolute http(s) address.
    Browsers drop whitespace and control characters inside a scheme (``java\\tscript:``), so they are
    dropped before the scheme is judged: ``javascript:``, ``data:``, ``vbscript:``, ``file:`` and
    relative addresses never become a link."""
    if not isinstance(url, str):
        return None
    judged = _SCHEME_NOISE.sub("", url).lower()
    if not judged.startswith(("http://", "https://")) or UNSAFE.search(url) or any(c in url for c in "\n\r\t"):
        return None
    return url.strip()


# --------------------------------------------------------------------------- charts


def chart_label(text: object) -> str:
    """A label matplotlib draws: control and bidi characters made visible and line breaks read as
    spaces. A ``$`` stays a dollar sign: the chart module turns matplotlib's mathtext off for every
    text (``text.parse_math = False``), so ``$x^2$`` from an operation's name is drawn as written and
    can never fail to parse."""
    return visible(text).replace("\r", " ").replace("\n", " ").replace("\t", " ")


__all__ = ["UNSAFE", "visible", "terminal", "terminal_line", "show_cell", "csv_cell", "FORMULA_STARTS",
           "markdown", "markdown_code", "MarkdownText", "html", "href", "chart_label"]
