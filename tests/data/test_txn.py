"""Atomic writes (data/txn.py): a written file keeps its mode or follows the umask."""

from __future__ import annotations


def test_atomic_write_keeps_permissions_and_follows_the_umask(tmp_path):
    """A release or a generated document must be readable by others when the umask says so (mkstemp
    alone gives 0600), and a file that is replaced keeps its mode."""
    import stat

    from opsledger.data.txn import _umask, write_text_atomic

    p = tmp_path / "new.md"
    write_text_atomic(p, "a")
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~_umask()
    p.chmod(0o640)
    write_text_atomic(p, "b")
    assert stat.S_IMODE(p.stat().st_mode) == 0o640 and p.read_text() == "b"
