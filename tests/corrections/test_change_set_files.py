"""Change-set files: an unusable file is one clear error, every schema error of a file is reported,
`correction new` takes the next number, and a check shows what a change does to the published
figures (issue 11)."""

from __future__ import annotations

import shutil

import pytest

from opsledger.corrections.changeset import CorrectionError, read_changeset as load_cs, prepare
from opsledger.errors import UsageError

from conftest import REPO, write_cs

#: the tests' ``data`` is the small dataset: they edit rows of its operations only (conftest)
SMALL_DATA = True


def test_alias_bomb_is_refused_fast(tmp_path):
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + "".join(
        f'{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},'
        f'*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n' for i in range(8))
    bomb += "title: *i\nreason: r\nchanges: []\n"
    cs = write_cs(tmp_path, "0909-bomb", bomb)
    with pytest.raises(CorrectionError, match="aliases"):
        load_cs(cs)


@pytest.mark.parametrize("content, message", [
    (b"\x00\x01\x02\xff", "not UTF-8|binary"),
    (b"- just\n- a list\n", "a mapping"),
    (b"title: [unclosed\n", "not valid YAML"),
    (b"x" * (2 << 20), "larger than"),
])
def test_unusable_change_set_files(tmp_path, content, message):
    p = tmp_path / "corrections" / "0910-bad.yaml"
    p.parent.mkdir()
    p.write_bytes(content)
    with pytest.raises(CorrectionError, match=message):
        load_cs(p)


def test_every_schema_error_of_a_file_is_reported(tmp_path):
    doc = {"title": "t", "reason": "r", "changes": [
        {"op": "update", "table": "claims", "key": "k", "set": {"stated": "x"}, "source": "s"},  # no expect
        {"op": "add", "table": "nope", "row": {"a": 1}, "source": "s"},  # bad table
        {"op": "retire", "table": "claims", "source": "s", "colour": "red"},  # unknown field
        {"op": "update", "table": "outcomes", "key": "k", "expect": {"value": 1, "status": "x"},
         "set": {"value": 2, "status": "y"}, "source": "s"},  # two derived columns
    ]}
    cs = write_cs(tmp_path, "0911-many", doc)
    with pytest.raises(CorrectionError) as exc:
        load_cs(cs)
    msg = str(exc.value)
    for needle in ("changes.0", "`expect`", "changes.1", "table must be one of", "changes.2", "colour",
                   "column value of outcomes is derived", "column status of outcomes is derived"):
        assert needle in msg, (needle, msg)


def test_published_diff_shows_what_a_change_does_to_figures(tmp_path, data):
    p = tmp_path / "corrections" / "0912-second-source.yaml"
    p.parent.mkdir()
    shutil.copy(REPO / "docs" / "examples" / "add-a-second-source.yaml", p)
    res = prepare(p, data)
    d = {x["key"]: x for x in res.diff.figures()}
    assert d["h.children_safeguarded"]["old"]["status"] == "single_source"
    assert d["h.children_safeguarded"]["new"]["status"] == "corroborated"
    assert "outcomes[h.children_safeguarded]" in res.diff.figures_text()
    assert "-> 146, corroborated, 2 sources" in res.diff.figures_text()


def test_correction_new_takes_the_next_number(tmp_path):
    from opsledger.corrections.apply import new_changeset

    d = tmp_path / "corrections"
    (d / "applied").mkdir(parents=True)
    (d / "applied" / "0121-x.yaml").write_text("")
    (d / "0122-y.yaml").write_text("")
    (d / "revert-0121-x-1.yaml").write_text("")
    p = new_changeset("fix-it", d)
    assert p.name == "0123-fix-it.yaml"
    with pytest.raises(UsageError):
        new_changeset("Bad Name", d)
    assert load_cs(p).changes[0].op == "update"  # the template parses; its placeholders fail `check`
