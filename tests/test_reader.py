"""A reader's first minutes: the light install loads a release without the validation or data stack, a
missing extra is a MissingExtra naming it, the documented install command builds a package that loads,
and the command line says which extra it needs."""

from __future__ import annotations

import hashlib
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

