"""Small shared helpers: atomic text writes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_bytes_atomic(path: Path | str, data: bytes) -> None:
    """Write to a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path | str, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


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
