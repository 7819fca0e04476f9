"""Where great-expectations runs (opsledger.validation.gxworker): a worker process gives the verdicts this
process gives, a dead worker's batches are run here, and a worker is always stopped."""

from __future__ import annotations

import json
import subprocess
import sys

import polars as pl
import pytest

from opsledger.validation import gxworker as gxengine
from opsledger.errors import DeclarationError
from opsledger.validation.rules.base import Expectation, Frame, Rule
from opsledger.validation.rules.gx import SMALL_FRAME_ROWS, run

from conftest import ARCHIVE, DATASETS

def _on(name: str) -> Frame:
    """A frame of that name (the tests hand the runner the frames themselves)."""
    return Frame(name, lambda _x: pl.DataFrame())


def _rule(*exps: tuple[str, dict]) -> Rule:
    return Rule("test.r", "error", "d", frame=_on("f"), decision=tuple(Expectation(type=t, kwargs=k) for t, k in exps),
                family="referential", origin="rules.py")


def _frame(n: int = 40) -> pl.DataFrame:
    return pl.DataFrame({"row_key": [f"r{i}" for i in range(n)], "a": [i % 7 for i in range(n)],
                         "b": [i % 7 if i % 5 else -1 for i in range(n)], "c": [None if i % 4 == 0 else i for i in range(n)]})


RULE = _rule(("expect_column_pair_values_to_be_equal", {"column_A": "a", "column_B": "b"}),
             ("expect_column_values_to_not_be_null", {"column": "c"}))


def _failing(results) -> list[set[str]]:
    return [set(r.failing["row_key"]) for r in results]


def test_a_worker_gives_the_verdicts_of_this_process():
    """The same rule on the same frames (one small, one large): the same failing rows, worker or here."""
    large = _frame(SMALL_FRAME_ROWS + 10)
    got = {}
    for where in ("here", "worker"):
        with gxengine.engine(where) as eng:
            assert type(eng).__name__ == {"here": "Inline", "worker": "Worker"}[where]
            got[where] = (_failing(run([RULE], lambda _n: _frame(), {})),
                          _failing(run([RULE], lambda _n: large, {})))
            if where == "worker":
                assert eng.fallback is None  # answered by the worker itself
    assert got["worker"] == got["here"]
    small, big = got["worker"]
    assert small == [{f"r{i}" for i in range(40) if i % 5 == 0}, {f"r{i}" for i in range(40) if i % 4 == 0}]
    assert big[0] == {f"r{i}" for i in range(SMALL_FRAME_ROWS + 10) if i % 5 == 0}


def test_an_expectation_the_worker_refuses_names_its_rule():
    bad = _rule(("expect_column_pair_values_to_be_equal", {"column_A": "a", "column_B": "b"}),
                ("expect_column_values_to_be_wonderful", {"column": "a"}))
    with gxengine.engine("worker") as eng, pytest.raises(
            DeclarationError, match=r"rules.py: rule test.r: expect_column_values_to_be_wonderful"):
        run([bad], lambda _n: _frame(), {})
    assert eng.fallback is None


def test_batches_a_dead_worker_did_not_answer_run_here():
    with gxengine.engine("worker") as eng:
        eng.proc.kill()
        eng.proc.wait()
        assert _failing(run([RULE], lambda _n: _frame(), {}))[0] == {f"r{i}" for i in range(40) if i % 5 == 0}
        assert eng.fallback is not None


def test_a_worker_is_stopped_on_the_way_out_even_on_error():
    with pytest.raises(RuntimeError), gxengine.engine("worker") as eng:  # never handed a batch
        raise RuntimeError("interrupted")
    assert eng.proc.poll() is not None
    with gxengine.engine("worker") as eng:
        run([RULE], lambda _n: _frame(), {})
    assert eng.proc.poll() == 0  # it ended its own work and left


def test_an_inner_engine_is_the_outer_one_and_auto_runs_here_once_imported():
    with gxengine.engine("here") as outer, gxengine.engine("worker") as inner:
        assert inner is outer
    assert isinstance(gxengine.start("auto"), gxengine.Inline)  # great-expectations is imported here
    with pytest.raises(ValueError, match="auto, here or worker"):
        gxengine.start("elsewhere")


def test_no_worker_when_no_python_to_start_it(monkeypatch):
    monkeypatch.setattr(sys, "executable", "")
    assert isinstance(gxengine.start("worker"), gxengine.Inline)


def test_a_fresh_process_validates_with_a_worker_and_reports_what_this_one_does(shipped_report, tmp_path):
    """A whole validation in a new process, where great-expectations is never imported (it runs in
    the worker): the same findings as the validation run in this process. Run from an empty
    directory holding a module named like one great-expectations imports: it is not picked up."""
    cwd, script = tmp_path / "cwd", tmp_path / "script" / "run.py"
    cwd.mkdir()
    script.parent.mkdir()
    (cwd / "pandas.py").write_text("raise SystemExit('the working directory was on the path')\n")
    script.write_text(
        "import json, sys, opsledger\n"
        f"r = opsledger.validate({str(DATASETS)!r}, sources={str(ARCHIVE) if ARCHIVE.is_dir() else None!r})\n"
        "print(json.dumps({'here': 'great_expectations' in sys.modules, 'report': json.loads(r.to_json())}))\n")
    p = subprocess.run([sys.executable, str(script)], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    got = json.loads(p.stdout)
    assert got["here"] is False
    assert got["report"]["findings"] == json.loads(shipped_report.to_json())["findings"]
    assert got["report"]["exit_code"] == shipped_report.exit_code == 0


def test_small_frames_go_in_batches_of_enough_rows_and_each_keeps_its_own_failing_rows(monkeypatch):
    """Small frames are handed over together once they hold SMALL_FRAME_ROWS rows (so a worker works
    while later frames are built); each frame's failing rows are its own, whichever batch held it."""
    from opsledger.validation.rules import gx

    monkeypatch.setattr(gx, "SMALL_FRAME_ROWS", 400)  # the batching rule, at a size a test can afford
    n = gx.SMALL_FRAME_ROWS // 2 + 1  # two frames fill a batch; the third goes in the last one
    rules = [Rule(f"test.r{k}", "error", "d", frame=_on(f"f{k}"), family="referential", origin="rules.py",
                  decision=(Expectation(type="expect_column_values_to_be_in_set",
                                        kwargs={"column": "row_key", "value_set": [f"r{i}" for i in range(n) if i % (k + 2)]}),))
             for k in range(3)]
    sizes = []
    real = gxengine.Inline.submit
    monkeypatch.setattr(gxengine.Inline, "submit", lambda self, frame, specs: sizes.append(frame.num_rows)
                        or real(self, frame, specs))
    frames = {f"f{k}": pl.DataFrame({"row_key": [f"r{i}" for i in range(n)]}) for k in range(3)}
    with gxengine.engine("here"):
        got = _failing(run(rules, frames.__getitem__, {}))
    assert sizes == [2 * n, n]
    assert got == [{f"r{i}" for i in range(n) if i % (k + 2) == 0} for k in range(3)]


def test_where_select_cannot_poll_a_pipe_the_answers_are_taken_later(monkeypatch):
    """(select() on pipes is missing on Windows.) Nothing is read early; every answer still arrives."""
    import select

    def refuse(*_a):
        raise OSError("select on a pipe")

    monkeypatch.setattr(select, "select", refuse)
    with gxengine.engine("worker") as eng:
        assert _failing(run([RULE], lambda _n: _frame(), {}))[0] == {f"r{i}" for i in range(40) if i % 5 == 0}
        assert eng.fallback is None


def test_column_pair_expectations_decided_together_keep_their_own_failing_rows(monkeypatch):
    """Pair expectations of one type and the same other arguments (two on one frame, one on another)
    go to GX as one expectation on stacked columns; each still fails on its own rows only. Another
    pair expectation (other arguments) and a non-pair one are sent as they are."""
    n = 30
    f = pl.DataFrame({"row_key": [f"f{i}" for i in range(n)], "a": list(range(n)),
                      "b": [i if i % 3 else -1 for i in range(n)], "c": [i if i % 5 else -2 for i in range(n)]})
    g = pl.DataFrame({"row_key": [f"g{i}" for i in range(n)], "x": list(range(n)),
                      "y": [i if i % 7 else -3 for i in range(n)]})

    def rule(name, frame, *exps):
        return Rule(name, "error", "d", frame=_on(frame), family="referential", origin="rules.py",
                    decision=tuple(Expectation(type=t, kwargs=k) for t, k in exps))

    eq = "expect_column_pair_values_to_be_equal"
    gt = "expect_column_pair_values_a_to_be_greater_than_b"
    rules = [rule("t.ab", "f", (eq, {"column_A": "a", "column_B": "b"})),
             rule("t.ac", "f", (eq, {"column_A": "a", "column_B": "c"})),
             rule("t.xy", "g", (eq, {"column_A": "x", "column_B": "y"})),
             rule("t.gt", "g", (gt, {"column_A": "x", "column_B": "y", "or_equal": True})),
             rule("t.set", "f", ("expect_column_values_to_be_in_set", {"column": "a", "value_set": list(range(n - 1))}))]
    sent = []
    real = gxengine.Inline.submit
    monkeypatch.setattr(gxengine.Inline, "submit", lambda self, frame, specs: sent.append([t for t, _ in specs])
                        or real(self, frame, specs))
    with gxengine.engine("here"):
        got = _failing(run(rules, {"f": f, "g": g}.__getitem__, {}))
    assert sorted(map(sorted, sent)) == sorted([[eq], sorted([gt, "expect_column_values_to_be_in_set"])])
    assert got == [{f"f{i}" for i in range(n) if i % 3 == 0}, {f"f{i}" for i in range(n) if i % 5 == 0},
                   {f"g{i}" for i in range(n) if i % 7 == 0}, set(), {f"f{n - 1}"}]


def test_a_refused_expectation_in_a_group_of_pairs_names_its_rule():
    bad = [Rule(f"t.{k}", "error", "d", frame=_on("f"), family="referential", origin="rules.py",
                decision=(Expectation(type="expect_column_pair_values_to_be_equal",
                                      kwargs={"column_A": "a", "column_B": k, "ignore_row_if": "sometimes"}),))
           for k in ("b", "c")]
    with gxengine.engine("here"), pytest.raises(DeclarationError, match=r"rules.py: rule t.b: "):
        run(bad, lambda _n: _frame(), {})


def test_a_pair_expectation_that_judges_missing_values_is_decided_on_its_own_frame():
    """`ignore_row_if: neither` judges a row whose two values are missing: in a batch shared with other
    small frames it would judge their rows too (all missing in its columns) and fail on each. Its
    verdict is its frame's own: a frame with both values everywhere passes, one with a missing value
    fails on that row only, and the other frames' rules are not affected."""
    gt = "expect_column_pair_values_a_to_be_greater_than_b"
    kwargs = {"column_A": "hi", "column_B": "lo", "or_equal": True, "ignore_row_if": "neither"}

    def rule(name, frame, t, k):
        return Rule(name, "error", "d", frame=_on(frame), family="timeline", origin="rules.py",
                    decision=(Expectation(type=t, kwargs=k),))

    n = 300
    other = pl.DataFrame({"row_key": [f"o{i}" for i in range(n)], "v": [i % 9 for i in range(n)]})
    rules = [rule("t.dates", "dates", gt, kwargs),
             rule("t.other", "other", "expect_column_values_to_be_between", {"column": "v", "max_value": 7})]
    others = {f"o{i}" for i in range(n) if i % 9 == 8}
    whole = pl.DataFrame({"row_key": [f"w{i}" for i in range(5)], "lo": [1, 2, 3, 4, 5], "hi": [1, 3, 3, 9, 5]})
    holed = pl.DataFrame({"row_key": [f"h{i}" for i in range(5)], "lo": [1, 2, None, 4, 5], "hi": [1, 3, 3, 1, 5]})
    with gxengine.engine("here"):
        got = run(rules, {"dates": whole, "other": other}.__getitem__, {})
        assert [r.success for r in got] == [True, False]
        assert _failing(got) == [set(), others]
        got = run(rules, {"dates": holed, "other": other}.__getitem__, {})
        assert [r.success for r in got] == [False, False]
        assert _failing(got) == [{"h2", "h3"}, others]
