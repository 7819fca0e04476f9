"""Shared fixtures: a private copy of the shipped tables, helpers to break it in one way, and the
validation of the unchanged shipped data, run once per session and shared by every test."""

from __future__ import annotations

import atexit
import copy
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

# With pytest-xdist one worker runs per core: each worker's polars then takes one thread, instead of
# every worker's thread pool competing for every core (set before polars is first imported)
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("POLARS_MAX_THREADS", "1")

import polars as pl
import pyarrow.parquet as pq
import pytest
import yaml

from opsledger.data import io as oio
from opsledger.declarations import TABLES, repo_root

#: Journals are signed with a per-user key (opsledger.data.txn); tests keep theirs in a private folder
#: (inherited by the commands they start), never in the user's own state folder.
os.environ["OPSLEDGER_STATE_DIR"] = tempfile.mkdtemp(prefix="opsledger-test-state-")
atexit.register(shutil.rmtree, os.environ["OPSLEDGER_STATE_DIR"], True)

REPO = repo_root()
DATASETS = REPO / "datasets"
ARCHIVE = REPO.parent / "shared" / "sources"
needs_archive = pytest.mark.skipif(not ARCHIVE.is_dir(), reason="source archive ../shared/sources not present")
#: How the tests release: with the archive when it is beside the repository, else (a fresh clone with
#: nothing beside it) with ``allow_ungrounded``, which the release records. Tests of the release's files,
#: site and loading are not about grounding; the grounding of a release is tested where the archive is.
RELEASE_ARCHIVE: dict = {"sources": ARCHIVE} if ARCHIVE.is_dir() else {"sources": None, "allow_ungrounded": True}
#: The same for the command line.
#: The date of the session's release of the shipped data (:func:`shipped_release`).
SHIPPED_RELEASE_DATE = "2026-11-30"
RELEASE_ARCHIVE_ARGS: list[str] = ["--sources", str(ARCHIVE)] if ARCHIVE.is_dir() else ["--no-sources", "--allow-ungrounded"]


#: A small, valid change set on the shipped data (one phrase rounded), shared by the correction tests.
PHRASE_FIX = {
    "title": "Round the Australian report's phrase",
    "contributor": "tester",
    "reason": "test",
    "changes": [{
        "op": "update", "table": "claims", "key": "blackwrist.sentence.second-site-administrator.s000",
        "expect": {"stated": "40 years and three months"}, "set": {"stated": "40 years"},
        "source": "interpol-blackwrist-release",
    }],
}


#: a source's publication interval for a row a test adds (every source has one, at worst bounded)
DATED = {"published": "2020-01-01", "published_latest": "2020-01-01", "published_precision": "day",
         "published_evidence": "page"}


def write_cs(root: Path, name: str, doc) -> Path:
    """A change set ``<root>/corrections/<name>.yaml`` from a document (or YAML text, kept as given)."""
    p = root / "corrections" / f"{name}.yaml"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    return p

@pytest.fixture
def data(request, tmp_path) -> Path:
    """A writable copy of the shipped tables; in a module that sets ``SMALL_DATA = True`` (its tests
    edit rows of :data:`SMALL_OPERATIONS` only), a copy of the small dataset (:func:`small_data`),
    which validates at a fraction of the shipped data's cost with the same findings for those rows."""
    if getattr(request.module, "SMALL_DATA", False):
        return request.getfixturevalue("small_data")
    d = tmp_path / "data"
    d.mkdir()
    for name in TABLES:
        shutil.copy(DATASETS / f"{name}.parquet", d / f"{name}.parquet")
    return d


#: The operations of the small dataset (:func:`small_dataset`): the ones the change-set tests edit.
SMALL_OPERATIONS = ("h", "blackwrist")


def small_tables(tables: dict[str, pl.DataFrame], operations) -> dict[str, pl.DataFrame]:
    """The rows of ``operations`` in every table, and every row they need: their claims and the
    statistics those claims target (with the statistics' own claims), the sources the claims cite, the
    agencies the operations and participations name (with their parent agencies). The log of applied
    change sets is left empty."""
    ops = list(operations)
    out = {n: tables[n].filter(pl.col("operation_id").is_in(ops))
           for n in ("operations", "aliases", "participations", "events", "outcomes", "headline", "claims")}
    stats = out["claims"].filter(pl.col("target_table") == "statistics").get_column("target_id").unique()
    out["statistics"] = tables["statistics"].filter(pl.col("statistic_id").is_in(stats.implode()))
    out["claims"] = pl.concat([out["claims"], tables["claims"].filter(
        pl.col("target_id").is_in(stats.implode()) & pl.col("operation_id").is_null())])
    out["sources"] = tables["sources"].filter(pl.col("source_id").is_in(out["claims"].get_column("source_id").implode()))
    agencies = {a for n, c in (("operations", "lead_agency_id"), ("participations", "agency_id"), ("aliases", "agency_id"))
                for a in out[n].get_column(c).drop_nulls().to_list()}
    while parents := set(tables["agencies"].filter(pl.col("agency_id").is_in(list(agencies)))
                         .get_column("parent_agency_id").drop_nulls().to_list()) - agencies:
        agencies |= parents
    out["agencies"] = tables["agencies"].filter(pl.col("agency_id").is_in(list(agencies)))
    out["corrections"] = tables["corrections"].clear()
    return {n: out[n] for n in TABLES}


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory) -> Path:
    """A folder with ``datasets/``, the shipped data cut to :data:`SMALL_OPERATIONS`
    (:func:`small_tables`), and ``checks/``, a copy of the repository's with only the acknowledgements
    of rows the cut keeps (the others would be stale). Built once per worker, for the tests of what a
    change set does to the data, which validate it whole several times (a fifth of the shipped data's
    cost). It validates clean (test_corrections)."""
    import tomllib

    from opsledger.declarations import table as decl

    home = tmp_path_factory.mktemp("small")
    d = home / "datasets"
    d.mkdir()
    tables = small_tables(oio.read_tables(DATASETS), SMALL_OPERATIONS)
    oio.write_tables(tables, d, keep_backup=False)
    shutil.copytree(REPO / "checks", home / "checks")
    acks = home / "checks" / "acknowledgements.toml"
    head, *blocks = acks.read_text(encoding="utf-8").split("\n[[ack]]\n")

    def kept(block: str) -> bool:
        a = tomllib.loads(block)
        t = tables.get(a.get("table", ""))
        return t is not None and a["key"] in set(t.get_column(decl(a["table"]).key).to_list())

    acks.write_text("\n[[ack]]\n".join([head, *(b for b in blocks if kept(b))]), encoding="utf-8")
    return home


@pytest.fixture
def small_data(small_dataset, tmp_path, monkeypatch) -> Path:
    """A writable copy of the small dataset's tables (:func:`small_dataset`), validated against its
    ``checks/`` (``OPSLEDGER_CHECKS``) for the test's duration."""
    d = tmp_path / "data"
    shutil.copytree(small_dataset / "datasets", d)
    monkeypatch.setenv("OPSLEDGER_CHECKS", str(small_dataset / "checks"))
    return d


@pytest.fixture(scope="session")
def shipped() -> dict[str, pl.DataFrame]:
    return oio.read_tables(DATASETS)


@pytest.fixture(scope="session")
def shipped_derived(shipped) -> dict[str, pl.DataFrame]:
    """``derive_all`` of the shipped tables, once per session (read-only: tests that change a table
    derive their own copy)."""
    from opsledger.derive.reconcile import derive_all

    return derive_all(shipped)


def derived_outcome(tables: dict[str, pl.DataFrame], outcome_id: str) -> dict:
    """One outcome row as ``derive_all`` gives it, derived from its operation's rows (and what they
    need, :func:`small_tables`) alone."""
    from opsledger.derive.reconcile import derive_all

    cut = small_tables(tables, [outcome_id.split(".")[0]])
    return derive_all(cut)["outcomes"].filter(pl.col("outcome_id") == outcome_id).row(0, named=True)


def fingerprint(tables: dict[str, pl.DataFrame]) -> tuple:
    """Equal for equal tables (names, columns, types and every row)."""
    return tuple((name, oio.frame_key(df)) for name, df in sorted(tables.items()))


@pytest.fixture(scope="session", autouse=True)
def shipped_validated_once():
    """The unchanged shipped data is validated once per session, whichever way a test gets there
    (``validate``, ``release``, a change-set check): ``opsledger.validation.run.validate_tables`` answers
    a repeated validation of the same shipped tables with arguments that cannot change the result
    (default acknowledgements, no extra names, no overrides of schemas/ or checks/) from the first
    run's report. Any other validation (a broken copy) runs in full."""
    from opsledger.validation import run as vmod
    from opsledger.validation.gxworker import gx_context

    # great-expectations imported here once: every validation in this process then runs it here
    # (opsledger.validation.gxworker), instead of starting a worker that imports it again; test_gxengine runs workers
    gx_context()
    real = vmod.validate_tables
    shipped_fp = fingerprint(oio.read_tables(DATASETS))
    memo: dict[tuple, object] = {}

    def shared(tables, sources=None, names=None, acknowledgements=None, cross=True, data_dir="<memory>",
               rules=None):
        overridden = any(os.environ.get(v) for v in ("OPSLEDGER_SCHEMAS", "OPSLEDGER_CHECKS"))
        if names or acknowledgements or overridden or rules or fingerprint(tables) != shipped_fp:
            return real(tables, sources=sources, names=names, acknowledgements=acknowledgements,
                        cross=cross, data_dir=data_dir, rules=rules)
        key = (str(Path(sources).resolve()) if sources else None, cross)
        if key not in memo:
            memo[key] = real(tables, sources=sources, cross=cross, data_dir=data_dir)
        report = copy.deepcopy(memo[key])
        report.data_dir = data_dir
        return report

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(vmod, "validate_tables", shared)
        yield


def read(d: Path, table: str) -> pl.DataFrame:
    return pl.from_arrow(pq.read_table(d / f"{table}.parquet"))


def write(d: Path, table: str, df: pl.DataFrame, cast: bool = True) -> None:
    """Write one table back; ``cast=False`` keeps wrong types so type rules can be tested."""
    if cast:
        oio.write_parquet_atomic(oio.to_arrow(table, df), d / f"{table}.parquet")
    else:
        pq.write_table(df.to_arrow(), d / f"{table}.parquet")


def write_empty_tables(d: Path) -> None:
    """Write every declared table with no rows into ``d`` (for tests whose logic does not need rows)."""
    from opsledger.declarations import table as decl

    empty = {n: pl.DataFrame(schema=pl.from_arrow(decl(n).arrow_schema().empty_table()).schema) for n in TABLES}
    oio.write_tables(empty, d, keep_backup=False)


def set_cell(d: Path, table: str, key: str, column: str, value) -> None:
    """Set one cell of the row with primary key ``key``."""
    from opsledger.declarations import table as decl

    df = read(d, table)
    k = decl(table).key
    assert key in df[k].to_list(), f"{table} has no row {key}"
    dtype = df.schema[column]
    df = df.with_columns(
        pl.when(pl.col(k) == key).then(pl.lit(value, dtype=dtype)).otherwise(pl.col(column)).alias(column)
    )
    write(d, table, df, cast=False)  # raw: a planted null in a required column must reach the file


def findings_for(report, rule: str) -> list:
    return [f for f in report.findings if f.rule == rule]


@pytest.fixture(scope="session")
def shipped_report():
    """One full validation of the shipped data, shared by every test that needs it."""
    from opsledger.validation.run import validate

    return validate(DATASETS, sources=ARCHIVE if ARCHIVE.is_dir() else None)


@dataclass(frozen=True)
class ShippedRelease:
    """The session's release of the shipped data: its store, the ``progress`` calls it made and what
    ``release`` returned."""

    store: Path
    stages: list
    result: object


@pytest.fixture(scope="session")
def shipped_release_run(tmp_path_factory) -> ShippedRelease:
    """One release (0.1.0, dated 2026-11-30) of the shipped data in a private store, built once per
    test run and shared by the tests of the release's files, its site and loading. Read-only: a test
    that writes to a store uses :func:`release_copy`.

    With pytest-xdist the workers share it: the first to need it builds it into the run's temporary
    folder under a file lock and records what ``release`` reported beside it; a worker that needs it
    later reads that record. One that needs it while another builds it builds its own rather than wait
    (a waiting worker would leave its core idle)."""
    import fcntl
    import json

    from opsledger.publishing.publish import release
    from opsledger.publishing.store import ReleaseResult

    def build(home: Path) -> dict:
        store, record = home / "store", home / "release.json"
        if not record.exists():
            if store.exists():  # a worker that failed midway
                shutil.rmtree(store)
            stages: list[tuple] = []
            res = release("0.1.0", store, date=SHIPPED_RELEASE_DATE, progress=lambda *a: stages.append(a),
                          **RELEASE_ARCHIVE)
            record.write_text(json.dumps({"stages": stages, "result": res.__dict__}))
        return json.loads(record.read_text())

    own = tmp_path_factory.getbasetemp()
    home = (own.parent if os.environ.get("PYTEST_XDIST_WORKER") else own) / "shipped-release"
    home.mkdir(exist_ok=True)
    with open(home / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another worker is building it
            home = own / "shipped-release"
            home.mkdir(exist_ok=True)
        done = build(home)
    store = home / "store"
    return ShippedRelease(store, [tuple(s) for s in done["stages"]], ReleaseResult(**done["result"]))


#: The fixtures that hand out the session's release of the shipped data.
RELEASE_FIXTURES = ("shipped_release", "shipped_release_run", "release_copy")


def pytest_xdist_make_scheduler(config, log):
    """With pytest-xdist, the test files that use the session's release run on one worker, one after
    the other, while the other worker runs the rest test by test: the release is built once per run
    (two workers that both need it at the start would each build it, or one would wait). The
    largest unit is handed out first. (``--dist loadgroup`` would do this with marks, but does not
    group with pytest 9.2: pytest-xdist issue 1386.) Only for the default distribution."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    tests = Path(__file__).parent
    together = {p.relative_to(config.rootpath).as_posix() for p in tests.rglob("test_*.py")
                if any(name in p.read_text(encoding="utf-8") for name in RELEASE_FIXTURES)}

    class ReleaseTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "shipped-release" if path in together else nodeid

    return ReleaseTogether(config, log)


@pytest.fixture(scope="session")
def shipped_release(shipped_release_run) -> Path:
    """The store of the session's release of the shipped data (read-only; see :func:`release_copy`)."""
    return shipped_release_run.store


@pytest.fixture
def plain_charts(monkeypatch):
    """Releases whose site carries a placeholder for each chart (an SVG holding the chart's title)
    instead of drawing it, for the tests of what a release does besides its site: drawing every chart
    of the shipped data costs seconds in each process. The charts are drawn and checked in the
    session's release (the site, browser and output tests), in test_charts and in
    test_release.test_deterministic_bytes."""
    from html import escape

    from opsledger.publishing.outputs import charts

    def placeholder(rows, title, *args, **kwargs) -> str:
        return f'<svg xmlns="http://www.w3.org/2000/svg" role="img"><title>{escape(str(title))}</title></svg>'

    monkeypatch.setattr(charts, "ranges", placeholder)
    monkeypatch.setattr(charts, "timeline", placeholder)


@pytest.fixture
def release_copy(shipped_release, tmp_path) -> Path:
    """A writable copy of the store of the session's release (0.1.0 of the shipped data), for a test
    that damages a release or releases on top of it."""
    store = tmp_path / "store"
    shutil.copytree(shipped_release, store)
    return store


def set_cells(t: dict, name: str, key: str, **values) -> dict:
    """A copy of the tables with the row ``key`` of table ``name`` given these values (a test's one
    deliberate change to the shipped data)."""
    from opsledger.declarations import table

    t = dict(t)
    k = table(name).key
    df = t[name]
    assert key in df[k].to_list(), f"{name} has no row {key}"
    t[name] = df.with_columns([
        pl.when(pl.col(k) == key).then(pl.lit(v, dtype=df.schema[c])).otherwise(pl.col(c)).alias(c)
        for c, v in values.items()])
    return t


class Crash(BaseException):
    """A simulated crash (BaseException: nothing catches it as an ordinary error)."""


@pytest.fixture
def empty(tmp_path) -> Path:
    """Empty tables: the store logic does not depend on the rows, and releases of them are fast."""
    d = tmp_path / "empty"
    write_empty_tables(d)
    return d
