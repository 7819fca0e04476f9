"""opsledger: an open, verifiable dataset of operations against online child sexual exploitation.

The library is the product; the ``opsledger`` command is a thin layer over it:

- :func:`validate` — validate a data directory (schemas, then cross-source expectations)
- :func:`load` — load a table of a published release, verifying its checksum
- :func:`release` — publish a versioned, immutable release
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["validate", "load", "release", "read_tables", "derive_all", "__version__"]


def __getattr__(name: str):
    # Lazy imports keep `import opsledger` fast (great-expectations loads only when validating).
    if name == "validate":
        from opsledger.validation import validate

        return validate
    if name == "read_tables":
        from opsledger.io import read_tables

        return read_tables
    if name == "derive_all":
        from opsledger.reconcile import derive_all

        return derive_all
    if name in ("load", "release"):
        from opsledger import publish

        return getattr(publish, name)
    raise AttributeError(f"module 'opsledger' has no attribute {name!r}")
