"""The ``opsledger`` command's launcher (the console script, and ``python -m opsledger``).

The package alone (``pip install opsledger``) installs only what loading a release needs; the command
line needs the ``cli`` extra (typer and the data stack). Without it, the command says which extra to
install (exit 2) instead of ending in a traceback."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from opsledger.cli import main as run
    except ImportError as exc:
        missing = (exc.name or "").partition(".")[0]
        if not missing or missing == "opsledger":
            raise
        print(f"error: {missing} is not installed: the opsledger command needs pip install 'opsledger[cli]'",
              file=sys.stderr)
        raise SystemExit(2) from None
    run()


if __name__ == "__main__":  # pragma: no cover
    main()
