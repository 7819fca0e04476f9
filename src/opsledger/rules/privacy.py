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
    """(each distinct value ``v`` with the word sequences it holds ``k``, the n-grams ``g`` of each
    distinct word sequence ``k``). Values are first reduced to their word sequences (words as names are
    written, and split at hyphens as in addresses and slugs): a million identifiers share a few
    thousand sequences, and only those are cut into n-grams."""
    low = pl.col("v").str.to_lowercase()
    sep = "\x1f"
    vals = cells.select("v").unique()
    hyphenated = vals.filter(pl.col("v").str.contains(r"[^\W\d_]['’]?-[^\W\d_]"))  # only these split further
    seqs = pl.concat([
        vals.select("v", low.str.extract_all(WORD).list.join(sep).alias("k")),
        hyphenated.select("v", low.str.extract_all(WORD_PART).list.join(sep).alias("k")),
    ]).filter(pl.col("k") != "").unique()
    words = seqs.select("k").unique().with_columns(pl.col("k").str.split(sep).alias("w")).explode("w")
    nxt = pl.when(pl.col("k").shift(-1) == pl.col("k")).then(pl.col("w").shift(-1))
    nxt2 = pl.when(pl.col("k").shift(-2) == pl.col("k")).then(pl.col("w").shift(-2))
    grams = words.select(
        "k", pl.concat_list("w", pl.concat_str(["w", nxt], separator=" "),
                            pl.concat_str(["w", nxt, nxt2], separator=" ")).alias("g"),
    ).explode("g").drop_nulls("g")
    return seqs, grams


def _sha(s: pl.Series) -> pl.Series:
    return pl.Series([_key(hashlib.sha256(g.encode("utf-8")).hexdigest()) for g in s.to_list()], dtype=pl.Int64)


def _explain(x: Inputs, failing: pl.DataFrame) -> pl.DataFrame:
    """The cells holding a flagged n-gram (named by table, row key and column, never by the name)."""
    flagged = failing.get_column("g").implode()
    rows = []
    for cells in _cells(x.t):
        seqs, grams = _grams(cells)
        bad = seqs.join(grams.filter(pl.col("g").is_in(flagged)).select("k").unique(), on="k").get_column("v")
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
