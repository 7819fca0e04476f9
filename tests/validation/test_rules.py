"""Rule declarations are checked at load: one Rule object per rule, declared in its family's module
and collected by the registry, which refuses a name declared twice, a name outside its family's
prefix, a frame of another family, a bad severity or a rule with no decision, with a one-line
DeclarationError (exit 2) before anything runs; a column its frame lacks or an expectation GX does
not know is refused the same way when the rule runs. The catalogue is generated from the registry."""

from __future__ import annotations

import dataclasses
import json
import types

import polars as pl
import pytest
from typer.testing import CliRunner

from opsledger.cli import app
from opsledger.errors import DeclarationError
from opsledger.declarations import repo_root
from opsledger.validation.rules import FAMILIES, all_rules, evaluate, load_rules
from opsledger.validation.rules import support, timeline
from opsledger.validation.rules.base import Family, Rule, expect, frame
from opsledger.validation.rules.registry import MODULES, families, rules

#: the tests' ``data`` is the small dataset: they edit rows of its operations only (conftest)
SMALL_DATA = True

runner = CliRunner()


@frame("probe")
def probe(_x) -> pl.DataFrame:
    """A frame declared in this module (a family of its own for the tests)."""
    return pl.DataFrame({"row_key": ["a"], "table": ["t"], "n": [1]})


@frame("probe")
def probe_again(_x) -> pl.DataFrame:
    return pl.DataFrame()


def _rule(name: str, **kw) -> Rule:
    return Rule(name, kw.pop("severity", "error"), "d", frame=kw.pop("frame", probe),
                decision=kw.pop("decision", (expect("column_values_to_be_between", column="n", min_value=1),)), **kw)


def _family(name: str, *declared: Rule) -> types.ModuleType:
    """A family module (this one, so its frames are its own) declaring ``declared``."""
    mod = types.ModuleType(__name__)
    mod.__file__ = __file__
    mod.FAMILY = Family(name, "test family")  # type: ignore[attr-defined]
    mod.RULES = list(declared)  # type: ignore[attr-defined]
    return mod


def test_every_family_is_a_module_declaring_its_rules():
    assert [m.FAMILY.name for m in MODULES] == ["schema", *FAMILIES, "acknowledgements"]
    by_family = {f: [r for r in all_rules() if r.family == f] for f in families()}
    assert all(by_family.values()), [f for f, rs in by_family.items() if not rs]
    assert all(r.frame is not None for r in load_rules()) and all(r.stage == "schema" for r in by_family["schema"])
    for mod in MODULES:
        assert all(isinstance(r, Rule) for r in mod.RULES) and isinstance(mod.FAMILY, Family)


def test_a_rule_declared_twice_is_refused(monkeypatch):
    """One name, one declaration: twice in a family's RULES, in its RULES and among the rules it
    generates, or in two families of one name."""
    with pytest.raises(DeclarationError, match=r"test_rules.py: rule fam.one: declared twice") as exc:
        rules((_family("fam", _rule("fam.one"), _rule("fam.one", severity="warning")),))
    assert "\n" not in str(exc.value)
    with pytest.raises(DeclarationError, match="declared twice"):
        rules((_family("fam", _rule("fam.one")), _family("fam", _rule("fam.two"))))  # the family itself
    generating = _family("fam", _rule("fam.one"))
    generating.FAMILY = Family("fam", "test family", generated=lambda: [_rule("fam.one")])  # type: ignore[attr-defined]
    with pytest.raises(DeclarationError, match="rule fam.one: declared twice"):
        rules((generating,))
    again = dataclasses.replace(timeline.RULES[0], severity="warning")
    monkeypatch.setattr(timeline, "RULES", [*timeline.RULES, again])
    with pytest.raises(DeclarationError, match="validation/rules/timeline.py: rule timeline.order: declared twice"):
        rules()


def test_a_rule_whose_prefix_is_not_its_family_is_refused():
    with pytest.raises(DeclarationError, match=r"rule other.one: its name must start with its family's, fam\."):
        rules((_family("fam", _rule("other.one")),))
    with pytest.raises(DeclarationError, match="must start with its family's, reconciliation"):
        rules((_family("reconciliation", _rule("reconcile.not_disputed")),))  # the old prefix
    with pytest.raises(DeclarationError, match="lower-case words joined by dots"):
        rules((_family("fam", _rule("fam")),))
    assert all(r.name.startswith(r.family + ".") for r in all_rules())


def test_a_frame_of_another_family_a_bad_severity_or_no_decision_is_refused():
    with pytest.raises(DeclarationError, match="frame 'source_use' belongs to the support module"):
        rules((_family("fam", _rule("fam.one", frame=support.source_use)),))
    with pytest.raises(DeclarationError, match="severity 'fatal'"):
        rules((_family("fam", _rule("fam.one", severity="fatal")),))
    with pytest.raises(DeclarationError, match="decided by no expectation"):
        rules((_family("fam", _rule("fam.one", decision=())),))
    with pytest.raises(DeclarationError, match="without a frame is decided by a count"):
        rules((_family("fam", _rule("fam.one", frame=None, decision=())),))
    with pytest.raises(DeclarationError, match="frame 'probe' is declared twice"):
        rules((_family("fam", _rule("fam.one"), _rule("fam.two", frame=probe_again)),))


def test_a_table_check_that_names_no_schema_rule_is_refused(tmp_path, monkeypatch):
    """A table's ``checks`` in schemas/ name schema-stage rules of the registry; an unknown one stops
    the run with exit 2 naming the table (never a KeyError)."""
    import shutil

    from opsledger import declarations

    d = tmp_path / "schemas"
    shutil.copytree(repo_root() / "schemas", d)
    f = d / "claims.toml"
    f.write_text(f.read_text(encoding="utf-8").replace('"low_le_high"', '"low_below_high"'), encoding="utf-8")
    monkeypatch.setenv("OPSLEDGER_SCHEMAS", str(d))
    declarations.clear_caches()
    try:
        from opsledger.validation.schema_stage import pandera_schema

        with pytest.raises(DeclarationError, match=r"table claims: checks 'low_below_high' name no schema rule "
                                                   r"\(known: value_within_bounds, low_le_high, date_low_le_high\)"):
            pandera_schema("claims")
    finally:
        monkeypatch.delenv("OPSLEDGER_SCHEMAS")
        declarations.clear_caches()


def test_rules_are_declared_with_native_expectations():
    rules_ = load_rules()
    types_ = [e.type for r in rules_ for e in r.expectations]
    # great-expectations decides: no rule is a boolean computed beforehand, except the phrase rules'
    # verdict (GX cannot read phrases)
    booleans = [r.name for r in rules_ for e in r.expectations
                if e.type == "expect_column_values_to_be_in_set" and e.kwargs.get("value_set") == [True]]
    assert booleans == ["reconciliation.phrase_readable"]
    assert {"expect_column_pair_values_to_be_equal", "expect_column_pair_values_a_to_be_greater_than_b",
            "expect_column_values_to_be_between", "expect_compound_columns_to_be_unique",
            "expect_column_values_to_not_be_in_set"} <= set(types_)


def test_missing_column_and_unknown_expectation_exit_2(small_data, monkeypatch):
    data = small_data  # validated whole twice: the small dataset, with its checks/
    first = timeline.RULES[0]
    bad_column = dataclasses.replace(first, decision=(expect("column_pair_values_a_to_be_greater_than_b",
                                                             column_A="no_such_column", column_B="lo"),))
    monkeypatch.setattr(timeline, "RULES", [bad_column, *timeline.RULES[1:]])
    r = runner.invoke(app, ["validate", str(data)])
    assert r.exit_code == 2 and "no_such_column" in r.output and "Traceback" not in r.output, r.output
    assert "validation/rules/timeline.py: rule timeline.order" in r.output
    wonderful = dataclasses.replace(first, decision=(expect("column_values_to_be_wonderful", column="lo"),))
    monkeypatch.setattr(timeline, "RULES", [wonderful, *timeline.RULES[1:]])
    r = runner.invoke(app, ["validate", str(data)])
    assert r.exit_code == 2 and "expect_column_values_to_be_wonderful" in r.output


def test_a_rule_declared_alone_runs(shipped, monkeypatch):
    """Adding a rule takes its declaration only, when its frame exists."""
    n = shipped["claims"].group_by("source_id").len()
    most = int(n["len"].max()) - 1  # type: ignore[arg-type]
    monkeypatch.setattr(support, "RULES", [*support.RULES, Rule(
        "support.few_claims_per_source", "warning", f"No source is cited by more than {most} claims.",
        frame=support.source_use, decision=(expect("column_values_to_be_between", column="n_claims", max_value=most),))])
    got = evaluate(shipped, ["support.few_claims_per_source"])["support.few_claims_per_source"]
    assert got == set(n.filter(n["len"] > most)["source_id"]) and got


def test_each_familys_rules_all_run(shipped_report):
    """Every registered rule, at every stage, is in the report of the shipped data; every rule on a
    frame ran (none skipped): a rule declared but never run cannot hide."""
    ran = {r.rule: r for r in shipped_report.rules}
    archive = any(r.rule.startswith("grounding.") and r.status != "skipped" for r in shipped_report.rules)
    expected = {r.name for r in all_rules()} - (set() if archive else {"grounding.not_archived"})
    assert expected <= set(ran), sorted(expected - set(ran))
    for fam in FAMILIES:
        names = [r.name for r in load_rules() if r.family == fam]
        if fam == "grounding" and not archive:
            continue
        assert names and all(ran[n].status != "skipped" for n in names), (fam, [ran[n] for n in names])
    assert ran["schema.type"].stage == "schema" and ran["acknowledgements.not_stale"].status == "passed"


def test_rule_selection_runs_only_the_chosen_rules(data):
    r = runner.invoke(app, ["validate", str(data), "--rule", "meaning.*", "--format", "json"])
    doc = json.loads(r.stdout)
    ran = {x["rule"] for x in doc["rules"] if x["stage"] == "cross" and x["status"] != "skipped"}
    assert ran and all(n.startswith("meaning.") or n == "acknowledgements.not_stale" for n in ran)
    assert r.exit_code == 0  # acknowledgements of rules not run are not stale
    r = runner.invoke(app, ["validate", str(data), "--rule", "meaning.nothing_like_this"])
    assert r.exit_code == 2 and "matches no cross-source rule" in r.output


def test_rules_travel_with_the_package(tmp_path, monkeypatch):
    """An installed package validates with the project's rules: they are code of the package, and the
    wheel carries checks/ (acknowledgements, blocklist) as it carries schemas/; the rules do not depend
    on where checks/ is."""
    import tomllib

    include = tomllib.loads((repo_root() / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"][
        "wheel"]["force-include"]
    assert include["schemas"] == "opsledger/schemas" and include["checks"] == "opsledger/checks"
    before = [r.name for r in all_rules()]
    monkeypatch.setenv("OPSLEDGER_CHECKS", str(tmp_path / "nowhere"))
    assert [r.name for r in all_rules()] == before


def missing_from_catalogue(text: str) -> list[str]:
    """The registered rules the catalogue text does not list (each as a table row of its own)."""
    return [r.name for r in all_rules() if f"| `{r.name}` |" not in text]


def test_rule_catalogue_is_generated_from_the_registry_and_lists_every_rule():
    from opsledger.validation.rules import catalogue, catalogue_markdown

    committed = (repo_root() / "docs" / "rules.md").read_text(encoding="utf-8")
    assert committed == catalogue_markdown() + "\n", "docs/rules.md is stale: run `make dictionary`"
    registered = [r.name for r in all_rules()]
    assert [r["rule"] for r in catalogue()] == registered and missing_from_catalogue(committed) == []
    assert {"schema.type", "referential.claims.source_id", "acknowledgements.not_stale"} <= set(registered)
    # the check fails when one is missing
    line = next(x for x in committed.splitlines() if x.startswith("| `timeline.order` |"))
    assert missing_from_catalogue(committed.replace(line + "\n", "")) == ["timeline.order"]
    r = runner.invoke(app, ["rules", "--format", "json"])
    assert r.exit_code == 0 and [x["rule"] for x in json.loads(r.stdout)] == registered


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
    from opsledger.validation.rules.base import Expectation, Frame
    from opsledger.validation.rules.gx import SMALL_FRAME_ROWS, run

    n = SMALL_FRAME_ROWS + 10
    frame = pl.DataFrame({"row_key": [f"r{i}" for i in range(n)],
                          "a": [i % 7 for i in range(n)], "b": [i % 7 if i % 5 else -1 for i in range(n)],
                          "kind": ["x" if i % 3 else "y" for i in range(n)]})
    exps = (Expectation(type="expect_column_pair_values_to_be_equal", kwargs={"column_A": "a", "column_B": "b"}),
            Expectation(type="expect_column_values_to_be_in_set", kwargs={"column": "kind", "value_set": ["x"]}))
    rule = Rule("test.pair", "error", "d", frame=Frame("f", lambda _x: frame), decision=exps)
    pair, in_set = run([rule], lambda _name: frame, {})
    assert set(pair.failing["row_key"]) == {f"r{i}" for i in range(n) if i % 5 == 0}
    assert set(in_set.failing["row_key"]) == {f"r{i}" for i in range(n) if i % 3 == 0}
