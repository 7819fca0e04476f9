"""Acknowledgements (``checks/acknowledgements.toml``): findings curators have read and explained."""

from __future__ import annotations

import tomllib
from pathlib import Path

from opsledger.errors import UsageError
from opsledger.validation.rules.base import checks_dir


def load_acknowledgements(path: Path | str | None = None) -> list[dict]:
    """The acknowledgements (``[[ack]]`` tables with rule, key and reason); the default file may be
    missing, a file given by name may not. Malformed TOML or entries are refused with a one-line error."""
    given = path is not None
    path = Path(path) if path else checks_dir() / "acknowledgements.toml"
    if not path.is_file():
        if given:
            raise UsageError(f"{path}: no such acknowledgements file")
        return []
    try:
        doc = tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: acknowledgements file is not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML ({str(exc).splitlines()[0]})") from None
    acks = doc.get("ack", [])
    if not isinstance(acks, list):
        raise UsageError(f"{path}: `ack` must be an array of tables ([[ack]])")
    for i, a in enumerate(acks, 1):
        if not isinstance(a, dict):
            raise UsageError(f"{path}: ack #{i} is not a table")
        for k in ("rule", "key", "reason"):
            if not isinstance(a.get(k), str) or not a[k].strip():
                raise UsageError(f"{path}: ack #{i} needs a non-empty string `{k}`")
    return acks
