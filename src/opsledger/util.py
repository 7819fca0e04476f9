"""Small shared helpers: paths as reports show them. (Atomic writes are in :mod:`opsledger.txn`.)"""

from __future__ import annotations

from pathlib import Path


def display_path(path: Path | str) -> str:
    """A path as a report shows it: relative to the repository or the working directory, never the
    machine's absolute path (so the same data gives the same report on any machine)."""
    from opsledger.metadata import repo_root

    p = Path(path)
    if not p.is_absolute():
        return p.as_posix()
    for base in (repo_root(), Path.cwd()):
        try:
            return p.resolve().relative_to(base.resolve()).as_posix() or "."
        except ValueError:
            continue
    return p.name
