"""Where a stated phrase stands in a text (paragraph and offset), and the texts of the source archive."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path





def locate(text: str, stated: str, hint: int | None) -> tuple[int, int] | None:
    """(paragraph, offset) of ``stated`` in text: at ``hint`` if it stands there, else its first place."""
    if hint is not None and text.startswith(stated, hint):
        offset = hint
    else:
        offset = text.find(stated)
        if offset < 0:
            return None
    return _paragraph(text, offset), offset


def _paragraph(text: str, offset: int) -> int:
    """1-based count of non-blank lines up to and including the one holding offset."""
    before = text[:offset]
    last_nl = before.rfind("\n")
    complete = before[: last_nl + 1] if last_nl >= 0 else ""
    return sum(1 for line in complete.splitlines() if line.strip()) + 1


def archive_text(archive: Path | str, fname: str, source_id: str | None = None) -> tuple[str, str] | None:
    """(text, sha256) of a source's archived file; None when it is not in the archive.

    ``fname`` comes from the data (``sources.archive_file``): it is confined to the archive, and a
    path leading outside it, or a file that is not UTF-8 text, is refused with a one-line
    :class:`~opsledger.errors.PathError`.
    """
    from opsledger.data.io import confined

    what = f"sources[{source_id}].archive_file" if source_id else "archive_file"
    return _archive_text(str(confined(archive, fname, what)), what)


@functools.lru_cache(maxsize=256)
def _archive_text(path: str, what: str) -> tuple[str, str] | None:
    from opsledger.data.io import read_text_file

    got = read_text_file(Path(path), what)
    if got is None:
        return None
    return got[0], hashlib.sha256(got[1]).hexdigest()
