"""The library's validation arguments: ``opsledger.validate`` stays callable and refuses bad
arguments, names are a path or an iterable, malformed acknowledgements are one clear error."""

from __future__ import annotations

import pytest

from opsledger.errors import UsageError


def test_validate_stays_callable_and_checks_its_arguments(tmp_path):
    import opsledger.validation.run  # noqa: F401  (the submodule import must not replace the function)

    assert callable(opsledger.validate)
    for bad in ({}, "", "   ", 3, b"datasets"):
        with pytest.raises(UsageError):
            opsledger.validate(bad)
    assert callable(opsledger.validate)
    with pytest.raises(UsageError, match="no such names file"):
        opsledger.validate(tmp_path, names="Alice")
    with pytest.raises(UsageError, match="no such acknowledgements file"):
        opsledger.validate(tmp_path, acknowledgements=tmp_path / "missing.toml")


def test_names_are_a_path_or_an_iterable(tmp_path):
    from opsledger.validation.run import read_names

    f = tmp_path / "names.txt"
    f.write_text("Alice Example\n\nBob Example\n")
    assert read_names(f) == read_names(str(f)) == ["Alice Example", "Bob Example"]
    assert read_names(["Alice"]) == ["Alice"] and read_names(("Alice",)) == ["Alice"]
    (tmp_path / "bin").write_bytes(b"\xff\x00\x01")
    for bad in (tmp_path / "bin", [1, 2], b"Alice", {"a": 1}):
        with pytest.raises(UsageError):
            read_names(bad)


def test_malformed_acknowledgements_are_a_clean_error(tmp_path):
    from opsledger.validation.rules import load_acknowledgements

    for text in ("[[ack]\nrule=", "ack = 3", "[[ack]]\nrule = 'x'\n", "\xff"):
        p = tmp_path / "acks.toml"
        p.write_bytes(text.encode("latin-1"))
        with pytest.raises(UsageError) as exc:
            load_acknowledgements(p)
        assert "acks.toml" in str(exc.value) and "\n" not in str(exc.value)
