"""Untrusted contributors (issue 24): a planted journal, concurrent applies, reverting a large change
set, ASCII-only patterns, hostile change-set YAML and bad arguments. Each case failed before its fix.
Fast: validation is stubbed where the case is not about it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from opsledger.cli import app
from opsledger.corrections import apply as apply_mod, changeset as cs_mod
from opsledger.corrections.changeset import CorrectionError, prepare
from opsledger.corrections.apply import apply, revert
from opsledger.data import io as oio, txn
from opsledger.errors import DataError, MissingExtra, UsageError
from opsledger.validation.findings import Report

from conftest import DATED, read, write_cs, write_empty_tables

runner = CliRunner()


def state(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir()) if p.is_file()}


@pytest.fixture
def no_validation(monkeypatch):
    """Applies without the (slow, separately tested) full validation of the result."""
    import opsledger.validation.run as v

    monkeypatch.setattr(v, "validate_tables", lambda *a, **k: Report("<stub>"))


@pytest.fixture
def repo(tmp_path) -> Path:
    """A repository-like root: datasets/ with empty tables, src/ with a module, corrections/."""
    root = tmp_path / "repo"
    write_empty_tables(root / "datasets")
    (root / "src").mkdir()
    (root / "src" / "module.py").write_text("GOOD = True\n")
    (root / "corrections").mkdir()
    return root


def add_source(sid: str, agency: str | None = None) -> dict:
    changes = [{"op": "add", "table": "sources", "source": sid,
                "row": {"source_id": sid, "kind": "news", "language": "en", "note": "added", **DATED}}]
    if agency:
        changes.append({"op": "add", "table": "agencies", "source": sid,
                        "row": {"agency_id": agency, "name": f"Agency {agency}", "kind": "ngo"}})
    return {"title": "t", "reason": "r", "changes": changes}


# --------------------------------------------------------------------------- 1. journal recovery


def planted(root: Path, journal: dict) -> Path:
    """A pull request's files: a journal and, where it names them, a staged file and an outsider."""
    d = root / "datasets"
    (d / ".evil.staged").write_text("BAD = True\n")
    (d / txn.JOURNAL).write_text(json.dumps(journal))
    return d


def assert_refused(d: Path, before: dict, why: str) -> None:
    with pytest.raises(oio.UnusableInput, match=why) as exc:
        oio.read_tables(d)
    assert "not replaying this journal" in str(exc.value) and "nothing was moved" in str(exc.value)
    assert state(d) == before
    assert (d.parent / "src" / "module.py").read_text() == "GOOD = True\n"


def test_planted_journal_of_the_old_format_is_not_replayed(repo, tmp_path):
    """The reported attack: renames that replace a file under src/ and pull any file into the repo."""
    outside = tmp_path / "secret.txt"
    outside.write_text("private\n")
    d = planted(repo, {"txid": "x", "renames": [
        [str(repo / "datasets" / ".evil.staged"), str(repo / "src" / "module.py")],
        [str(outside), str(repo / "corrections" / "applied" / "secret.txt")]]})
    before = state(d)
    assert_refused(d, before, "not a journal of this opsledger")
    assert outside.read_text() == "private\n" and not (repo / "corrections" / "applied").exists()


def test_planted_journal_fails_validate_with_exit_2_and_moves_nothing(repo):
    d = planted(repo, {"txid": "x", "renames": [[str(repo / "datasets" / ".evil.staged"),
                                                  str(repo / "src" / "module.py")]]})
    r = runner.invoke(app, ["validate", str(d), "--no-sources"])
    assert r.exit_code == 2 and "not replaying this journal" in r.output and "Traceback" not in r.output
    assert (repo / "src" / "module.py").read_text() == "GOOD = True\n"


def forged(d: Path, key: bytes, files=(), moves=(), txid="ab" * 16, staging=True) -> dict:
    """A journal in the current format signed with ``key`` (its staging folder made, files staged)."""
    folder = d / f"{txn.STAGING}{txid}"
    if staging:
        folder.mkdir(exist_ok=True)
    entries = []
    for name, data in files:
        if staging and "/" not in name:
            (folder / name).write_bytes(data)
        entries.append([name, hashlib.sha256(data).hexdigest()])
    body = {"format": txn.JOURNAL_FORMAT, "txid": txid, "files": entries,
            "moves": [[s, t, hashlib.sha256(b"x").hexdigest()] for s, t in moves]}
    return {**body, "mac": txn._signature(body, key)}


def test_journal_signed_with_another_key_is_refused(repo):
    """A pull request can stage files and write a well-formed journal, but not sign it: it does not
    know the user's key."""
    d = repo / "datasets"
    (d / txn.JOURNAL).write_text(json.dumps(forged(d, os.urandom(32), files=[("claims.parquet", b"junk")])))
    before = state(d)
    assert_refused(d, before, "signature does not verify")
    assert (d / "claims.parquet").read_bytes() != b"junk"


def test_journal_without_a_key_is_refused(repo, monkeypatch, tmp_path):
    d = repo / "datasets"
    (d / txn.JOURNAL).write_text(json.dumps(forged(d, os.urandom(32), files=[("claims.parquet", b"junk")])))
    before = state(d)
    monkeypatch.setenv("OPSLEDGER_STATE_DIR", str(tmp_path / "fresh-user"))
    assert_refused(d, before, "no key to verify")


@pytest.mark.parametrize("files, moves, why", [
    ([("../src/module.py", b"BAD = True\n")], [], "not a plain file name"),
    ([(".opsledger.lock", b"x")], [], "not a plain file name"),
    ([], [["../../outside.yaml", "corrections/applied/outside.yaml"]], "outside the data root"),
    ([], [["corrections/x.yaml", ".git/hooks/x.yaml"]], "hidden folder"),
    ([], [["src/module.py", "corrections/applied/module.py"]], "not a change-set file"),
    ([], [["corrections/x.yaml", "corrections/applied/y.yaml"]], "keeps the file's name"),
])
def test_signed_journal_naming_files_outside_its_transaction_is_refused(repo, files, moves, why):
    """Even a journal signed with the user's key replays only its own staged files into the data
    directory and change-set files within the data root."""
    d = repo / "datasets"
    (d / txn.JOURNAL).write_text(json.dumps(forged(d, txn._journal_key(create=True), files, moves)))
    before = state(d)
    assert_refused(d, before, why)


def test_signed_journal_without_its_staging_folder_is_refused(repo):
    d = repo / "datasets"
    (d / txn.JOURNAL).write_text(json.dumps(forged(d, txn._journal_key(create=True),
                                                   [("claims.parquet", b"junk")], staging=False)))
    before = state(d)
    assert_refused(d, before, "staging folder")


def interrupted(d: Path, monkeypatch, files: dict[Path, bytes], moves=()) -> None:
    """A real transaction that crashed right after its commit point (the journal written)."""
    class Crash(BaseException):
        pass

    def crash(*a, **k):
        raise Crash

    with monkeypatch.context() as m:
        m.setattr(txn, "_roll_forward", crash)
        with pytest.raises(Crash):
            txn.commit(d, files, moves)
    assert (d / txn.JOURNAL).exists()


def test_staged_file_changed_after_the_crash_is_refused(repo, monkeypatch):
    d = repo / "datasets"
    interrupted(d, monkeypatch, {d / "claims.parquet": (d / "sources.parquet").read_bytes()})
    staged = next(d.glob(f"{txn.STAGING}*/claims.parquet"))
    staged.write_bytes(b"replaced")
    before = state(d)
    assert_refused(d, before, "SHA-256")
    assert staged.read_bytes() == b"replaced"


def test_journal_tracked_by_git_is_refused(repo, monkeypatch):
    """A journal committed to the repository (git add -f) is refused even with a valid signature."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    d = repo / "datasets"
    interrupted(d, monkeypatch, {d / "claims.parquet": (d / "sources.parquet").read_bytes()})
    before = state(d)
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "init", "-q", str(repo)], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "add", "-f", f"datasets/{txn.JOURNAL}"], check=True, env=env)
    assert_refused(d, before, "git tracks")
    subprocess.run(["git", "-C", str(repo), "rm", "-q", "--cached", f"datasets/{txn.JOURNAL}"], check=True, env=env)
    assert txn.recover(d) and not (d / txn.JOURNAL).exists()  # untracked again: its own, completed
    assert (d / "claims.parquet").read_bytes() == (d / "sources.parquet").read_bytes()


def test_an_interrupted_transaction_of_this_library_is_still_completed(repo, monkeypatch):
    d = repo / "datasets"
    new = (d / "sources.parquet").read_bytes()
    cs = repo / "corrections" / "0001-x.yaml"
    cs.write_text("title: t\n")
    interrupted(d, monkeypatch, {d / "claims.parquet": new}, [(cs, repo / "corrections" / "applied" / cs.name)])
    assert txn.recover(d) is True
    assert (d / "claims.parquet").read_bytes() == new and (repo / "corrections" / "applied" / cs.name).exists()
    assert not list(d.glob(f"{txn.STAGING}*")) and not (d / txn.JOURNAL).exists()


def test_a_transaction_may_not_write_or_move_outside_its_bounds(repo):
    d = repo / "datasets"
    before = state(d)
    with pytest.raises(UsageError, match="writes only files directly inside it"):
        txn.commit(d, {repo / "src" / "module.py": b"BAD = True\n"})
    with pytest.raises(UsageError, match="moves files only inside"):
        txn.commit(d, {}, [(repo.parent / "elsewhere.yaml", repo / "corrections" / "applied" / "elsewhere.yaml")])
    assert state(d) == before and not list(d.glob(f"{txn.STAGING}*"))


# --------------------------------------------------------------------------- 2. locking


def test_concurrent_applies_of_different_change_sets_both_land(repo, monkeypatch):
    """Fault injection: the first apply is held inside its check until the second one has read the
    tables too (or 1 s has passed). Before the fix both read the same old tables, both reported
    success, and the second write dropped the first change set."""
    import opsledger.validation.run as v

    d = repo / "datasets"
    first_in, second_in = threading.Event(), threading.Event()

    def slow_check(*a, **k):
        if not first_in.is_set():
            first_in.set()
            second_in.wait(1.0)  # with the lock, the second apply cannot get here meanwhile
        else:
            second_in.set()
        return Report("<stub>")

    monkeypatch.setattr(v, "validate_tables", slow_check)
    files = [write_cs(repo, "0001-one", add_source("src-one", "agency-one")),
             write_cs(repo, "0002-two", add_source("src-two", "agency-two"))]
    results, errors = [], []

    def run(f):
        try:
            results.append(apply(f, d, None).correction_id)
        except (UsageError, DataError) as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=run, args=(f,)) for f in files]
    threads[0].start()
    assert first_in.wait(10)
    threads[1].start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["0001-one", "0002-two"] and not errors
    assert sorted(read(d, "sources")["source_id"]) == ["src-one", "src-two"]
    assert sorted(read(d, "agencies")["agency_id"]) == ["agency-one", "agency-two"]
    assert sorted(set(read(d, "corrections")["correction_id"])) == ["0001-one", "0002-two"]


def test_a_result_checked_against_older_tables_is_not_written(repo, no_validation):
    """The low-level path (prepare, then commit) refuses to write a change set onto tables that
    changed after it was checked."""
    d = repo / "datasets"
    one = prepare(write_cs(repo, "0001-one", add_source("src-one")), d)
    two = prepare(write_cs(repo, "0002-two", add_source("src-two")), d)
    apply_mod.commit(one, repo / "corrections" / "0001-one.yaml", d)
    before = state(d)
    with pytest.raises(CorrectionError, match="changed after this change set was checked"):
        apply_mod.commit(two, repo / "corrections" / "0002-two.yaml", d)
    assert state(d) == before and read(d, "sources")["source_id"].to_list() == ["src-one"]


# --------------------------------------------------------------------------- 3. revert undoes whatever apply accepted


def test_revert_of_a_large_retirement_reads_its_own_revert_file(repo, no_validation, monkeypatch):
    """The retire file is small (keys only); its revert re-adds every row whole and is far larger.
    The size bound is for contributors' files (scaled down here to keep the test fast)."""
    d = repo / "datasets"
    rows = [{"op": "add", "table": "agencies", "source": "src-a",
             "row": {"agency_id": f"agency-{i:02d}", "name": f"Agency {i}", "kind": "ngo", "note": "n" * 300}}
            for i in range(20)]
    doc = add_source("src-a")
    doc["changes"] += rows
    apply(write_cs(repo, "0001-add", doc), d, None)
    monkeypatch.setattr(cs_mod, "MAX_FILE_BYTES", 4096)
    retire = {"title": "t", "reason": "r", "changes": [
        {"op": "retire", "table": "agencies", "key": f"agency-{i:02d}", "source": "src-a"} for i in range(20)]}
    f = write_cs(repo, "0002-retire", retire)
    assert f.stat().st_size < 4096
    apply(f, d, None)
    assert read(d, "agencies").height == 0
    res = revert("0002-retire", d, None)
    written = repo / "corrections" / "applied" / f"{res.correction_id}.yaml"
    assert written.stat().st_size > 4096
    assert read(d, "agencies").height == 20 and set(read(d, "agencies")["note"]) == {"n" * 300}
    with pytest.raises(CorrectionError, match="larger than 4096 bytes"):  # a contributor's file is still bounded
        prepare(write_cs(repo, "0003-big", {**retire, "reason": "r" * 5000}), d)


# --------------------------------------------------------------------------- 4. ASCII-only full matches


HOSTILE_VERSIONS = ["1\u0660.0.0", "0.1.0\n", "\uff10.1.0", "0.1.0 ", "0.\u0661.0", "0.1.0\n\n"]


@pytest.mark.parametrize("v", HOSTILE_VERSIONS)
def test_versions_are_ascii_digits_matched_in_full(v):
    from opsledger.publishing.store import ReleaseUsageError, SEMVER, parse_version

    with pytest.raises(ReleaseUsageError, match="is not a version"):
        parse_version(v)
    assert SEMVER.match(v) is None and SEMVER.fullmatch(v) is None


@pytest.mark.parametrize("v", HOSTILE_VERSIONS)
def test_release_refuses_a_hostile_version_before_anything(v, tmp_path):
    r = runner.invoke(app, ["release", v, "--to", str(tmp_path / "store"), "--no-sources", "--allow-ungrounded"])
    assert r.exit_code == 2 and "is not a version" in r.output and not (tmp_path / "store").exists()


def test_a_store_index_with_a_hostile_version_is_damaged(tmp_path):
    from opsledger.publishing.store import StoreError, read_index

    (tmp_path / "index.json").write_text(json.dumps({"versions": [
        {"version": "0.1.0\n", "manifest_sha256": "0" * 64}], "latest": "0.1.0\n"}))
    with pytest.raises(StoreError, match="not a store index"):
        read_index(tmp_path)


def test_declaration_names_are_matched_in_full():
    from opsledger.declarations.models import NAME

    assert NAME.fullmatch("claims") and NAME.match("claims\n") is None and NAME.fullmatch("cla\u0131ms") is None


@pytest.mark.parametrize("pattern, why", [
    ("^[0-9]+", "must start with \\^ and end with \\$"),
    ("^\\d{4}$", "uses \\\\d, which also matches non-ASCII"),
    ("^\\w+$", "uses \\\\w"),
    ("^https?://\\S+$", "uses \\\\S"),
])
def test_declared_patterns_are_anchored_and_ascii(tmp_path, pattern, why):
    import opsledger.declarations as metadata
    from opsledger.declarations.load import _declarations
    from opsledger.errors import DeclarationError

    from conftest import REPO

    d = tmp_path / "schemas"
    shutil.copytree(REPO / "schemas", d)
    p = d / "fields.toml"
    text = p.read_text()
    old = 'pattern = "^[0-9a-f]{64}$"'
    assert old in text
    p.write_text(text.replace(old, f"pattern = {json.dumps(pattern)}", 1))
    with pytest.raises(DeclarationError, match=why):
        metadata._tables(d)
    assert _declarations  # (the loader module)


@pytest.mark.parametrize("column, value", [
    ("applied_at", "2026-01-01T00:00:0\u0660Z"),   # an Arabic-Indic digit
    ("correction_id", "0001-fix\n"),               # a trailing newline
])
def test_schema_patterns_refuse_non_ascii_digits_and_trailing_newlines(tmp_path, column, value):
    from opsledger.validation.run import validate_tables

    d = tmp_path / "data"
    write_empty_tables(d)
    tables = oio.read_tables(d)
    row = {c: None for c in tables["corrections"].columns} | {
        "log_id": "0001-fix.0001", "correction_id": "0001-fix", "file": "corrections/0001-fix.yaml",
        "applied_at": "2026-01-01T00:00:00Z", "action": "add", "table_name": "agencies", "row_key": "a",
        "column_name": "*", "source_id": "s", "reason": "r"}
    row[column] = value
    tables["corrections"] = pl.DataFrame([row], schema=tables["corrections"].schema, orient="row")
    report = validate_tables(tables, cross=False)
    assert any(f.rule == "schema.pattern" and column in str(f.as_dict()) for f in report.findings), report.text()


def test_next_number_reads_ascii_digits_only(tmp_path):
    from opsledger.corrections.apply import next_number

    (tmp_path / "0007-a.yaml").write_text("")
    (tmp_path / "\u0669\u0669\u0669\u0669-b.yaml").write_text("")  # 9999 in Arabic-Indic digits
    assert next_number(tmp_path) == 8


# --------------------------------------------------------------------------- 5. change-set YAML


@pytest.mark.parametrize("text, where, why", [
    ("title: t\nreason: r\ntitle: u\nchanges: []\n", ":3:", "duplicate key 'title' (first at line 1)"),
    ("title: t\nreason: r\nchanges:\n  - {op: add, table: sources, source: s, op: retire}\n", ":4:",
     "duplicate key 'op'"),
    ("title: t\nreason: r\n1: a\n1.0: b\nchanges: []\n", ":4:", "duplicate key 1.0"),
    ("title: t\nreason: r\n<<: {changes: []}\n", ":3:", "merge keys"),
    ("title: " + "[" * 50000 + "]" * 50000 + "\nreason: r\nchanges: []\n", ":1:", "nested more than 16 levels"),
    ("title: t\nreason: r\nchanges: []\nx:\n" + "".join("  " * i + "-\n" for i in range(1, 40)), ":", "nested more than"),
    ("title: t\nreason: r\nchanges: [{row: {published: 2021-02-30}}]\n", ":3:", "'2021-02-30' cannot be read as timestamp"),
    ("title: !!int abc\nreason: r\nchanges: []\n", ":1:", "'abc' cannot be read as int"),
    ("title: !!bool maybe\nreason: r\nchanges: []\n", ":1:", "cannot be read as bool"),
    ('title: t\nreason: r\nchanges: [{row: {kind: "\\ud800\\udc00"}}]\n', ":3:", "surrogate code point U+D800"),
])
def test_hostile_change_set_yaml_is_a_clear_error(tmp_path, text, where, why):
    from opsledger.corrections.changeset import read_changeset as load

    f = write_cs(tmp_path, "0001-hostile", text)
    with pytest.raises(CorrectionError) as exc:
        load(f)
    msg = str(exc.value)
    assert f"0001-hostile.yaml{where}" in msg and why in msg and "\n" not in msg


def test_hostile_change_set_on_the_command_line_exits_2(tmp_path):
    f = write_cs(tmp_path, "0001-dup", "title: t\nreason: r\nchanges: []\nchanges: []\n")
    d = tmp_path / "data"
    write_empty_tables(d)
    r = runner.invoke(app, ["correction", "check", str(f), "--data-dir", str(d), "--no-sources"])
    assert r.exit_code == 2 and "duplicate key 'changes'" in r.output and "Traceback" not in r.output


def test_an_integer_beyond_the_column_is_a_clear_error(tmp_path, data):
    key = "blackwrist.sentence.second-site-administrator.s000"
    doc = {"title": "t", "reason": "r", "changes": [{"op": "retire", "table": "claims", "key": key,
                                                     "expect": {"locator_offset": 10 ** 30},
                                                     "source": "interpol-blackwrist-release"}]}
    with pytest.raises(CorrectionError, match=f"key {key}, column locator_offset: .* out of the range"):
        prepare(write_cs(tmp_path, "0001-big", doc), data)


from hypothesis import HealthCheck, example, given, settings, strategies as st  # noqa: E402

#: the tests' ``data`` is the small dataset: they edit rows of its operations only (conftest)
SMALL_DATA = True

#: Scalars as YAML spells them, the odd ones included: impossible dates, explicit tags that do not
#: fit, huge and special numbers, NUL and bidi characters, aliases, Python tags.
ODD_SCALARS = ["2021-02-30", "2021-12-01", "2001-12-14t21:59:43.10-05:00", "!!int abc", "!!float x", "!!bool maybe",
               "!!timestamp never", "!!binary AAAA", "!!binary '!!'", "!!set {a, b}", "!!omap [a: 1]",
               "!!str 1", "!!null x", ".nan", "-.inf", "1e400", "9" * 40, "-9" * 20, "0o777", "0x1F", "0b101",
               "~", "null", "yes", "'\\0'", "\"\\0\\u202e\"", "\"\\uffff\"", "&a x", "*a",
               "!!python/object/apply:os.system [echo]", "!custom x", "''", "'a: b'", "\"-\"", "?", "- a",
               "0.1.0", "\"1\u0660.0.0\"", "sources", "claims", "add", "update", "retire", "src-a", "agency-a"]
KEYS = ["title", "reason", "contributor", "changes", "op", "table", "key", "row", "set", "expect", "source",
        "source_id", "agency_id", "name", "kind", "language", "note", "published", "x", "1", "1.0", "true", "<<",
        "? [a]", "[a]"]


def yaml_tree(depth: int = 4):
    """YAML text in flow style, with duplicate keys allowed (keys come from a small set)."""
    scalar = st.sampled_from(ODD_SCALARS) | st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8).map(json.dumps)
    return st.recursive(
        scalar,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
            st.lists(st.tuples(st.sampled_from(KEYS), inner), max_size=5).map(
                lambda kv: "{" + ", ".join(f"{k}: {v}" for k, v in kv) + "}")),
        max_leaves=12)


ROWS = {"sources": ["source_id", "kind", "language", "note", "published", "published_precision", "url"],
        "agencies": ["agency_id", "name", "kind", "country", "note"]}


@st.composite
def change_set_texts(draw):
    kind = draw(st.sampled_from(["tree", "deep", "shaped", "shaped", "shaped"]))
    if kind == "tree":
        return draw(yaml_tree())
    if kind == "deep":
        n = draw(st.integers(10, 3000))
        open_, close = draw(st.sampled_from([("[", "]"), ("{a: ", "}")]))
        return f"title: {open_ * n}x{close * n}\nreason: r\nchanges: []\n"
    # near a real change set: real tables and columns, plausible values with odd ones among them,
    # sometimes a key twice
    value = st.one_of(st.sampled_from(["src-a", "agency-a", "news", "en", "ngo", "day", "DE", "x", "2021-12-01",
                                       "https://example.org/a"]),
                      st.sampled_from(ODD_SCALARS), yaml_tree())
    changes = []
    for _ in range(draw(st.integers(1, 3))):
        table = draw(st.sampled_from(["sources", "agencies"]))
        op = draw(st.sampled_from(["add", "add", "update", "retire"]))
        cols = draw(st.lists(st.sampled_from(ROWS[table][1:]), max_size=4, unique=True))
        new_key = draw(st.sampled_from({"sources": ["src-b", "src-c"], "agencies": ["agency-a", "agency-b"]}[table]))
        row = [(ROWS[table][0], new_key)] + [(c, draw(value)) for c in cols]
        fields = [("op", op), ("table", table), ("source", "src-a")]
        if op == "add":
            fields.append(("row", "{" + ", ".join(f"{k}: {v}" for k, v in row) + "}"))
        else:
            fields.append(("key", draw(st.sampled_from(["src-a", "src-b", "agency-a", "x"]))))
            if op == "update" or draw(st.booleans()):
                fields += [("expect", "{" + ", ".join(f"{k}: {draw(value)}" for k, _ in row[1:]) + "}"),
                           ("set", "{" + ", ".join(f"{k}: {v}" for k, v in row[1:]) + "}")][:1 + (op == "update")]
        if draw(st.integers(0, 5)) == 0:
            fields.append(draw(st.sampled_from(fields)))  # a key twice
        changes.append("{" + ", ".join(f"{k}: {v}" for k, v in fields) + "}")
    source = "{op: add, table: sources, source: src-a, row: {source_id: src-a, kind: news, language: en}}"
    return f"title: t\nreason: r\nchanges: [{', '.join([source] + changes)}]\n"


@pytest.fixture(scope="module")
def fuzz_data(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("fuzz") / "data"
    write_empty_tables(d)
    return d


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=change_set_texts())
@example(text='title: t\nreason: r\nchanges: [{op: add, table: sources, source: s, row: {source_id: s, '
              'kind: "\\ud800\\udc00", language: en}}]\n')  # a surrogate once reached polars
def test_fuzzed_change_sets_are_accepted_or_refused_with_a_message(tmp_path_factory, fuzz_data, text):
    """Random YAML structures, deep nesting, duplicate keys and odd scalars: never a traceback; either
    the change set applies (in memory) or a UsageError / DataError names the problem."""
    f = tmp_path_factory.mktemp("cs") / "0001-fuzz.yaml"
    f.write_text(text, encoding="utf-8")
    try:
        prepare(f, fuzz_data, None)
    except (UsageError, DataError) as exc:
        assert str(exc).strip(), f"an error without a message for {text!r}"


# --------------------------------------------------------------------------- 6. arguments


@pytest.fixture
def validation_forbidden(monkeypatch):
    """Any validation is a test failure: the argument must be refused first."""
    import opsledger.validation.run as v

    def boom(*a, **k):
        raise AssertionError("validation ran before the argument was checked")

    monkeypatch.setattr(v, "validate_tables", boom)


@pytest.mark.parametrize("args, why", [
    (["--to", "simplecache::memory://h24-x"], "in-memory store vanishes"),
    (["--to", "memory://h24-x"], "in-memory store vanishes"),
    (["--to", "filecache::memory://h24-x"], "in-memory store vanishes"),
    (["--to", "nosuchproto://x"], "not a usable directory or fsspec URL"),
    (["--to", "STORE", "--date", "2021-02-30"], "is not a calendar day"),
    (["--to", "STORE", "--date", "garbage"], "give the release date as YYYY-MM-DD"),
    (["--to", "STORE", "--date", "2021-02-28\n"], "give the release date as YYYY-MM-DD"),
    (["--to", "STORE", "--date", "２０２１-02-28"], "give the release date as YYYY-MM-DD"),
    (["--to", "STORE", "--date", "20210228"], "give the release date as YYYY-MM-DD"),
])
def test_release_arguments_are_checked_before_validation(tmp_path, validation_forbidden, args, why):
    d = tmp_path / "data"
    write_empty_tables(d)
    args = [str(tmp_path / "store") if a == "STORE" else a for a in args]
    r = runner.invoke(app, ["release", "0.1.0", *args, "--data-dir", str(d), "--no-sources", "--allow-ungrounded"])
    assert r.exit_code == 2 and why in r.output and "internal error" not in r.output, r.output
    assert not (tmp_path / "store").exists()


def test_a_real_date_is_published_as_given(tmp_path, no_validation):
    from opsledger.publishing.publish import release
    from opsledger.publishing.store import versions

    d = tmp_path / "data"
    write_empty_tables(d)
    release("0.1.0", tmp_path / "store", d, None, date="2024-02-29", allow_ungrounded=True)
    assert versions(tmp_path / "store")[0]["date"] == "2024-02-29"


@pytest.mark.parametrize("store, code, why", [
    ("nosuchproto://x", 2, "not a usable directory or fsspec URL"),
    ("s3://h24-bucket/x", 2, "backend is not installed"),
    ("gcs://h24-bucket/x", 2, "backend is not installed"),
])
def test_versions_with_an_unusable_store_is_a_usage_error(store, code, why):
    import importlib.util

    if "s3" in store and importlib.util.find_spec("s3fs") or "gcs" in store and importlib.util.find_spec("gcsfs"):
        pytest.skip("the backend is installed here")
    r = runner.invoke(app, ["versions", "--store", store])
    assert r.exit_code == code and why in r.output and "internal error" not in r.output, r.output


def test_a_missing_fsspec_backend_is_missing_extra():
    import importlib.util

    from opsledger.publishing.store import versions

    if importlib.util.find_spec("s3fs"):
        pytest.skip("s3fs is installed here")
    with pytest.raises(MissingExtra, match="s3://x"):
        versions("s3://x")


def _library_calls(tmp_path: Path, d: Path, f: Path):
    import opsledger as api

    return [
        ("load(store={})", lambda: api.load("claims", store={})),
        ("load(store='')", lambda: api.load("claims", store="")),
        ("load(verify='no')", lambda: api.load("claims", store=tmp_path, verify="no")),
        ("versions({})", lambda: api.versions({})),
        ("versions(unlisted='yes')", lambda: api.versions(tmp_path, unlisted="yes")),
        ("diff(store={})", lambda: api.diff(d, d, store={})),
        ("release(store={})", lambda: api.release("0.1.0", {}, d, None, allow_ungrounded=True)),
        ("release(data_dir={})", lambda: api.release("0.1.0", tmp_path / "s", {}, None, allow_ungrounded=True)),
        ("release(allow_ungrounded='yes')", lambda: api.release("0.1.0", tmp_path / "s", d, None, allow_ungrounded="yes")),
        ("release(date=2021)", lambda: api.release("0.1.0", tmp_path / "s", d, None, date=2021, allow_ungrounded=True)),
        ("read_tables({})", lambda: api.read_tables({})),
        ("rederive({})", lambda: api.rederive({}, None)),
        ("rederive(write='no')", lambda: api.rederive(d, None, write="no")),
        ("correction_check(data_dir={})", lambda: api.correction_check(f, {}, None)),
        ("correction_apply(data_dir={})", lambda: api.correction_apply(f, {}, None)),
        ("correction_apply(applied_dir={})", lambda: api.correction_apply(f, d, None, {})),
        ("correction_revert(data_dir={})", lambda: api.correction_revert("0001-x", {}, None)),
        ("correction_revert(corrections_dir={})", lambda: api.correction_revert("0001-x", d, None, {})),
        ("correction_new(corrections_dir={})", lambda: api.correction_new("x", {})),
        ("correction_new(corrections_dir='')", lambda: api.correction_new("x", "")),
    ]


def test_empty_or_wrong_typed_library_arguments_are_usage_errors(tmp_path, validation_forbidden):
    """Never the repository's defaults in their place: nothing in the repository is read or written."""
    from conftest import REPO

    d = tmp_path / "data"
    write_empty_tables(d)
    f = write_cs(tmp_path, "0001-x", add_source("src-a"))
    corrections = sorted(p.name for p in (REPO / "corrections").rglob("*"))
    releases = sorted(p.name for p in (REPO / "releases").rglob("*")) if (REPO / "releases").exists() else []
    for what, call in _library_calls(tmp_path, d, f):
        with pytest.raises(UsageError) as exc:
            call()
        assert str(exc.value).strip() and "\n" not in str(exc.value), what
    assert sorted(p.name for p in (REPO / "corrections").rglob("*")) == corrections
    assert (sorted(p.name for p in (REPO / "releases").rglob("*")) if (REPO / "releases").exists() else []) == releases
    assert read(d, "sources").height == 0 and f.exists()
