"""The errors opsledger raises, each carrying the exit code the command line gives it.

The command line maps the *type* of an exception to its exit code (never its message):

- :class:`UsageError` (exit 2): the input cannot be used at all: a missing or unreadable file, a bad
  argument, malformed YAML/TOML, a path outside its root, a bad declaration (:class:`DeclarationError`).
- :class:`DataError` (exit 1): the input was read, but the data is refused: a change set that would
  not validate, a damaged release, a release the rules refuse.

Every message is one line naming the file, table, row key or column concerned (a change set with
several problems gives one line per problem).
"""

from __future__ import annotations


class OpsledgerError(Exception):
    """Base of every error opsledger raises on purpose."""

    exit_code = 1


class UsageError(OpsledgerError, ValueError):
    """Input that cannot be used: missing file, bad argument, unparsable file, path outside its root."""

    exit_code = 2


class DataError(OpsledgerError):
    """Input that was read but is refused by the rules (or damaged data in a store)."""

    exit_code = 1


class PathError(UsageError):
    """A path taken from data or a change set that leaves its root, or a file that is not text."""


class DeclarationError(UsageError):
    """A declaration (``schemas/``, the rules of ``opsledger.validation.rules``) that cannot be used: a key naming a missing
    column, a foreign key to a table that does not exist, a rule naming an unknown frame or column.
    The message names the file and what is wrong."""


class MissingExtra(UsageError):
    """A function whose optional dependencies (an extra of the package) are not installed (exit 2)."""


#: The modules each extra of the package provides (see ``[project.optional-dependencies]`` in
#: pyproject.toml), checked before work starts. The package alone (``pip install opsledger``) installs
#: pyarrow: enough for :func:`opsledger.load`.
EXTRAS = {
    "data": ("polars", "pydantic", "yaml"),
    "cli": ("typer", "polars", "pydantic", "yaml"),
    "validate": ("pandera", "great_expectations", "pandas", "pydantic", "polars", "pycountry"),
    "publish": ("jinja2", "matplotlib", "polars", "pydantic", "pycountry", "fsspec"),
    "pandas": ("pandas",),
    "polars": ("polars",),
    "remote": ("fsspec",),
}


def require(*extras: str) -> None:
    """Raise :class:`MissingExtra` (one line naming the extra to install) unless every module of
    ``extras`` can be imported. Finds the modules without importing them."""
    import importlib.util

    for extra in extras:
        for mod in EXTRAS[extra]:
            if importlib.util.find_spec(mod) is None:
                raise MissingExtra(f"{mod} is not installed: this needs pip install 'opsledger[{','.join(extras)}]'")


def import_extra(module: str, extra: str, what: str | None = None):
    """``module`` imported, or :class:`MissingExtra` (one line naming the extra to install) when it is
    not installed (or is blocked: ``sys.modules[module] = None``). ``what`` names what needs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        need = f"{what} needs" if what else "this needs"
        raise MissingExtra(f"{module} is not installed: {need} pip install 'opsledger[{extra}]'") from None


__all__ = ["OpsledgerError", "UsageError", "DataError", "PathError", "DeclarationError", "MissingExtra", "require", "import_extra"]
