"""Property-based tests (hypothesis) of the change-set parser and of apply/revert."""

from __future__ import annotations

import hashlib
import shutil
import string

import polars as pl
import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from opsledger.data import io as oio
from opsledger.corrections.changeset import CorrectionError, read_changeset as load
from opsledger.corrections.apply import apply, revert
from opsledger.declarations import TABLES

from conftest import DATASETS, SMALL_OPERATIONS, small_tables

SAFE_TEXT = st.text(alphabet=string.ascii_letters + string.digits + " .,;()'-", min_size=1, max_size=40).map(str.strip).filter(bool)
SHIPPED = oio.read_tables(DATASETS)
#: the round trip runs on the small dataset (conftest): each apply and revert re-derives every claim
SMALL = small_tables(SHIPPED, SMALL_OPERATIONS)
NOTE_ROWS = [(name, key) for name in ("agencies", "operations", "participations", "outcomes", "sources")
             for key in SMALL[name].get_column(SMALL[name].columns[0]).to_list()]


def scalar():
    return st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), SAFE_TEXT,
                     st.lists(st.integers(), max_size=3))


malformed = st.one_of(
    st.text(max_size=200),
    st.recursive(scalar(), lambda c: st.one_of(st.lists(c, max_size=4),
                                                st.dictionaries(st.sampled_from(
                                                    ["title", "reason", "changes", "op", "table", "key", "row",
                                                     "set", "expect", "source", "x"]), c, max_size=5)),
                 max_leaves=15).map(lambda d: yaml.safe_dump(d)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=malformed)
def test_malformed_files_never_crash(tmp_path_factory, text):
    p = tmp_path_factory.mktemp("cs") / "0700-random.yaml"
    p.write_text(text)
    try:
        load(p)
    except CorrectionError as exc:
        assert "0700-random.yaml" in str(exc)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=malformed)
def test_malformed_files_never_write(tmp_path_factory, text):
    d = tmp_path_factory.mktemp("data")
    for name in TABLES:
        shutil.copy(DATASETS / f"{name}.parquet", d / f"{name}.parquet")
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in d.glob("*.parquet")}
    p = tmp_path_factory.mktemp("cs") / "0701-random.yaml"
    p.write_text(text)
    try:
        apply(p, d, None)
    except CorrectionError:
        pass
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in d.glob("*.parquet")} == before


@st.composite
def valid_changesets(draw):
    picks = draw(st.lists(st.sampled_from(NOTE_ROWS), min_size=1, max_size=4, unique=True))
    changes = []
    for name, key in picks:
        df = SMALL[name]
        old = df.filter(pl.col(df.columns[0]) == key)["note"].item()
        changes.append({"op": "update", "table": name, "key": key, "expect": {"note": old},
                        "set": {"note": draw(SAFE_TEXT)}, "source": "interpol-operation-h-release"})
    for i in range(draw(st.integers(0, 2))):
        changes.append({"op": "add", "table": "agencies", "source": "interpol-operation-h-release",
                        "row": {"agency_id": f"zz-test-{i}", "name": draw(SAFE_TEXT), "kind": "ngo",
                                "country": draw(st.sampled_from(["DE", "FR", None]))}})
    return {"title": "random", "reason": "property test", "changes": changes}


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cs=valid_changesets())
def test_apply_then_revert_restores_the_tables(tmp_path_factory, cs):
    d = tmp_path_factory.mktemp("data")
    oio.write_tables(SMALL, d, keep_backup=False)
    original = {n: df.rows() for n, df in oio.read_tables(d).items() if n != "corrections"}
    root = tmp_path_factory.mktemp("repo")
    p = root / "corrections" / "0702-random.yaml"
    p.parent.mkdir()
    p.write_text(yaml.safe_dump(cs, allow_unicode=True))
    # what is tested is the round trip, not the rules: the result is checked by the schema stage only
    # (a full validation of a change set is covered in test_corrections.py)
    from opsledger.validation import run as vmod

    with pytest.MonkeyPatch.context() as mp:
        schema_only = vmod.validate_tables
        mp.setattr(vmod, "validate_tables", lambda tables, **kw: schema_only(tables, **{**kw, "cross": False}))
        apply(p, d, None)
        revert("0702-random", d, None, corrections_dir=root / "corrections")
    after = {n: df.rows() for n, df in oio.read_tables(d).items() if n != "corrections"}
    assert after == original
