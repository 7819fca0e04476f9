"""Text that reaches a terminal: control characters and markup from the data are made visible.

Data (a source title, a stated phrase, a note, a change-set value) may hold escape sequences, a bell,
right-to-left overrides or rich markup. :func:`safe` shows each such character as a ``\\uXXXX``
escape (valid inside JSON strings too) and escapes ``[`` so that no console interprets markup; every
line the command line prints goes through it. Both functions are the terminal's escaping functions of
:mod:`opsledger.escape` (one per output format, all in that module).
"""

from __future__ import annotations

from opsledger.escape import UNSAFE as _UNSAFE  # noqa: F401  (kept for callers of the old name)
from opsledger.escape import terminal as safe
from opsledger.escape import terminal_line as one_line

__all__ = ["safe", "one_line"]
