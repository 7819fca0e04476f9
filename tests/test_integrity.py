"""Integrity under faults and hostile input (issue 11): paths confined to their root, derived columns
refused in change sets, one atomic step for tables + log (and for a release + its index), verified
loads, escaped terminal output, no tracebacks. Fast: no full validation of the shipped data here."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import polars as pl
import pytest
import yaml
from hypothesis import given, settings, strategies as st

from opsledger.data import io as oio
from opsledger.publishing import publish, store as ostore
from opsledger.corrections.changeset import CorrectionError, load as load_cs, prepare
from opsledger.corrections.apply import commit
from opsledger.errors import OpsledgerError, PathError, UsageError
from opsledger.validation.findings import Report
from opsledger.declarations import TABLES, declared_derived, table
from opsledger.terminal import safe

from conftest import DATED, PHRASE_FIX, REPO, read, write_cs, write_empty_tables


def state(d: Path) -> dict[str, str]:
    """sha256 of every table file."""
    return {n: hashlib.sha256((d / f"{n}.parquet").read_bytes()).hexdigest() for n in TABLES}


# --------------------------------------------------------------------------- 1. paths from data


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


# --------------------------------------------------------------------------- 2. derived columns


def test_every_declared_derived_column_exists():
    for name, cols in declared_derived().items():
        missing = [c for c in cols if c not in table(name).columns]
        assert not missing, f"schemas/{name}.toml declares derived columns it does not have: {missing}"
    assert "value" in table("outcomes").derived and "sha256" in table("sources").derived


def test_loader_refuses_an_unknown_derived_column(tmp_path):
    import opsledger.declarations as metadata
    from opsledger.errors import DeclarationError

    d = tmp_path / "schemas"
    shutil.copytree(REPO / "schemas", d)
    p = d / "claims.toml"
    p.write_text(p.read_text().replace('derived = ["metric"', 'derived = ["not_yet_a_column", "metric"'))
    q = d / "agencies.toml"
    assert "derived" not in q.read_text()  # no key at all is fine
    with pytest.raises(DeclarationError, match=r"schemas/claims.toml: table claims: derived column "
                                               r"'not_yet_a_column' is not a column of the table"):
        metadata._tables(d)


@pytest.mark.parametrize("change, column", [
    ({"op": "update", "table": "outcomes", "key": "h.arrests.nz", "expect": {"value": 46},
      "set": {"value": 47}, "source": "interpol-operation-h-release"}, "value"),
    ({"op": "update", "table": "claims", "key": "blackwrist.sentence.second-site-administrator.s000",
      "expect": {"low": 483}, "set": {"low": 400}, "source": "interpol-blackwrist-release"}, "low"),
    ({"op": "add", "table": "claims", "source": "interpol-operation-h-release",
      "row": {"claim_id": "x.y", "source_id": "interpol-operation-h-release", "target_table": "outcomes",
              "target_id": "h.arrests.nz", "target_column": "value", "stated": "46", "qualifier": "exact"}},
     "qualifier"),
])
def test_change_set_may_not_set_a_derived_column(tmp_path, change, column):
    cs = write_cs(tmp_path, "0901-derived", {**PHRASE_FIX, "changes": [change]})
    with pytest.raises(CorrectionError) as exc:
        load_cs(cs)
    msg = str(exc.value)
    assert f"column {column} of {change['table']} is derived" in msg and "0901-derived.yaml:" in msg


def test_a_value_the_derivation_would_replace_is_refused(tmp_path, data, monkeypatch):
    """Whatever the declarations say, a value a change set gives that derivation replaces is refused:
    the log never records a value the table does not hold."""
    import opsledger.corrections.changeset as corr

    real = corr.derive_all

    def derive_note(tables, archive=None):  # pretend agencies.note were derived from other data
        out = real(tables, archive)
        out["agencies"] = out["agencies"].with_columns(pl.lit("derived").alias("note"))
        return out

    monkeypatch.setattr(corr, "derive_all", derive_note)
    row = read(data, "agencies").filter(pl.col("agency_id") == "europol").row(0, named=True)
    change = {"op": "update", "table": "agencies", "key": "europol", "source": "interpol-blackwrist-release",
              "expect": {"note": row["note"]}, "set": {"note": "typed by hand"}}
    cs = write_cs(tmp_path, "0902-note", {**PHRASE_FIX, "changes": [change]})
    with pytest.raises(CorrectionError, match=r"column note: derived from the claims for this row"):
        prepare(cs, data)


def test_log_records_what_is_stored(tmp_path, data):
    res = prepare(write_cs(tmp_path, "0903-ok", PHRASE_FIX), data)
    claims = res.tables["claims"].filter(pl.col("claim_id") == PHRASE_FIX["changes"][0]["key"]).row(0, named=True)
    entry = res.log.row(0, named=True)
    assert json.loads(entry["new_value"]) == claims["stated"] == "40 years"


# --------------------------------------------------------------------------- 3. atomic apply


class Crash(BaseException):
    """A simulated crash (BaseException: nothing catches it as an ordinary error)."""


#: The file operations a crash is simulated at (in this process and in a child process alike).
FILE_OPS = ("open", "write", "fsync", "replace", "rename", "unlink")


def crash_at(monkeypatch, k: int) -> list[int]:
    """Make the k-th file operation (one of :data:`FILE_OPS` of ``os``) raise Crash."""
    count = [0]
    for name in FILE_OPS:
        real = getattr(os, name)

        def op(*a, _real=real, **kw):
            count[0] += 1
            if count[0] == k:
                raise Crash(f"crash at operation {k}")
            return _real(*a, **kw)

        monkeypatch.setattr(os, name, op)
    return count


ADD_SOURCE = {"title": "t", "reason": "r", "changes": [
    {"op": "add", "table": "sources", "source": "src-a",
     "row": {"source_id": "src-a", "kind": "news", "language": "en", "note": "added", **DATED}},
    {"op": "add", "table": "agencies", "source": "src-a",
     "row": {"agency_id": "agency-a", "name": "Agency A", "kind": "ngo"}},
]}


def small_transaction(tmp_path, empty):
    """A base folder (empty tables + a pending change set) and the prepared result of applying it."""
    base = tmp_path / "base"
    shutil.copytree(empty, base / "datasets")
    cs = write_cs(base, "0904-atomic", ADD_SOURCE)
    return base, cs, prepare(cs, base / "datasets")


def test_apply_crash_at_every_file_operation_leaves_old_or_new(tmp_path, empty, monkeypatch):
    """Tables and log are fully old or fully new after recovery, whatever operation the crash hits."""
    base, cs, res = small_transaction(tmp_path, empty)
    old = state(base / "datasets")
    ref = tmp_path / "ref"  # the new state, from an uninterrupted run on a copy
    shutil.copytree(base, ref)
    commit(res, ref / "corrections" / cs.name, ref / "datasets")
    new = state(ref / "datasets")
    assert new != old
    outcomes = {"old": 0, "new": 0}
    k = 0
    while True:
        k += 1
        run = tmp_path / f"run{k}"
        shutil.copytree(base, run)
        path, d = run / "corrections" / cs.name, run / "datasets"
        with monkeypatch.context() as m:
            crash_at(m, k)
            try:
                commit(res, path, d)
                crashed = False
            except Crash:
                crashed = True
        oio.read_tables(d)  # the next open recovers
        got = state(d)
        assert got in (old, new), f"crash at operation {k}: mixed state"
        moved = (run / "corrections" / "applied" / cs.name).exists()
        assert moved == (got == new) and path.exists() == (got == old), f"crash at {k}: file vs data"
        assert not list(d.glob(".*.staged")) and not (d / oio.JOURNAL).exists()
        outcomes["new" if got == new else "old"] += 1
        if not crashed:
            break
        assert k < 300
    assert outcomes["old"] >= 10 and outcomes["new"] >= 10, outcomes


CRASH_SCRIPT = textwrap.dedent("""
    import os, sys, pickle
    k = int(sys.argv[1])
    from opsledger.data import txn
    files, moves, d = pickle.load(open(sys.argv[2], "rb"))
    count = [0]
    for name in FILE_OPS:
        real = getattr(os, name)
        def op(*a, _real=real, **kw):
            count[0] += 1
            if count[0] == k:
                os._exit(137)
            return _real(*a, **kw)
        setattr(os, name, op)
    txn.commit(d, files, moves)
""").replace("FILE_OPS", repr(FILE_OPS))


def test_apply_killed_at_file_operations_recovers(tmp_path, empty):
    """The same with a real process death (os._exit: no cleanup handler runs) at every third operation
    and at every operation from the commit point on."""
    import pickle

    base, cs, res = small_transaction(tmp_path, empty)
    old = state(base / "datasets")
    script = tmp_path / "crash.py"
    script.write_text(CRASH_SCRIPT)
    results = set()
    files = oio.table_files(res.tables, base / "datasets")
    n_files = len(files)
    for k in range(1, 300):
        if k < 3 * n_files and k % 3:  # staging (open/write/fsync per file): every third is enough
            continue
        run = tmp_path / f"run{k}"
        shutil.copytree(base, run)
        d = run / "datasets"
        files = oio.table_files(res.tables, d)
        moves = [(run / "corrections" / cs.name, run / "corrections" / "applied" / cs.name)]
        arg = tmp_path / f"args{k}.pickle"
        arg.write_bytes(pickle.dumps((files, moves, d)))
        p = subprocess.run([sys.executable, str(script), str(k), str(arg)], capture_output=True, text=True)
        assert p.returncode in (0, 137), p.stderr
        oio.read_tables(d)
        got = state(d)
        moved = (run / "corrections" / "applied" / cs.name).exists()
        assert (got == old and not moved) or (got != old and moved), f"kill at operation {k}"
        results.add(got == old)
        if p.returncode == 0:
            break
    assert results == {True, False}


def test_concurrent_apply_of_the_same_change_set_logs_it_once(tmp_path, small_data):
    cs = write_cs(tmp_path, "0906-twice", PHRASE_FIX)
    res1 = prepare(cs, small_data)
    res2 = prepare(cs, small_data)
    errors = []

    def run(res, applied):
        try:
            commit(res, cs, small_data, applied_dir=applied)
        except CorrectionError as exc:
            errors.append(str(exc))
        except FileNotFoundError as exc:  # the other run moved the file first
            errors.append(str(exc))

    threads = [threading.Thread(target=run, args=(r, tmp_path / f"applied{i}")) for i, r in enumerate((res1, res2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log = read(small_data, "corrections").filter(pl.col("correction_id") == "0906-twice")
    assert log.height == 1 and len(errors) == 1 and "applied already" in errors[0]


def test_apply_elsewhere_moves_the_file_only_within_that_roots_corrections(tmp_path, small_data):
    from opsledger.corrections.apply import applied_dir_for

    inside = write_cs(tmp_path, "0907-inside", PHRASE_FIX)  # tmp/corrections beside tmp/data
    assert applied_dir_for(inside, small_data) == (tmp_path / "corrections" / "applied").resolve()
    outside = tmp_path / "elsewhere" / "0907-outside.yaml"
    outside.parent.mkdir()
    outside.write_text(yaml.safe_dump(PHRASE_FIX))
    assert applied_dir_for(outside, small_data) is None
    repo_cs = REPO / "corrections" / "0907-x.yaml"
    assert applied_dir_for(repo_cs, small_data) is None  # never the repository's applied/ for other data
    res = prepare(outside, small_data)
    commit(res, outside, small_data)
    assert outside.exists() and not (REPO / "corrections" / "applied" / outside.name).exists()
    assert "0907-outside" in read(small_data, "corrections")["correction_id"].to_list()


# --------------------------------------------------------------------------- 4. releases


@pytest.fixture
def quick_release(monkeypatch):
    """Release without the (slow, separately tested) validation of the data."""
    import opsledger.validation.run as v

    monkeypatch.setattr(v, "validate_tables", lambda *a, **k: Report("<stub>"))


@pytest.fixture
def empty(tmp_path) -> Path:
    """Empty tables: the store logic does not depend on the rows, and releases of them are fast."""
    d = tmp_path / "empty"
    write_empty_tables(d)
    return d


class CountingFS:
    """An fsspec filesystem proxy that crashes at the k-th write-side operation."""

    OPS = ("open", "mv", "makedirs", "rm", "pipe_file")

    def __init__(self, fs, k):
        self._fs, self._k, self.count = fs, k, 0

    def __getattr__(self, name):
        attr = getattr(self._fs, name)
        if name not in self.OPS:
            return attr

        def op(*a, **kw):
            if name == "open" and "w" not in (a[1] if len(a) > 1 else kw.get("mode", "rb")):
                return attr(*a, **kw)
            self.count += 1
            if self.count == self._k:
                raise Crash(f"crash at {name} #{self._k}")
            return attr(*a, **kw)

        return op


@pytest.fixture
def files_built_once(monkeypatch):
    """A release's files (datasheet, reports, exports, site) built once per version, date and previous
    version, and handed out again (as a new dict) to each later release of the same: for tests of the
    store's operations, which release the same data again and again."""
    from opsledger.publishing.outputs import bundle

    real, built = bundle.people_files, {}

    def once(tables_, prev_tables, changes, report, version, date, prev, *rest):
        key = (version, date, prev)
        if key not in built:
            built[key] = real(tables_, prev_tables, changes, report, version, date, prev, *rest)
        return dict(built[key])

    monkeypatch.setattr(bundle, "people_files", once)
    return built


def test_release_crash_at_every_store_operation_is_recovered(tmp_path, empty, quick_release, files_built_once,
                                                             monkeypatch):
    store = tmp_path / "store"
    publish.release("0.1.0", str(store), empty, date="2026-01-01", allow_ungrounded=True)
    k = 0
    while True:
        k += 1
        s = tmp_path / f"store{k}"
        shutil.copytree(store, s)
        real_fs = ostore._fs
        fs_holder = {}

        def crashing_fs(st, _k=k, real_fs=real_fs, fs_holder=fs_holder):
            fs, root = real_fs(st)
            fs_holder["fs"] = CountingFS(fs, _k)
            return fs_holder["fs"], root

        with monkeypatch.context() as m:
            m.setattr(publish, "_fs", crashing_fs)
            try:
                publish.release("0.1.1", str(s), empty, date="2026-01-02", allow_ungrounded=True)
                crashed = False
            except Crash:
                crashed = True
        listed = [v["version"] for v in ostore.versions(str(s))]
        unlisted = ostore.unlisted_versions(str(s))
        if "0.1.1" in listed:
            assert ostore.load("claims", "0.1.1", str(s)).num_rows == 0
        else:
            assert set(unlisted) <= {"0.1.1"}
        # the next release recovers: 0.1.1 is listed (if complete) or can be released now
        if "0.1.1" in unlisted:
            with pytest.raises(ostore.ReleaseError, match="never overwritten"):
                publish.release("0.1.1", str(s), empty, date="2026-01-02", allow_ungrounded=True)
        elif "0.1.1" not in listed:
            publish.release("0.1.1", str(s), empty, date="2026-01-02", allow_ungrounded=True)
        assert [v["version"] for v in ostore.versions(str(s))] == ["0.1.0", "0.1.1"]
        assert ostore.load("claims", "0.1.1", str(s)).num_rows == 0
        assert not [p for p in s.iterdir() if p.name.startswith(".tmp-")]
        if not crashed:
            break
        assert k < 100


def test_concurrent_releases_are_both_listed(tmp_path, empty, quick_release):
    store = str(tmp_path / "store")
    publish.release("0.1.0", store, empty, date="2026-01-01", allow_ungrounded=True)
    out, errors = [], []

    def run(v):
        try:
            out.append(publish.release(v, store, empty, date="2026-01-02", allow_ungrounded=True).version)
        except ostore.ReleaseError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=run, args=(v,)) for v in ("0.1.1", "0.1.2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    listed = [v["version"] for v in ostore.versions(store)]
    assert set(out) <= set(listed) and not ostore.unlisted_versions(store)
    # whichever ran second either was listed too or was refused (never silently lost)
    assert len(out) + len(errors) == 2 and ("0.1.2" in listed)


@pytest.mark.parametrize("victim", ["datapackage.json", "schema.json", "SHA256SUMS", "tables/claims.parquet"])
def test_load_verifies_every_listed_file(tmp_path, empty, quick_release, victim):
    store = tmp_path / "store"
    publish.release("0.1.0", str(store), empty, date="2026-01-01", allow_ungrounded=True)
    p = store / "0.1.0" / victim
    p.write_bytes(p.read_bytes() + b" ")
    with pytest.raises(ostore.ChecksumError):
        ostore.load("outcomes", "0.1.0", str(store))


def test_index_manifest_hash_is_checked(tmp_path, empty, quick_release):
    store = tmp_path / "store"
    publish.release("0.1.0", str(store), empty, date="2026-01-01", allow_ungrounded=True)
    idx = json.loads((store / "index.json").read_text())
    idx["versions"][0]["manifest_sha256"] = "0" * 64
    (store / "index.json").write_text(json.dumps(idx))
    with pytest.raises(ostore.ChecksumError, match="manifest_sha256"):
        ostore.load("outcomes", "0.1.0", str(store))


@pytest.mark.parametrize("junk", [b"{not json", b"\xff\xfe", b"[]", b'{"versions": [{"version": "../x"}]}', b""])
def test_corrupt_index_is_a_clean_error(tmp_path, junk):
    store = tmp_path / "store"
    store.mkdir()
    (store / "index.json").write_bytes(junk)
    with pytest.raises(ostore.StoreError) as exc:
        ostore.versions(str(store))
    assert "index.json" in str(exc.value) and "\n" not in str(exc.value)


# --------------------------------------------------------------------------- 5. terminal output

UNSAFE = {chr(c) for c in [*range(0, 9), *range(11, 32), *range(127, 160)]} | {
    "\u202e", "\u202d", "\u202a", "\u202b", "\u202c", "\u2066", "\u2067", "\u2068", "\u2069", "\u200e",
    "\u200f", "\u061c", "\u2028", "\u2029", "\ufeff"}


@given(st.text())
@settings(max_examples=300, deadline=None)
def test_safe_leaves_no_control_or_bidi_character(s):
    out = safe(s)
    assert not (set(out) & UNSAFE)
    assert safe(out) == out  # idempotent on its own output


def test_safe_output_is_valid_inside_json_strings():
    s = "a\x1b[31mred\x07\u202eevil\x9b"
    assert json.loads(safe(json.dumps(s, ensure_ascii=False))) == s


def test_findings_and_rows_from_data_are_escaped(tmp_path, data):
    from typer.testing import CliRunner

    from opsledger.cli import app

    df = read(data, "agencies")
    evil = "\x1b[2J\x1b[31mowned\x07\u202egnp.exe[bold]x[/bold]"
    df = df.with_columns(pl.when(pl.col("agency_id") == "europol").then(pl.lit(evil)).otherwise(pl.col("name"))
                         .alias("name"))
    oio.write_parquet_atomic(oio.to_arrow("agencies", df), data / "agencies.parquet")
    r = CliRunner().invoke(app, ["show", str(data / "agencies.parquet")])
    assert r.exit_code == 0
    assert not (set(r.output) & UNSAFE) and "owned" in r.output
    # a finding that quotes the value
    cs = write_cs(tmp_path, "0908-evil", {**PHRASE_FIX, "changes": [{
        "op": "update", "table": "claims", "key": "no-such\x1b[31m\u202e", "expect": {"stated": "x"},
        "set": {"stated": "y"}, "source": "interpol-blackwrist-release"}]})
    r = CliRunner().invoke(app, ["correction", "check", str(cs), "--data-dir", str(data)])
    assert r.exit_code == 2 and not (set(r.output) & UNSAFE), r.output


# --------------------------------------------------------------------------- 6./8. change-set files


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


# --------------------------------------------------------------------------- 7. library API


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


def test_load_decodes_single_threaded_from_arrow_owned_buffers(tmp_path, data, quick_release, plain_charts,
                                                               monkeypatch):
    """The cause of the 1-in-7 abort at exit (pyarrow's thread pool decoding a buffer over Python bytes,
    see store._parquet) is absent from every table read of a load: each read is single-threaded, from
    an Arrow-owned buffer. (A single subprocess run, below, could only catch the abort by luck.)"""
    import pyarrow as pa
    import pyarrow.parquet as pq

    store = tmp_path / "store"
    publish.release("0.1.0", str(store), data, date="2026-01-01", allow_ungrounded=True)
    reads = []
    real = pq.ParquetFile

    class Spy(real):  # type: ignore[misc, valid-type]
        def __init__(self, source, *a, **k):
            self.source_kind = type(source)
            super().__init__(source, *a, **k)

        def read(self, *a, **k):
            reads.append((self.source_kind, k.get("use_threads", True)))
            return super().read(*a, **k)

    monkeypatch.setattr(pq, "ParquetFile", Spy)
    monkeypatch.setattr(pq, "read_table", lambda *a, **k: pytest.fail("pq.read_table decodes with threads"))
    ostore.load("outcomes", store=str(store))
    assert reads and all(kind is pa.BufferReader and threads is False for kind, threads in reads), reads


def test_plain_load_exits_cleanly(tmp_path, data, quick_release, plain_charts):
    """A plain load in a fresh process exits 0 and leaves no thread of ours running."""
    store = tmp_path / "store"
    publish.release("0.1.0", str(store), data, date="2026-01-01", allow_ungrounded=True)
    code = ("import threading, opsledger; t = opsledger.load('outcomes', store=%r); "
            "print([t.name for t in threading.enumerate() if t is not threading.main_thread()])" % str(store))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0 and "terminate" not in p.stderr, p.stderr
    assert p.stdout.strip() == "[]", p.stdout + p.stderr


def test_error_types_carry_exit_codes():
    from opsledger.corrections.changeset import ChangeSetRefused

    assert UsageError("x").exit_code == 2 and PathError("x").exit_code == 2
    assert ostore.ReleaseError("x").exit_code == 1 and ostore.ChecksumError("x").exit_code == 1
    assert ostore.ReleaseUsageError("x").exit_code == 2 and ChangeSetRefused("x").exit_code == 1
    assert CorrectionError("x").exit_code == 2 and oio.UnusableInput("x").exit_code == 2
    assert all(issubclass(e, OpsledgerError) for e in (CorrectionError, ostore.StoreError, PathError))


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
