"""Library first: the public API, the command line that wraps it, one diff, one atomic write, no import
cycle. Fast: no test here validates data (the library functions are replaced by recorders)."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import opsledger
from opsledger.cli import app
from opsledger.errors import UsageError

from conftest import REPO

PKG = REPO / "src" / "opsledger"
runner = CliRunner()


# --------------------------------------------------------------------------- imports


def _module_names() -> dict[str, Path]:
    """Every module of the package by dotted name below ``opsledger`` (``reconcile``, ``rules.base``; a
    subpackage by its own name, ``rules``). The package ``__init__`` is the lazy public facade, left out."""
    out = {}
    for p in PKG.rglob("*.py"):
        parts = list(p.relative_to(PKG).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts and "templates" not in parts:
            out[".".join(parts)] = p
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports, anywhere in its body (a function-level import counts:
    it runs whenever the function does). Importing ``a.b`` also runs the package ``a``."""
    mods = _module_names()
    graph: dict[str, set[str]] = {}
    for m, path in mods.items():
        pkg = m if path.name == "__init__.py" else m.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".") if pkg else []
                    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                    module = ".".join([*base, *(node.module.split(".") if node.module else [])])
                elif node.module and node.module.split(".")[0] == "opsledger":
                    module = node.module.partition(".")[2]
                else:
                    continue
                targets += [module] + [f"{module}.{a.name}".strip(".") for a in node.names]
            elif isinstance(node, ast.Import):
                targets += [a.name.partition(".")[2] for a in node.names if a.name.startswith("opsledger.")]
            for t in targets:
                parts = t.split(".")
                deps |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)}  # a.b runs a first
        graph[m] = {d for d in deps if d in mods and d != m and not m.startswith(d + ".")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle found by a depth-first search, each once (as the path that closes it)."""
    found, state = [], {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = "open"
        for d in sorted(graph[m]):
            if state.get(d) == "open":
                found.append(path[path.index(d):] + [d])
            elif d not in state:
                visit(d, path + [d])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return found


def test_no_module_imports_one_that_imports_it_back():
    graph = import_graph()
    assert {"derive.reconcile", "publishing.publish", "derive.tablediff", "corrections.changeset", "cli"} <= set(graph)
    assert "publishing.publish" not in graph["derive.reconcile"] and "derive.tablediff" in graph["derive.reconcile"]
    assert not cycles(graph), cycles(graph)


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_reconcile_does_not_import_publish():
    p = subprocess.run([sys.executable, "-c", "import sys, opsledger.derive.reconcile; "
                        "print(sorted(m for m in sys.modules if m.startswith('opsledger')))"],
                       capture_output=True, text=True, check=True)
    assert "'opsledger.derive.reconcile'" in p.stdout and "opsledger.publishing.publish" not in p.stdout, p.stdout


# --------------------------------------------------------------------------- the public API


PUBLIC = ["validate", "load", "release", "versions", "diff", "rederive", "correction_check",
          "correction_apply", "correction_revert", "correction_new", "read_tables", "derive_all"]


def test_public_api_covers_every_task_and_stays_callable():
    import opsledger.publishing.publish  # noqa: F401  (importing the submodules must not replace a function)
    import opsledger.derive.tablediff  # noqa: F401
    import opsledger.validation.run  # noqa: F401

    assert set(PUBLIC) <= set(opsledger.__all__)
    for name in PUBLIC:
        assert callable(getattr(opsledger, name)), name
    modules = {p.stem for p in PKG.glob("*.py")} | {p.name for p in PKG.iterdir() if (p / "__init__.py").is_file()}
    assert {"validation", "publishing"} <= modules and not modules & set(opsledger.API), "a public name is also a submodule's name"


def _archive_default(fn) -> object:
    params = inspect.signature(fn).parameters
    return params["sources"].default if "sources" in params else params["archive"].default


def test_every_sources_argument_defaults_to_the_default_archive():
    for name in ("validate", "release", "rederive", "correction_check", "correction_apply", "correction_revert"):
        assert _archive_default(getattr(opsledger, name)) is opsledger.DEFAULT_ARCHIVE, name


def test_library_checks_its_arguments_like_the_command(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(UsageError, match="no such source archive"):
        opsledger.rederive(tmp_path, missing)
    with pytest.raises(UsageError, match="no such source archive"):
        opsledger.correction_check(tmp_path / "0001-x.yaml", tmp_path, missing)
    with pytest.raises(UsageError, match="no such source archive"):
        opsledger.release("0.1.0", tmp_path / "store", tmp_path, missing)
    with pytest.raises(UsageError, match="not the path of a change-set file"):
        opsledger.correction_check(3)
    with pytest.raises(UsageError, match="neither a version"):
        opsledger.diff({}, "latest", tmp_path / "store")
    with pytest.raises(UsageError):
        opsledger.correction_new("Bad Name", tmp_path)


def test_a_missing_extra_is_a_usage_error(monkeypatch):
    import importlib.util

    from opsledger.errors import MissingExtra, require

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda m, *a: None if m == "pandera" else real(m, *a))
    with pytest.raises(MissingExtra, match=r"pandera is not installed.*opsledger\[validate\]") as exc:
        require("validate")
    assert exc.value.exit_code == 2
    r = runner.invoke(app, ["validate", "--no-sources"])
    assert r.exit_code == 2 and "opsledger[validate]" in r.stderr


# --------------------------------------------------------------------------- the command wraps the API


class Called(Exception):
    """Raised by a recorder: the command reached the library function."""


#: command line -> (module, function the public name resolves to, arguments given on the line)
COMMANDS = [
    (["validate"], "opsledger.validation.run", "validate", {}),
    (["reconcile"], "opsledger.derive.reconcile", "rederive", {}),
    (["release", "1.2.3"], "opsledger.publishing.publish", "release", {"version": "1.2.3"}),
    (["versions"], "opsledger.publishing.store", "versions", {"unlisted": True}),
    (["diff", "0.1.0", "latest"], "opsledger.publishing.publish", "diff", {"old": "0.1.0", "new": "latest"}),
    (["correction", "check", "x.yaml"], "opsledger.corrections.changeset", "check", {"path": Path("x.yaml")}),
    (["correction", "apply", "x.yaml"], "opsledger.corrections.apply", "apply", {"path": Path("x.yaml")}),
    (["correction", "revert", "0001-x"], "opsledger.corrections.apply", "revert", {"correction_id": "0001-x"}),
    (["correction", "new", "fix-it"], "opsledger.corrections.apply", "new_changeset", {"slug": "fix-it"}),
]


def test_every_public_function_with_a_command_is_in_the_sweep():
    """Reading functions (load, read_tables, derive_all) have no command; every other one has one."""
    swept = {(m, f) for _line, m, f, _given in COMMANDS}
    no_command = {"load", "read_tables", "derive_all", "DEFAULT_ARCHIVE"}
    assert {v for k, v in opsledger.API.items() if k not in no_command} == swept


def _record(monkeypatch, module: str, name: str) -> list[inspect.BoundArguments]:
    import importlib

    mod = importlib.import_module(module)
    real = getattr(mod, name)
    calls: list[inspect.BoundArguments] = []

    def recorder(*args, **kwargs):
        bound = inspect.signature(real).bind(*args, **kwargs)
        bound.apply_defaults()
        calls.append(bound)
        raise Called(name)

    monkeypatch.setattr(mod, name, recorder)
    return calls


@pytest.mark.parametrize("line, module, name, given", COMMANDS, ids=[" ".join(c[0][:2]) for c in COMMANDS])
def test_each_command_calls_its_library_function_with_the_library_defaults(monkeypatch, line, module, name, given):
    calls = _record(monkeypatch, module, name)
    runner.invoke(app, line)
    assert len(calls) == 1, f"`opsledger {' '.join(line)}` did not call {module}.{name}"
    bound = calls[0].arguments
    params = calls[0].signature.parameters
    for p, value in bound.items():
        if p in given:
            assert value == given[p], (p, value)
        elif p == "schema_only":
            continue
        else:
            want = params[p].default
            assert value is want or value == want, f"{name}: {p} is {value!r} from the command, {want!r} in the library"


def test_the_command_passes_its_options_through(monkeypatch, tmp_path):
    calls = _record(monkeypatch, "opsledger.validation.run", "validate")
    runner.invoke(app, ["validate", str(tmp_path), "--sources", str(tmp_path), "--schema-only"])
    assert calls[0].arguments["sources"] == tmp_path and calls[0].arguments["cross"] is False
    calls = _record(monkeypatch, "opsledger.corrections.changeset", "check")
    runner.invoke(app, ["correction", "check", "x.yaml", "--no-sources", "--data-dir", str(tmp_path)])
    assert calls[0].arguments["archive"] is None and calls[0].arguments["data_dir"] == tmp_path
    r = runner.invoke(app, ["reconcile", "--no-sources", "--sources", str(tmp_path)])
    assert r.exit_code == 2 and "exclude each other" in r.stderr


def test_every_command_with_a_sources_option_also_has_no_sources():
    from typer.main import get_command

    root = get_command(app)
    commands = {n: c for n, c in root.commands.items() if not hasattr(c, "commands")}
    commands |= {f"correction {n}": c for n, c in root.commands["correction"].commands.items()}
    with_sources = {n for n, c in commands.items() if any(p.name == "sources" for p in c.params)}
    assert with_sources == {"validate", "reconcile", "release", "correction check", "correction apply",
                            "correction revert"}
    for n in with_sources:
        assert any(p.name == "no_sources" for p in commands[n].params), n


# --------------------------------------------------------------------------- one diff


def _frames() -> tuple[dict, dict]:
    from opsledger.declarations import table

    cols = table("agencies").columns
    row = dict.fromkeys(cols)
    a = pl.DataFrame([{**row, "agency_id": "a", "name": "A", "note": "old"},
                      {**row, "agency_id": "gone", "name": "G"}], schema={c: pl.Utf8 for c in cols})
    b = pl.DataFrame([{**row, "agency_id": "a", "name": "A", "note": None},
                      {**row, "agency_id": "new", "name": "N"}], schema={c: pl.Utf8 for c in cols})
    return {"agencies": a}, {"agencies": b}


def test_the_one_diff_reads_added_removed_and_changed_by_key():
    from opsledger.derive.tablediff import diff_tables

    old, new = _frames()
    d = diff_tables(old, new)
    t = d["agencies"]
    assert list(t.added) == ["new"] and list(t.removed) == ["gone"]
    assert [(c.key, c.column, c.old, c.new) for c in t.changed] == [("a", "note", "old", None)]
    assert t.counts() == {"added": 1, "changed": 1, "removed": 1} and len(d) == 3 and d.any_changed()
    text = d.text()
    assert "### agencies: 1 added, 1 changed, 1 removed" in text
    assert '- changed `a`.`note`: "old" -> empty' in text and "- added `new`" in text
    assert "- added `new`: agency_id=\"new\", name=\"N\"" in d.text(rows=True)
    assert not diff_tables(old, old) and diff_tables(old, old).text() == "No row changed.\n"


def test_the_diff_marks_derived_columns_and_reads_the_figures_it_moves():
    from opsledger.derive.tablediff import diff_tables

    shipped = opsledger.read_tables(REPO / "datasets")
    out = shipped["outcomes"]
    key = out.filter(pl.col("status") == "single_source")["outcome_id"][0]
    moved = out.with_columns(pl.when(pl.col("outcome_id") == key).then(pl.lit("corroborated"))
                             .otherwise(pl.col("status")).alias("status"))
    d = diff_tables({"outcomes": out}, {"outcomes": moved})
    (change,) = d["outcomes"].changed
    assert change.derived and d.text().rstrip().endswith("(derived)")
    (fig,) = d.figures()
    assert (fig["key"], fig["old"]["status"], fig["new"]["status"]) == (key, "single_source", "corroborated")
    assert f"outcomes[{key}]:" in d.figures_text() and "-> " in d.figures_text()


def calls_of(tree: ast.AST, module: str, names: set[str]) -> list[tuple[int, str]]:
    """(line, name) of each call in ``tree`` of one of ``names`` defined in ``module`` (a dotted name's
    last part, e.g. ``tablediff``), however it is reached: by its name, through an alias of the name
    (``from ...tablediff import Diff as D``) or as an attribute of the module (``tablediff.Diff``)."""
    alias = {}
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom) and n.module and n.module.split(".")[-1] == module:
            alias |= {a.asname or a.name: a.name for a in n.names if a.name in names}
    found = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Call):
            f = n.func
            if isinstance(f, ast.Name) and (f.id in alias or f.id in names):
                found.append((n.lineno, alias.get(f.id, f.id)))
            elif isinstance(f, ast.Attribute) and f.attr in names:
                found.append((n.lineno, f.attr))
    return found


def test_the_maker_finder_sees_through_aliases():
    tree = ast.parse("from opsledger.derive.tablediff import Diff as D\nimport opsledger.derive.tablediff as td\n"
                     "a = D()\nb = td.TableDiff('x')\nc = Diff()\nd = diffs(D)\n")
    assert calls_of(tree, "tablediff", {"Diff", "TableDiff"}) == [(3, "Diff"), (4, "TableDiff"), (5, "Diff")]


def test_only_the_diff_module_makes_diffs():
    """Every row-level diff (releases, change sets, re-derivation) is made by derive.tablediff: no other
    module builds a Diff or a TableDiff itself, whatever its functions are called or imported as."""
    from opsledger.derive import tablediff

    makers = {n.name for n in ast.parse(Path(tablediff.__file__).read_text(encoding="utf-8")).body
              if isinstance(n, ast.ClassDef)}
    assert {"Diff", "TableDiff"} <= makers
    built = []
    for p in PKG.rglob("*.py"):
        if p.name == "tablediff.py":
            continue
        built += [f"{p.relative_to(PKG)}:{line} {name}"
                  for line, name in calls_of(ast.parse(p.read_text(encoding="utf-8")), "tablediff", makers)]
    assert not built, built


# --------------------------------------------------------------------------- one atomic write


def renames(tree: ast.AST) -> list[int]:
    """Lines of ``tree`` that move a file over another or make a temporary file: ``os``/``shutil``
    renames and moves however imported, fsspec's ``mv``, ``mkstemp``/``NamedTemporaryFile``, and a
    path's ``.rename(p)``/``.replace(p)`` (one argument, not a mapping: ``str.replace`` takes two, a
    frame's ``rename`` a mapping, ``dataclasses.replace`` keywords)."""
    moves = {"replace", "rename", "move", "renames"}
    temps = {"mkstemp", "NamedTemporaryFile"}
    alias: set[str] = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom) and n.module in ("os", "shutil", "tempfile"):
            alias |= {a.asname or a.name for a in n.names if a.name in moves | temps}
    lines = []
    for n in ast.walk(tree):
        if not isinstance(n, ast.Call):
            continue
        f = n.func
        if isinstance(f, ast.Name):
            hit = f.id in alias or f.id in temps
        elif isinstance(f, ast.Attribute):
            on_module = isinstance(f.value, ast.Name) and f.value.id in ("os", "shutil")
            one_path = (len(n.args) == 1 and not n.keywords and not isinstance(n.args[0], ast.Dict)
                        and f.attr in ("rename", "replace"))
            hit = (on_module and f.attr in moves) or f.attr in temps | {"mv"} or one_path
        else:
            hit = False
        if hit:
            lines.append(n.lineno)
    return sorted(lines)


def test_the_rename_finder_finds_every_way_to_rename():
    tree = ast.parse(textwrap.dedent("""\
        os.replace(a, b)
        Path(a).replace(b)
        tmp.rename(target)
        from os import rename as mv_it
        mv_it(a, b)
        shutil.move(a, b)
        fs.mv(a, b)
        tempfile.mkstemp(dir=d)
        s.replace("a", "b")
        df.rename({"a": "b"})
        dataclasses.replace(r, label=x)
        """))
    assert renames(tree) == [1, 2, 3, 5, 6, 7, 8]


def test_one_atomic_write_helper():
    """Files are replaced in one place only (data/txn.py): no other module renames a temporary file
    over one, or makes one, by any of the ways :func:`renames` finds."""
    found = {}
    for p in PKG.rglob("*.py"):
        text = p.read_text(encoding="utf-8")
        if p.stem == "txn":
            assert renames(ast.parse(text)), "txn.py no longer renames: the finder has lost its reference"
            continue
        for line in renames(ast.parse(text)):
            found.setdefault(str(p.relative_to(PKG)), []).append(text.splitlines()[line - 1].strip())
        for needle in ("def write_bytes_atomic", "def _write_atomic"):
            assert needle not in text, f"{p.name}: {needle}"
    # the one other move: a release's staging folder becomes its version folder, which must not exist
    # yet (publish.py checks, and a store's index is written by txn)
    assert found == {"publishing/publish.py": ['fs.mv(tmp, f"{root}/{req.version}", recursive=True)']}, found


def test_atomic_write_leaves_no_temporary_file(tmp_path):
    from opsledger.data.txn import write_bytes_atomic, write_text_atomic

    write_text_atomic(tmp_path / "a" / "x.txt", "one")
    write_bytes_atomic(tmp_path / "a" / "x.txt", b"two")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["x.txt"] and (tmp_path / "a" / "x.txt").read_text() == "two"


def test_atomic_write_through_a_remote_filesystem():
    import fsspec

    from opsledger.data.txn import write_bytes_atomic

    fs = fsspec.filesystem("memory")
    write_bytes_atomic("/h2api-test/index.json", b"{}", fs)
    assert fs.cat("/h2api-test/index.json") == b"{}" and fs.ls("/h2api-test", detail=False) == ["/h2api-test/index.json"]
    fs.rm("/h2api-test", recursive=True)
