"""opsledger: an open, verifiable dataset of operations against online child sexual exploitation.

The library is the product; the ``opsledger`` command is a thin layer over these functions, with the
same defaults, argument checks and errors (each error type carries its exit code, see
:mod:`opsledger.errors`):

- :func:`validate` — validate a data directory (schemas, then cross-source expectations)
- :func:`load` — load a table of a published release, verifying its checksums
- :func:`release` — publish a versioned, immutable release
- :func:`versions` — the versions a store holds
- :func:`diff` — the row-level changes between two releases, or a release and a directory
- :func:`rederive` — recompute every derived column of a data directory (``opsledger reconcile``)
- :func:`correction_check`, :func:`correction_apply`, :func:`correction_revert`,
  :func:`correction_new` — change sets (``opsledger correction check|apply|revert|new``)
- :func:`read_tables`, :func:`derive_all` — the tables of a data directory, and their derived columns

Every ``sources`` (source archive) argument defaults to :data:`DEFAULT_ARCHIVE`: ``../shared/sources``
beside the repository when it exists; pass None for no archive.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: Public name -> (module, attribute). Imports are lazy, so `import opsledger` stays fast (pandas and
#: great-expectations load only when validating). No public name is also a submodule's name: importing
#: the submodule would replace the function on the package.
API = {
    "validate": ("opsledger.validation.run", "validate"),
    "load": ("opsledger.publishing.store", "load"),
    "release": ("opsledger.publishing.publish", "release"),
    "versions": ("opsledger.publishing.store", "versions"),
    "diff": ("opsledger.publishing.publish", "diff"),
    "rederive": ("opsledger.derive.reconcile", "rederive"),
    "correction_check": ("opsledger.corrections.changeset", "check"),
    "correction_apply": ("opsledger.corrections.apply", "apply"),
    "correction_revert": ("opsledger.corrections.apply", "revert"),
    "correction_new": ("opsledger.corrections.apply", "new_changeset"),
    "read_tables": ("opsledger.data.io", "read_tables"),
    "derive_all": ("opsledger.derive.reconcile", "derive_all"),
    "DEFAULT_ARCHIVE": ("opsledger.data.io", "DEFAULT_ARCHIVE"),
}

__all__ = [*API, "__version__"]

#: The extra (``pip install 'opsledger[EXTRA]'``) each public name needs beyond the package alone, which
#: installs only what :func:`load` and :func:`versions` need (pyarrow).
NEEDS = {"validate": "validate", "release": "publish", "diff": "data", "rederive": "data",
         "correction_check": "validate", "correction_apply": "validate", "correction_revert": "validate",
         "correction_new": "data", "read_tables": "data", "derive_all": "data"}


def __getattr__(name: str):
    if name in API:
        module, attr = API[name]
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:
            missing = (exc.name or "").partition(".")[0]
            if not missing or missing == "opsledger":
                raise
            from opsledger.errors import MissingExtra

            raise MissingExtra(f"{missing} is not installed: opsledger.{name} needs "
                               f"pip install 'opsledger[{NEEDS.get(name, 'data')}]'") from None
        return getattr(mod, attr)
    raise AttributeError(f"module 'opsledger' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *API])
