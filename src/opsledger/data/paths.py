"""Small shared helpers: paths as reports show them, the default source archive. (Atomic writes are
in :mod:`opsledger.data.txn`.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def display_path(path: Path | str) -> str:
    """A path as a report shows it: relative to the repository or the working directory, never the
    machine's absolute path (so the same data gives the same report on any machine)."""
    from opsledger.declarations import repo_root

    p = Path(path)
    if not p.is_absolute():
        return p.as_posix()
    for base in (repo_root(), Path.cwd()):
        try:
            return p.resolve().relative_to(base.resolve()).as_posix() or "."
        except ValueError:
            continue
    return p.name


class _DefaultArchive:
    """The default of every ``sources``/``archive`` argument, in the library and the command line alike:
    ``../shared/sources`` beside the repository when that directory exists, else no archive."""

    def __repr__(self) -> str:
        return "DEFAULT_ARCHIVE"


#: (defined here, not in :mod:`opsledger.data.io`, so that a module can name it without importing polars)
DEFAULT_ARCHIVE: Any = _DefaultArchive()
