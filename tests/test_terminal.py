"""Terminal output: values from the data reach the terminal escaped, with no control or bidi
character (issue 11)."""

from __future__ import annotations

import json

import polars as pl
from hypothesis import given, settings, strategies as st

from opsledger.data import io as oio
from opsledger.terminal import safe

from conftest import PHRASE_FIX, read, write_cs

#: the tests' ``data`` is the small dataset: they edit rows of its operations only (conftest)
SMALL_DATA = True


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
