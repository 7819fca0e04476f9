"""A reader's first minutes: the light install loads a release without the validation or data stack, a
missing extra is a MissingExtra naming it, the documented install command builds a package that loads,
and the command line says which extra it needs."""

from __future__ import annotations

import hashlib
import re
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import REPO

#: What the package alone must not import to load a table (they belong to extras).
HEAVY = ("polars", "pandas", "typer", "pydantic", "fsspec", "yaml", "pycountry", "great_expectations",
         "pandera", "jinja2", "matplotlib", "scipy")


def tiny_store(root: Path, version: str = "1.0.0") -> Path:
    """A store holding one release of one small table, written by hand in the release format
    (index.json; VERSION/ with tables/*.parquet, datapackage.json, schema.json and SHA256SUMS)."""
    base = root / version
    (base / "tables").mkdir(parents=True)
    table = pa.table({"operation_id": ["op-a", "op-b"], "arrests": pa.array([12, 345], pa.int64())})
    pq.write_table(table, base / "tables" / "headline.parquet")
    (base / "datapackage.json").write_text(json.dumps({"name": "tiny", "version": version}))
    (base / "schema.json").write_text("{}")
    files = ["datapackage.json", "schema.json", "tables/headline.parquet"]
    sums = "".join(f"{hashlib.sha256((base / f).read_bytes()).hexdigest()}  {f}\n" for f in files)
    (base / "SHA256SUMS").write_text(sums)
    entry = {"version": version, "date": "2026-12-01",
             "manifest_sha256": hashlib.sha256((base / "datapackage.json").read_bytes()).hexdigest(),
             "sha256sums_sha256": hashlib.sha256(sums.encode()).hexdigest()}
    (root / "index.json").write_text(json.dumps({"versions": [entry], "latest": version}))
    return root


def _blocked(extra_code: str, path: list[str] | None = None) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter where every module of HEAVY is blocked (``sys.modules[m] = None``
    makes ``import m`` raise ImportError), as if only the package and pyarrow were installed."""
    code = "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in HEAVY) + extra_code
    env = None
    if path:
        import os

        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)


LOAD = """
import opsledger
from opsledger.errors import MissingExtra
t = opsledger.load("headline", store={store!r})
assert t.num_rows == 2 and t.column("arrests").to_pylist() == [12, 345], t
assert [v["version"] for v in opsledger.versions({store!r})] == ["1.0.0"]
for frames in ("pandas", "polars"):
    try:
        opsledger.load("headline", store={store!r}, as_=frames)
    except MissingExtra as exc:
        assert f"opsledger[{{frames}}]" in str(exc) and exc.exit_code == 2, exc
    else:
        raise AssertionError(frames + " was loaded without " + frames)
try:
    opsledger.read_tables()
except MissingExtra as exc:
    assert "opsledger[data]" in str(exc), exc
else:
    raise AssertionError("read_tables ran without polars")
print("ok", opsledger.__file__)
"""


def test_load_needs_only_pyarrow(tmp_path):
    store = tiny_store(tmp_path / "store")
    p = _blocked(LOAD.format(store=str(store)))
    assert p.returncode == 0 and p.stdout.startswith("ok"), p.stderr[-2000:]


def test_load_refuses_a_table_the_release_does_not_hold(tmp_path):
    from opsledger import load
    from opsledger.errors import UsageError

    store = tiny_store(tmp_path / "store")
    with pytest.raises(UsageError, match=r"unknown table 'claims': release 1\.0\.0 holds headline"):
        load("claims", store=store)
    with pytest.raises(UsageError, match="unknown table '../x'"):
        load("../x", store=store)
    assert load("headline", store=f"file://{store}").num_rows == 2


def test_command_without_typer_names_the_extra():
    p = _blocked("sys.argv = ['opsledger', '--help']\nfrom opsledger.__main__ import main\nmain()\n")
    assert p.returncode == 2, p
    assert p.stderr.strip() == "error: typer is not installed: the opsledger command needs pip install 'opsledger[cli]'"


def test_the_package_alone_requires_only_pyarrow():
    """The base dependencies are what loading needs; everything else is in an extra."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert [d.split(">")[0].split("=")[0] for d in project["dependencies"]] == ["pyarrow"]
    assert {"cli", "validate", "publish", "test", "pandas", "polars", "data"} <= set(project["optional-dependencies"])
    assert project["scripts"]["opsledger"] == "opsledger.__main__:main"


def test_the_documented_install_builds_a_package_that_loads(tmp_path):
    """README: `pip wheel . --no-deps` (as the release workflow builds the wheel it attaches), then
    `pip install` of the wheel. Installed here with --no-deps into a folder (offline, fast); the
    installed copy, not this checkout, loads a release with the heavy modules blocked."""
    readme = (REPO / "README.md").read_text()
    assert "pip wheel . --no-deps -w dist" in readme and 'pip install "opsledger-' in readme
    wheels = tmp_path / "dist"
    # the build backend comes from the test extra (--no-build-isolation): no index is asked
    subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "--no-index",
                    "-q", "-w", str(wheels)],
                   cwd=REPO, check=True, capture_output=True, timeout=300)
    wheel = next(wheels.glob("opsledger-*-py3-none-any.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert {"opsledger/schemas/tables.toml", "opsledger/__main__.py", "opsledger/publishing/store.py"} <= names
    base = [ln for ln in meta.splitlines() if ln.startswith("Requires-Dist:") and "extra ==" not in ln]
    assert base == ["Requires-Dist: pyarrow<27,>=26"], base
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target",
                    str(target), str(wheel)], check=True, capture_output=True, timeout=300)
    store = tiny_store(tmp_path / "store")
    p = _blocked(LOAD.format(store=str(store)), path=[str(target)])
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.split()[1].startswith(str(target)), p.stdout  # the installed copy was used



# --------------------------------------------------------------------------- citation

#: Top-level keys of the Citation File Format 1.2.0 (https://github.com/citation-file-format/citation-file-format).
CFF_KEYS = {"abstract", "authors", "cff-version", "commit", "contact", "date-released", "doi", "identifiers",
            "keywords", "license", "license-url", "message", "preferred-citation", "references",
            "repository", "repository-artifact", "repository-code", "title", "type", "url", "version"}


def _schemas_copy(tmp_path, monkeypatch, old: str, new: str):
    """A copy of schemas/ with one edit to dataset.toml, used through $OPSLEDGER_SCHEMAS."""
    import shutil

    from opsledger.declarations import clear_caches

    d = tmp_path / "schemas"
    shutil.copytree(REPO / "schemas", d)
    text = (d / "dataset.toml").read_text()
    assert old in text
    (d / "dataset.toml").write_text(text.replace(old, new))
    monkeypatch.setenv("OPSLEDGER_SCHEMAS", str(d))
    clear_caches()
    return d


@pytest.fixture
def fresh_declarations():
    from opsledger.declarations import clear_caches

    clear_caches()
    yield
    clear_caches()


def test_repository_citation_leads_to_the_data():
    import tomllib

    import yaml

    import opsledger
    from opsledger.declarations import identity

    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert set(cff) <= CFF_KEYS, set(cff) - CFF_KEYS
    ident = identity()
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert cff["version"] == opsledger.__version__ == version
    assert cff["date-released"] == ident.version_date
    assert cff["repository-code"] == ident.repository and cff["title"] == ident.title
    assert cff["repository-artifact"] == f"{ident.repository}/releases" == cff["url"]
    assert "doi" not in cff and "# doi:" in (REPO / "CITATION.cff").read_text()  # a placeholder, no invented DOI


def test_release_citation_names_its_release_and_its_text_matches():
    import yaml

    from opsledger.declarations import identity
    from opsledger.publishing.outputs.citation import citation_cff, citation_text

    cff = yaml.safe_load(citation_cff("2.3.4", "2027-05-06"))
    url = f"{identity().repository}/releases/tag/v2.3.4"
    assert (cff["version"], cff["date-released"], cff["repository-artifact"]) == ("2.3.4", "2027-05-06", url)
    text = citation_text("2.3.4", "2027-05-06")
    assert text == (f"opsledger contributors (2027). {identity().title}. Version 2.3.4 [Data set]. {url}. "
                    "Licence CC-BY-4.0.")


def test_a_declared_doi_is_cited(tmp_path, monkeypatch, fresh_declarations):
    import yaml

    from opsledger.publishing.outputs.citation import citation_cff, citation_text

    _schemas_copy(tmp_path, monkeypatch, '# doi = "10.5281/zenodo.NNNNNNN"', 'doi = "10.5281/zenodo.1234567"')
    assert yaml.safe_load(citation_cff("1.0.0", "2027-01-01"))["doi"] == "10.5281/zenodo.1234567"
    assert "https://doi.org/10.5281/zenodo.1234567." in citation_text("1.0.0", "2027-01-01")


@pytest.mark.parametrize("old, new, message", [
    ('repository = "https://github.com/opsledger/opsledger"', 'repository = "http://example.org/x"',
     "dataset.toml: repository: String should match pattern"),
    ('# doi = "10.5281/zenodo.NNNNNNN"', 'doi = "zenodo 12"', "dataset.toml: doi: String should match pattern"),
    ('version_date = ', 'released = ', "dataset.toml: unknown key 'released'"),
])
def test_a_bad_identity_is_refused_naming_the_file_and_key(tmp_path, monkeypatch, fresh_declarations, old, new, message):
    from opsledger.declarations import identity
    from opsledger.errors import DeclarationError

    _schemas_copy(tmp_path, monkeypatch, old, new)
    with pytest.raises(DeclarationError, match=re.escape(message)):
        identity()


def test_datasheet_and_csv_readme_show_the_citation(shipped):
    from opsledger.publishing.outputs.citation import citation_text
    from opsledger.publishing.outputs.notes import datasheet

    text = datasheet(shipped, "0.1.0", "2026-11-30")
    assert f"> {citation_text('0.1.0', '2026-11-30')}" in text
    import io

    from opsledger.publishing.outputs.exports import csv_zip

    with zipfile.ZipFile(io.BytesIO(csv_zip(shipped, "0.1.0", "2026-11-30"))) as z:
        assert f"> {citation_text('0.1.0', '2026-11-30')}" in z.read("opsledger-0.1.0-csv/README.md").decode()


# --------------------------------------------------------------------------- commands read well


def test_help_text_wraps_as_paragraphs():
    from opsledger.cli import paragraphs

    assert paragraphs("One line\n    goes on.\n\n    Second\n    paragraph.\n") == "One line goes on.\n\nSecond paragraph."
    assert paragraphs(None) is None


@pytest.mark.parametrize("line", [["sources", "fetch", "--help"], ["correction", "check", "--help"],
                                  ["validate", "--help"]])
def test_command_help_breaks_lines_only_where_the_width_ends(line):
    """At 70 columns, every line of a command's description but the last of its paragraph is filled:
    no sentence is broken where the docstring's line happened to end ("... a robots.txt that" / "cannot")."""
    from typer.testing import CliRunner

    from opsledger.cli import app

    r = CliRunner().invoke(app, line, env={"COLUMNS": "70", "TERM": "dumb"}, terminal_width=70)
    assert r.exit_code == 0, r.output
    text = r.output.split("Usage:", 1)[1].split("╭", 1)[0]
    paras: list[list[str]] = [[]]
    for ln in text.splitlines():
        if ln.strip():
            paras[-1].append(ln.strip())
        elif paras[-1]:
            paras.append([])
    assert len([p for p in paras if p]) >= 2, text
    for para in paras[1:]:
        for ln in para[:-1]:
            assert len(ln) >= 50, (ln, para)


def test_progress_is_drawn_on_a_terminal_and_silent_in_a_pipe():
    import io

    from rich.console import Console

    from opsledger.cli import progress_bar

    with progress_bar("fetching") as cb:  # pytest's captured stderr is not a terminal
        assert cb is None
    out = io.StringIO()
    with progress_bar("fetching", console=Console(file=out, force_terminal=True, width=100)) as cb:
        cb(0, 3, "")
        cb(2, 3, "http://127.0.0.1/[b]page\x1b[31m")
    drawn = out.getvalue()
    assert "fetching" in drawn and "2/3" in drawn and "[b]page" in drawn and "\x1b[31m" not in drawn


def test_an_error_inside_the_progress_bar_passes_through():
    import io

    from rich.console import Console

    from opsledger.cli import progress_bar
    from opsledger.errors import UsageError

    for console in (None, Console(file=io.StringIO(), force_terminal=True)):
        with pytest.raises(UsageError, match="bad"):
            with progress_bar("x", console=console):
                raise UsageError("bad")


# --------------------------------------------------------------------------- the release workflow


def _workflow_steps() -> dict[str, str]:
    import yaml

    wf = yaml.safe_load((REPO / ".github" / "workflows" / "release.yml").read_text())
    return {s.get("name", s.get("uses", "")): s.get("run", "") for s in wf["jobs"]["release"]["steps"]}


def test_release_workflow_releases_ungrounded_on_purpose_and_says_so():
    """The runner has no source archive: the workflow must pass --allow-ungrounded (a release without it
    is refused) and say so in the notes of the GitHub Release."""
    steps = _workflow_steps()
    build = steps["Build the release"]
    line = next(ln for ln in build.splitlines() if "opsledger release" in ln)
    assert "--no-sources" in line and "--allow-ungrounded" in line, line
    assert "pip wheel . --no-deps" in steps["Build the wheel"]
    assert "Released without the source archive" in steps["Attach the files to the GitHub Release"]


def test_release_workflow_attaches_files_a_release_has(shipped_release):
    """Every file `gh release create` attaches exists in a release built as the workflow builds it
    (a missing one would fail the workflow), and the wheel is the one `pip wheel` names."""
    import glob
    import shlex

    import opsledger

    run = _workflow_steps()["Attach the files to the GitHub Release"]
    cmd = run[run.index("gh release create"):].replace("\\\n", " ")
    args = shlex.split(cmd.replace('"$GITHUB_REF_NAME"', "TAG").replace("$VERSION", opsledger.__version__))
    files = args[args.index("release-notes.md") + 1:]
    assert files
    base = shipped_release / "0.1.0"
    for f in files:
        if f.startswith("../wheel/"):
            assert f == f"../wheel/opsledger-{opsledger.__version__}-py3-none-any.whl"
            continue
        assert glob.glob(str(base / f)), f"{f} is not in a release"


# --------------------------------------------------------------------------- the README, in the reader's order


def _readme_block(marker: str, lang: str) -> str:
    readme = (REPO / "README.md").read_text()
    return readme.split(f"<!-- example: {marker} -->")[1].split(f"```{lang}")[1].split("```")[0]


def test_readme_starts_with_the_two_commands_then_the_reader():
    readme = (REPO / "README.md").read_text()
    first = readme.split("```sh", 1)[1].split("```", 1)[0]
    assert [ln.split()[:2] for ln in first.strip().splitlines()] == [["make", "validate"], ["make", "test"]]
    order = [readme.index(h) for h in ("## Read the data", "### How many arrests in operation X",
                                       "### Load a table", "### Cite", "## Contribute a correction",
                                       "## Develop", "### Validation", "### Speed")]
    assert order == sorted(order)


def test_readme_cites_as_the_declaration_renders_it():
    from opsledger.publishing.outputs.citation import citation_text

    assert f"> {citation_text()}\n" in (REPO / "README.md").read_text()


def test_readme_three_steps_answer_arrests_and_as_of_from_the_csv(shipped_release):
    """Step 1: the release's CSV zip; step 2: headline.csv, the operation by name; step 3: the columns the
    README names give the figure and its date. The earlier figures are where the README says."""
    import csv
    import io

    readme = (REPO / "README.md").read_text()
    steps = readme.split("### How many arrests in operation X", 1)[1].split("###", 1)[0]
    with zipfile.ZipFile(shipped_release / "0.1.0" / "opsledger-0.1.0-csv.zip") as z:
        headline = list(csv.DictReader(io.StringIO(z.read("opsledger-0.1.0-csv/headline.csv").decode())))
        claims = list(csv.DictReader(io.StringIO(z.read("opsledger-0.1.0-csv/claims.csv").decode())))
    named = re.findall(r"`(arrests\w*)`", steps)
    assert {"arrests", "arrests_as_of", "arrests_low", "arrests_high", "arrests_status"} <= set(named)
    example = re.search(r'e\.g\. "([^"]+)"', steps.replace("\n   ", " "))[1]
    row = next(r for r in headline if r["name"] == example)
    assert row["arrests"] and re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["arrests_as_of"]), row
    assert row["arrests_status"] in {"corroborated", "single_source", "disputed"}
    assert any(c["target_id"] == f"{row['operation_id']}.arrests" for c in claims)


def test_readme_reader_examples_run_beside_the_downloaded_files(shipped_release, monkeypatch):
    import duckdb

    monkeypatch.chdir(shipped_release / "0.1.0" / "tables")
    ns: dict = {}
    exec(compile(_readme_block("reader", "python"), "README.md", "exec"), ns)
    assert ns["headline"].num_rows == len(ns["df"]) > 0
    assert ns["arrests"].height == 1 and ns["arrests"]["arrests"][0] > 0
    rows = duckdb.sql(_readme_block("reader-sql", "sql")).fetchall()
    assert len(rows) == 1 and rows[0][1] == ns["arrests"]["arrests"][0]
