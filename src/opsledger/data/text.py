"""Text as phrase matching reads it: the one normalisation shared by the evidence rules and
``opsledger sources fetch`` (standard library only)."""

from __future__ import annotations

import re
import unicodedata

#: Quotes and dashes read as their plain form; soft hyphen and zero-width space dropped.
QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
                         "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
                         "\u00ab": '"', "\u00bb": '"',
                         "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
                         "\u2015": "-", "\u2212": "-", "\ufe58": "-", "\ufe63": "-", "\uff0d": "-",
                         "\u00ad": None, "\u200b": None})
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Text for phrase matching: NFC, quotes and dashes unified, whitespace (NBSP too) collapsed."""
    text = unicodedata.normalize("NFC", text).translate(QUOTES)
    return _SPACE.sub(" ", text.replace("\u00a0", " ")).strip()


__all__ = ["QUOTES", "normalise"]
