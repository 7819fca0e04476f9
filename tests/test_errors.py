"""Every error type carries its exit code."""

from __future__ import annotations

from opsledger.data import io as oio
from opsledger.publishing import store as ostore
from opsledger.corrections.changeset import CorrectionError
from opsledger.errors import OpsledgerError, PathError, UsageError


def test_error_types_carry_exit_codes():
    from opsledger.corrections.changeset import ChangeSetRefused

    assert UsageError("x").exit_code == 2 and PathError("x").exit_code == 2
    assert ostore.ReleaseError("x").exit_code == 1 and ostore.ChecksumError("x").exit_code == 1
    assert ostore.ReleaseUsageError("x").exit_code == 2 and ChangeSetRefused("x").exit_code == 1
    assert CorrectionError("x").exit_code == 2 and oio.UnusableInput("x").exit_code == 2
    assert all(issubclass(e, OpsledgerError) for e in (CorrectionError, ostore.StoreError, PathError))
