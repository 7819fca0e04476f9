"""Privacy rule: no string cell of any table holds a blocklisted person name.

The blocklist (``checks/privacy_blocklist.txt``) holds SHA-256 hashes of normalised names, never the
names. Every distinct word, word pair and word triple of every string cell is hashed once (words as
names are written, and split at hyphens as in addresses); great-expectations checks that no hash is
in the blocklist, and the cells that hold a flagged n-gram are named afterwards (the name is not)."""

from __future__ import annotations

import hashlib
import re
import unicodedata

import polars as pl

from opsledger.metadata import tables as declarations
from opsledger.rules.base import Inputs, checks_dir, frame

WORD = r"[^\W\d_]+(?:['’-][^\W\d_]+)*"
WORD_PART = r"[^\W\d_]+(?:['’][^\W\d_]+)*"

#: String cells are scanned in batches of about this many cells (bounds memory on large tables).
PRIVACY_BATCH_CELLS = 300_000


def normalise_name(text: str) -> str:
    return " ".join(re.findall(WORD, unicodedata.normalize("NFKC", text).lower()))


def name_hash(name: str) -> str:
    return hashlib.sha256(normalise_name(name).encode("utf-8")).hexdigest()


def load_blocklist(extra_names: list[str] | None = None) -> set[str]:
    """SHA-256 hashes of normalised names: the committed blocklist plus any names given in clear."""
    hashes = set()
    path = checks_dir() / "privacy_blocklist.txt"
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                hashes.add(line)
    for n in extra_names or []:
        if normalise_name(n):
            hashes.add(name_hash(n))
    return hashes


def _key(hexdigest: str) -> int:
    """The first 52 bits of a SHA-256 hex digest: what GX compares (an integer is exact in pandas'
    float64 and far cheaper than a 64-character string; a false match has odds of 1 in 4.5e15)."""
    return int(hexdigest[:13], 16)


def parameters(x: Inputs) -> dict:
    return {"blocklist": sorted(_key(h) for h in load_blocklist(x.names) if re.fullmatch(r"[0-9a-f]{64}", h))}


def _cells(t: dict[str, pl.DataFrame]):
    """Batches of string cells (tbl, k, col, v) of every table."""
    columns = [(name, col) for name, df in t.items() for col, dtype in df.schema.items()
               if dtype == pl.Utf8 and df.height]
    batch, size = [], 0
    for i, (name, col) in enumerate(columns):
        df = t[name]
        batch.append(df.select(pl.lit(name).alias("tbl"), pl.col(declarations()[name].key).alias("k"),
                               pl.lit(col).alias("col"), pl.col(col).alias("v")).drop_nulls("v"))
        size += df.height
        if size >= PRIVACY_BATCH_CELLS or i == len(columns) - 1:
            yield pl.concat(batch)
            batch, size = [], 0


def _grams(cells: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(distinct values with an index ``i``, n-grams ``g`` of each value index)."""
    vals = cells.select("v").unique().with_row_index("i")
    low = pl.col("v").str.to_lowercase()
    words = pl.concat([
        vals.select("i", low.str.extract_all(WORD).alias("w")),
        vals.select(pl.col("i") + vals.height, low.str.extract_all(WORD_PART).alias("w")),
    ]).explode("w").drop_nulls("w")
    nxt = pl.when(pl.col("i").shift(-1) == pl.col("i")).then(pl.col("w").shift(-1))
    nxt2 = pl.when(pl.col("i").shift(-2) == pl.col("i")).then(pl.col("w").shift(-2))
    grams = words.select(
        (pl.col("i") % vals.height).alias("i"),
        pl.concat_list("w", pl.concat_str(["w", nxt], separator=" "),
                       pl.concat_str(["w", nxt, nxt2], separator=" ")).alias("g"),
    ).explode("g").drop_nulls("g")
    return vals, grams


def _sha(s: pl.Series) -> pl.Series:
    return pl.Series([_key(hashlib.sha256(g.encode("utf-8")).hexdigest()) for g in s.to_list()], dtype=pl.Int64)


def _explain(x: Inputs, failing: pl.DataFrame) -> pl.DataFrame:
    """The cells holding a flagged n-gram (named by table, row key and column, never by the name)."""
    flagged = failing.get_column("g").implode()
    rows = []
    for cells in _cells(x.t):
        vals, grams = _grams(cells)
        bad = vals.join(grams.filter(pl.col("g").is_in(flagged)).select("i").unique(), on="i").get_column("v")
        rows.append(cells.filter(pl.col("v").is_in(bad.implode())).select(
            pl.col("k").alias("row_key"), pl.col("tbl").alias("table"), pl.lit("").alias("sources"),
            pl.format("column {} contains a blocklisted person name", pl.col("col")).alias("detail")))
    return pl.concat(rows) if rows else failing.clear().select(pl.lit("").alias("row_key"))


@frame("name_grams", explain=_explain)
def name_grams(x: Inputs) -> pl.DataFrame:
    """One row per distinct word, word pair and word triple of the string cells, with its hash (the
    first 52 bits of its SHA-256)."""
    grams = pl.concat([_grams(cells)[1].select("g") for cells in _cells(x.t)] or
                      [pl.DataFrame(schema={"g": pl.Utf8})]).unique()
    return grams.with_columns(_sha(grams.get_column("g")).alias("name_hash"),
                              pl.lit("(cells)").alias("row_key"), pl.lit("").alias("table"))
