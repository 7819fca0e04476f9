"""Rule declarations are checked at load: a rule naming an unknown frame, a column its frame lacks, a
suite outside every family, a bad severity or an expectation GX does not know is refused with a
one-line DeclarationError (exit 2), before anything runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opsledger.cli import app
from opsledger.errors import DeclarationError
from opsledger.declarations import repo_root
from opsledger.validation.rules import FAMILIES, evaluate, load_rules
from opsledger.validation.rules.base import frame_specs

runner = CliRunner()


@pytest.fixture
def checks(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "checks"
    shutil.copytree(repo_root() / "checks", d)
    monkeypatch.setenv("OPSLEDGER_CHECKS", str(d))
    return d


def _edit(checks: Path, family: str, fn) -> Path:
    p = checks / "suites" / f"{family}.json"
    doc = json.loads(p.read_text())
    fn(doc)
    p.write_text(json.dumps(doc))
    return p


def test_every_family_has_a_suite_and_a_module():
    specs = frame_specs()
    for fam in FAMILIES:
        assert (repo_root() / "checks" / "suites" / f"{fam}.json").is_file()
        assert any(s.family == fam for s in specs.values()), fam


def test_a_rule_declared_twice_differently_is_refused(checks):
    """A rule is declared once: a second expectation under the same rule name must agree with the first
    (family, severity, description, frame), else the suites are refused."""
    def twice(d):
        e = json.loads(json.dumps(d["expectations"][0]))
        e["meta"]["severity"] = "warning" if e["meta"]["severity"] == "error" else "error"
        d["expectations"].append(e)
    p = _edit(checks, "relations", twice)
    with pytest.raises(DeclarationError, match="declared again with a different family, severity"):
        load_rules(p.parent)


def test_rules_are_declared_with_native_expectations():
    rules = load_rules()
    types = [e.type for r in rules for e in r.expectations]
    # great-expectations decides: no rule is a boolean computed beforehand, except the phrase rules'
    # verdict (GX cannot read phrases)
    booleans = [r.name for r in rules for e in r.expectations
                if e.type == "expect_column_values_to_be_in_set" and e.kwargs.get("value_set") == [True]]
    assert booleans == ["reconcile.phrase_readable"]
    assert {"expect_column_pair_values_to_be_equal", "expect_column_pair_values_a_to_be_greater_than_b",
            "expect_column_values_to_be_between", "expect_compound_columns_to_be_unique",
            "expect_column_values_to_not_be_in_set"} <= set(types)


def test_unknown_frame_is_refused(checks):
    def bad(doc):
        doc["expectations"][0]["meta"]["frame"] = "no_such_frame"

    p = _edit(checks, "timeline", bad)
    with pytest.raises(DeclarationError, match="no_such_frame") as exc:
        load_rules()
    assert str(p) in str(exc.value) and "\n" not in str(exc.value)


def test_frame_of_another_family_is_refused(checks):
    def bad(doc):
        doc["expectations"][0]["meta"]["frame"] = "backing"

    _edit(checks, "timeline", bad)
    with pytest.raises(DeclarationError, match="belongs to the support family"):
        load_rules()


def test_bad_severity_and_suite_outside_a_family(checks):
    def bad(doc):
        doc["expectations"][0]["meta"]["severity"] = "fatal"

    _edit(checks, "timeline", bad)
    with pytest.raises(DeclarationError, match="severity"):
        load_rules()
    _edit(checks, "timeline", lambda d: d["expectations"][0]["meta"].update(severity="error"))
    (checks / "suites" / "extra.json").write_text('{"name": "extra", "expectations": []}')
    with pytest.raises(DeclarationError, match="extra.json"):
        load_rules()


def test_missing_column_and_unknown_expectation_exit_2(checks, data):
    _edit(checks, "timeline", lambda d: d["expectations"][0]["kwargs"].update(column_A="no_such_column"))
    r = runner.invoke(app, ["validate", str(data)])
    assert r.exit_code == 2 and "no_such_column" in r.output and "Traceback" not in r.output, r.output
    _edit(checks, "timeline", lambda d: d["expectations"][0].update(
        type="expect_column_values_to_be_wonderful", kwargs={"column": "lo"}))
    r = runner.invoke(app, ["validate", str(data)])
    assert r.exit_code == 2 and "expect_column_values_to_be_wonderful" in r.output


def test_a_rule_declared_in_a_suite_alone_runs(checks, shipped):
    """Adding a rule takes its declaration only, when its frame exists."""
    n = shipped["claims"].group_by("source_id").len()
    most = int(n["len"].max()) - 1  # type: ignore[arg-type]
    _edit(checks, "support", lambda d: d["expectations"].append({
        "type": "expect_column_values_to_be_between", "kwargs": {"column": "n_claims", "max_value": most},
        "meta": {"rule": "support.few_claims_per_source", "severity": "warning", "frame": "source_use",
                 "description": f"No source is cited by more than {most} claims."}}))
    got = evaluate(shipped, ["support.few_claims_per_source"])["support.few_claims_per_source"]
    assert got == set(n.filter(n["len"] > most)["source_id"]) and got


def test_rule_selection_runs_only_the_chosen_rules(data):
    r = runner.invoke(app, ["validate", str(data), "--rule", "meaning.*", "--format", "json"])
    doc = json.loads(r.stdout)
    ran = {x["rule"] for x in doc["rules"] if x["stage"] == "cross" and x["status"] != "skipped"}
    assert ran and all(n.startswith("meaning.") or n == "acknowledgements.not_stale" for n in ran)
    assert r.exit_code == 0  # acknowledgements of rules not run are not stale
    r = runner.invoke(app, ["validate", str(data), "--rule", "meaning.nothing_like_this"])
    assert r.exit_code == 2 and "matches no cross-source rule" in r.output


def test_rules_travel_with_the_package(tmp_path, monkeypatch):
    """An installed package validates with the project's rules: the wheel carries checks/ as it carries
    schemas/, and a missing suites directory is an error, never a run with fewer rules."""
    import tomllib

    include = tomllib.loads((repo_root() / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"][
        "wheel"]["force-include"]
    assert include["schemas"] == "opsledger/schemas" and include["checks"] == "opsledger/checks"
    monkeypatch.setenv("OPSLEDGER_CHECKS", str(tmp_path / "nowhere"))
    with pytest.raises(DeclarationError, match="no rule suites"):
        load_rules()


def test_rule_catalogue_is_up_to_date_and_complete():
    from opsledger.validation.rules import catalogue, catalogue_markdown

    committed = (repo_root() / "docs" / "rules.md").read_text(encoding="utf-8")
    assert committed == catalogue_markdown() + "\n", "docs/rules.md is stale: run `make dictionary`"
    names = {r["rule"] for r in catalogue()}
    assert names == {r.name for r in load_rules()} and all(f"`{n}`" in committed for n in names)
    r = runner.invoke(app, ["rules", "--format", "json"])
    assert r.exit_code == 0 and {x["rule"] for x in json.loads(r.stdout)} == names


def test_deferred_module_runs_on_first_use_and_leaves_sys_modules(tmp_path, monkeypatch):
    """great-expectations' unused statistical imports are deferred: a deferred module is not run
    while inside, leaves sys.modules on the way out, and works on its first use."""
    import sys

    from opsledger.validation.gxworker import deferred

    (tmp_path / "probe_deferred.py").write_text("import sys\nsys.probe_runs = getattr(sys, 'probe_runs', 0) + 1\n"
                                                "VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "probe_runs", 0, raising=False)
    with deferred(("probe_deferred",)):
        import probe_deferred as m
        assert sys.probe_runs == 0
    assert "probe_deferred" not in sys.modules
    assert m.VALUE == 42 and sys.probe_runs == 1
    assert sys.modules["probe_deferred"].VALUE == 42
    monkeypatch.delitem(sys.modules, "probe_deferred")


def test_great_expectations_import_skips_scipy_stats_and_still_computes_with_it():
    import subprocess
    import sys

    code = ("import sys\nfrom opsledger.validation.gxworker import gx_context\ngx_context()\n"
            "print(sorted(m for m in ('scipy.stats', 'altair') if m in sys.modules))\n"
            "from great_expectations.expectations.core import expect_column_kl_divergence_to_be_less_than as k\n"
            "print(round(float(k.stats.entropy([0.5, 0.5], [0.9, 0.1])), 4))\n"
            "import scipy, altair\n"  # the rest of the process imports the real modules
            "print(type(scipy.stats).__name__, type(sys.modules['scipy.stats']).__name__, type(altair).__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:3] == ["[]", "0.5108", "module module module"]


def test_batches_are_not_fingerprinted_and_the_setting_is_put_back():
    import pytest
    from great_expectations.execution_engine import pandas_execution_engine as engine

    from opsledger.validation.gxworker import unfingerprinted

    before = engine.HASH_THRESHOLD
    with pytest.raises(RuntimeError), unfingerprinted():
        assert engine.HASH_THRESHOLD == 0
        raise RuntimeError("interrupted")
    assert engine.HASH_THRESHOLD == before


def test_a_large_frame_is_judged_on_its_distinct_values_and_every_row_is_reported():
    """GX sees each distinct combination of the values a row-wise expectation reads once; every row
    holding a failing combination is reported (and no other), as a run on every row would."""
    from pathlib import Path

    import polars as pl

    from opsledger.validation.rules.base import Expectation, Rule
    from opsledger.validation.rules.gx import SMALL_FRAME_ROWS, run

    n = SMALL_FRAME_ROWS + 10
    frame = pl.DataFrame({"row_key": [f"r{i}" for i in range(n)],
                          "a": [i % 7 for i in range(n)], "b": [i % 7 if i % 5 else -1 for i in range(n)],
                          "kind": ["x" if i % 3 else "y" for i in range(n)]})
    meta = {"rule": "test.pair", "severity": "error", "description": "d", "frame": "f"}
    exps = [Expectation(type="expect_column_pair_values_to_be_equal", kwargs={"column_A": "a", "column_B": "b"},
                        meta=meta),
            Expectation(type="expect_column_values_to_be_in_set", kwargs={"column": "kind", "value_set": ["x"]},
                        meta=meta)]
    rule = Rule("test.pair", "referential", "error", "d", "f", exps, Path("suite.json"))
    pair, in_set = run([rule], lambda _name: frame, {})
    assert set(pair.failing["row_key"]) == {f"r{i}" for i in range(n) if i % 5 == 0}
    assert set(in_set.failing["row_key"]) == {f"r{i}" for i in range(n) if i % 3 == 0}
