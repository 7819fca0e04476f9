"""Text that reaches a terminal: control characters and markup from the data are made visible.

Data (a source title, a stated phrase, a note, a change-set value) may hold escape sequences, a bell,
right-to-left overrides or rich markup. :func:`safe` shows each such character as a ``\\uXXXX``
escape (valid inside JSON strings too) and escapes ``[`` so that no console interprets markup; every
line the command line prints goes through it.
"""

from __future__ import annotations

import re

# C0 controls except tab and newline, DEL, C1 controls, and the invisible formatting characters that
# reorder or hide text: bidi embeddings/overrides/isolates, marks, zero-width characters, BOM,
# line/paragraph separators and interlinear annotation characters.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]"
)


def _escape(m: re.Match) -> str:
    return f"\\u{ord(m.group()):04x}"


def safe(text: object, markup: bool = False) -> str:
    """``text`` as a string with every control or bidi character shown as ``\\uXXXX``.

    With ``markup=True`` the opening bracket of rich markup (``[bold]``) is escaped as well, for text
    printed through rich.
    """
    s = _UNSAFE.sub(_escape, str(text))
    if markup:
        s = s.replace("[", "\\[")
    return s


def one_line(text: object) -> str:
    """:func:`safe`, with newlines shown as ``\\n`` too (for values inside a one-line message)."""
    return safe(text).replace("\n", "\\n").replace("\t", "\\t")


__all__ = ["safe", "one_line"]
