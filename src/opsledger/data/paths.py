"""Small shared helpers: where the declarations and the repository are, paths as reports show them,
the default source archive. (Atomic writes are in :mod:`opsledger.data.txn`.) Standard library only:
loading a release (:func:`opsledger.load`) imports this module, and needs nothing but pyarrow."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any


def schema_dir() -> Path:
    """Where the declarations live: ``$OPSLEDGER_SCHEMAS``, the copy inside a wheel, or the repo's.
    (Called on every lookup of a declaration: the answer is cached per value of the variable.)"""
    return _schema_dir(os.environ.get("OPSLEDGER_SCHEMAS") or None)


@functools.lru_cache(maxsize=16)
def _schema_dir(env: str | None) -> Path:
    if env:
        return Path(env)
    bundled = Path(__file__).resolve().parents[1] / "schemas"  # the copy inside a wheel
    if bundled.is_dir():
        return bundled
    return Path(__file__).resolve().parents[3] / "schemas"


def repo_root() -> Path:
    return schema_dir().parent


def display_path(path: Path | str) -> str:
    """A path as a report shows it: relative to the repository or the working directory, never the
    machine's absolute path (so the same data gives the same report on any machine)."""
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


def flag_arg(value, what: str) -> bool:
    """A yes/no argument of the library: a bool, nothing else (``"no"`` is not False)."""
    if not isinstance(value, bool):
        from opsledger.errors import UsageError

        raise UsageError(f"{what} must be True or False, not {value!r}")
    return value
