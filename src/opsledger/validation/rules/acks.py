"""Acknowledgements (``checks/acknowledgements.toml``): findings curators have read and explained, and
the rule that none of them has gone stale (checked after every other rule)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from opsledger.errors import UsageError
from opsledger.validation.rules.base import Family, Rule, checks_dir


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


def stale(acks: list[dict], matched: set[tuple], skipped: set[str]) -> list[dict]:
    """The acknowledgements that match no finding (``matched``: the (rule, table, key) of the findings
    acknowledged), leaving out those of rules that did not run."""
    return [a for a in acks if (a["rule"], a.get("table"), a["key"]) not in matched and a["rule"] not in skipped]


FAMILY = Family("acknowledgements", "9. Every acknowledgement is still needed")

#: checked after every other rule, on their findings (see ``opsledger.validation.rules._record``)
NOT_STALE = Rule("acknowledgements.not_stale", "error",
                 "Every acknowledgement in checks/acknowledgements.toml still matches a finding.",
                 detail="acknowledgement of {rule} for {table}[{key}] matches no finding any more; remove it",
                 decision=stale, stage="after")

RULES = [NOT_STALE]
