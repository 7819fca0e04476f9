"""Paths from data stay inside their root: an archived text named by a source row is read only from
inside the archive, by a validation and by a change-set check alike (issue 11)."""

from __future__ import annotations

import pytest

from opsledger.errors import PathError

from conftest import write_cs

#: the tests' ``data`` is the small dataset: they edit rows of its operations only (conftest)
SMALL_DATA = True


@pytest.mark.parametrize("rel", ["../../../../etc/passwd", "/etc/passwd", "a/../../x.txt", "", "a\x00b"])
def test_archive_path_outside_the_archive_is_refused(tmp_path, rel):
    from opsledger.derive.reconcile import archive_text

    (tmp_path / "archive").mkdir()
    with pytest.raises(PathError) as exc:
        archive_text(tmp_path / "archive", rel, "s1")
    assert "sources[s1].archive_file" in str(exc.value) and "\n" not in str(exc.value)


def test_archive_symlink_leading_out_is_refused(tmp_path):
    from opsledger.derive.reconcile import archive_text

    arch = tmp_path / "archive"
    arch.mkdir()
    (tmp_path / "secret.txt").write_text("secret")
    (arch / "link.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(PathError, match="outside"):
        archive_text(arch, "link.txt", "s1")


@pytest.mark.parametrize("content", [b"\x00\x01\x02binary", b"\xff\xfe\xfa not utf-8"])
def test_binary_archive_file_is_a_clean_error(tmp_path, content):
    from opsledger.derive.reconcile import archive_text

    arch = tmp_path / "archive"
    arch.mkdir()
    (arch / "bin.txt").write_bytes(content)
    with pytest.raises(PathError, match="bin.txt"):
        archive_text(arch, "bin.txt", "s1")


def test_change_set_cannot_read_outside_the_archive(tmp_path, data):
    """Issue 11 case 1: a source row with archive_file ../../etc/passwd must not be read."""
    from typer.testing import CliRunner

    from opsledger.cli import app

    arch = tmp_path / "archive"
    arch.mkdir()
    doc = {"title": "t", "reason": "r", "changes": [{
        "op": "add", "table": "sources", "source": "evil",
        "row": {"source_id": "evil", "kind": "news", "language": "en",
                "archive_file": "../../../../../../../../etc/passwd"}}]}
    cs = write_cs(tmp_path, "0900-evil", doc)
    r = CliRunner().invoke(app, ["correction", "check", str(cs), "--data-dir", str(data), "--sources", str(arch)])
    assert r.exit_code == 2, r.output
    assert "outside" in r.output and "root:" not in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1
