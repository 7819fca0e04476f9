"""What every declaration model shares: the base model and the pattern of a name."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

#: A name of a table, column, vocabulary or term: lowercase letters, digits and underscores.
NAME = re.compile(r"[a-z][a-z0-9_]*\Z", re.ASCII)


class _Decl(BaseModel):
    """A declaration: immutable, and an unknown key is an error (a typo never passes silently)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
