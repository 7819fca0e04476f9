"""Applying a change set is one atomic step for the tables, the log and the file's move: a crash or a
killed process at any file operation leaves the old or the new state, and concurrent applies of
one change set log it once (issue 11)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import polars as pl
import yaml

from opsledger.data import io as oio
from opsledger.corrections.changeset import CorrectionError, prepare
from opsledger.corrections.apply import commit
from opsledger.declarations import TABLES

from conftest import Crash, DATED, PHRASE_FIX, REPO, read, write_cs


def state(d: Path) -> dict[str, str]:
    """sha256 of every table file."""
    return {n: hashlib.sha256((d / f"{n}.parquet").read_bytes()).hexdigest() for n in TABLES}


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
