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

from opsledger.declarations import tables as declarations
from opsledger.validation.rules.base import Family, Inputs, Rule, checks_dir, expect, frame

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


def _key(digest: bytes) -> int:
    """The first 52 bits of a SHA-256 digest: what GX compares (an integer is exact in pandas'
    float64 and far cheaper than a 64-character string; a false match has odds of 1 in 4.5e15)."""
    return int.from_bytes(digest[:7], "big") >> 4


def parameters(x: Inputs) -> dict:
    return {"blocklist": sorted(_key(bytes.fromhex(h)) for h in load_blocklist(x.names)
                                if re.fullmatch(r"[0-9a-f]{64}", h))}


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


SEP = "\x1f"


def _sequences(vals: pl.DataFrame) -> pl.DataFrame:
    """Each distinct value ``v`` with the word sequences it holds ``k`` (words as names are written,
    and split at hyphens as in addresses and slugs; words joined by :data:`SEP`): a million
    identifiers share a few thousand sequences, and only those are cut into n-grams."""
    low = pl.col("v").str.to_lowercase()
    hyphenated = vals.filter(pl.col("v").str.contains(r"[^\W\d_]['’]?-[^\W\d_]"))  # only these split further
    return pl.concat([
        vals.select("v", low.str.extract_all(WORD).list.join(SEP).alias("k")),
        hyphenated.select("v", low.str.extract_all(WORD_PART).list.join(SEP).alias("k")),
    ]).filter(pl.col("k") != "").unique()


def _words(seqs: pl.DataFrame) -> pl.DataFrame:
    """One row per word ``w`` of each distinct sequence ``k``, with the next word ``w2`` and the one
    after ``w3`` (null past the end of the sequence)."""
    words = seqs.select("k").unique().with_columns(pl.col("k").str.split(SEP).alias("w")).explode("w")
    same = [pl.col("k").shift(-i) == pl.col("k") for i in (1, 2)]
    return words.with_columns(pl.when(same[0]).then(pl.col("w").shift(-1)).alias("w2"),
                              pl.when(same[1]).then(pl.col("w").shift(-2)).alias("w3"))


def _gram_columns(*keep: str) -> list[list[str]]:
    return [[*keep, "w"], [*keep, "w", "w2"], [*keep, "w", "w2", "w3"]]


def _unique_grams(words: pl.DataFrame, *keep: str) -> pl.DataFrame:
    """The distinct n-grams ``g`` of ``words`` (with the ``keep`` columns): each length's word tuples
    are made distinct before they are joined into text, so text is built once per distinct n-gram."""
    return pl.concat([words.select(cols).drop_nulls().unique().select(
        *keep, pl.concat_str(cols[len(keep):], separator=" ").alias("g")) for cols in _gram_columns(*keep)]).unique()


def _grams(cells: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(each distinct value ``v`` of ``cells`` with its word sequences ``k``, the n-grams ``g`` of
    each sequence ``k``)."""
    seqs = _sequences(cells.select("v").unique())
    return seqs, _unique_grams(_words(seqs), "k")


def _sha(s: pl.Series) -> pl.Series:
    """:func:`_key` of each string's SHA-256."""
    sha = hashlib.sha256
    return pl.Series([_key(sha(g.encode("utf-8")).digest()) for g in s.to_list()], dtype=pl.Int64)


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
    # digits only separate words, so a run of them can stand for any other: a million identifiers
    # that differ in their numbers are a few distinct values here. One select per table: polars
    # makes its columns' values distinct (and folds their digits) in parallel.
    values = []
    for df in x.t.values():
        cols = [c for c, dtype in df.schema.items() if dtype == pl.Utf8]
        if df.height and cols:
            u = df.select(pl.col(c).drop_nulls().unique().str.replace_all(r"\d+", "0").unique().implode()
                          for c in cols)
            values += [u.get_column(c).explode().drop_nulls().alias("v") for c in cols]
    vals = pl.concat(values).unique().to_frame() if values else pl.DataFrame(schema={"v": pl.Utf8})
    grams = _unique_grams(_words(_sequences(vals)))
    return grams.with_columns(_sha(grams.get_column("g")).alias("name_hash"),
                              pl.lit("(cells)").alias("row_key"), pl.lit("").alias("table"))


FAMILY = Family("privacy", "7. No person is named", parameters=parameters,
                note="name_grams holds the SHA-256 (its first 52 bits, as an integer) of every distinct word, word pair and word triple of every string cell; the blocklist parameter is checks/privacy_blocklist.txt plus --names.")

RULES = [
    Rule("privacy.no_person_names", "error",
         "No string cell of any table contains a person's name from the blocklist (checks/privacy_blocklist.txt, hashed) or from --names.",
         frame=name_grams,
         decision=(expect("column_values_to_not_be_in_set", column="name_hash", value_set={"$PARAMETER": "blocklist"}),)),
]
