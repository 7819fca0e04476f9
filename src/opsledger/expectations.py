"""The cross-source stage: great-expectations suites (``checks/suites/*.json``) run on derived frames.

Each suite is a reviewable JSON file; each expectation's ``meta`` names its rule, severity, description
and the *frame* it runs on. Frames are narrow polars frames built here from the tables (one row per
thing checked, with ``row_key``, ``table``, ``sources`` and a plain ``detail``), handed to GX as pandas.
GX decides pass or fail and returns the failing rows; this module turns them into findings, applies the
acknowledgements in ``checks/acknowledgements.toml``, and flags acknowledgements that no longer match.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
import unicodedata
from collections import defaultdict
from pathlib import Path

import polars as pl

from opsledger import fmt
from opsledger.meaning import frames as meaning_frames
from opsledger.findings import Finding, Report, RuleRun
from opsledger.metadata import repo_root, tables as declarations, vocabularies
from opsledger.phrases import period_bounds
from opsledger.reconcile import DATE_TARGETS, KEYS, archive_text, derive_all_with_phrases, value_claims

CHECKS_DIR_ENV = "OPSLEDGER_CHECKS"
WORD = r"[^\W\d_]+(?:['’-][^\W\d_]+)*"
WORD_PART = r"[^\W\d_]+(?:['’][^\W\d_]+)*"

#: Which target columns each claim target table accepts.
TARGET_COLUMNS = {
    "outcomes": {"value", "date"},
    "statistics": {"value", "as_of"},
    "participations": {"role", "date"},
    "events": {"date"},
    "operations": {"launched", "concluded", "announced"},
}

#: Timeline ranks: an item of lower rank may not start after an item of higher rank ends.
TIMELINE_RANK = {"launched": 0, "victims_first_identified": 1, "arrest": 2, "sentence": 3, "announced": 4}


def checks_dir() -> Path:
    return Path(os.environ.get(CHECKS_DIR_ENV) or repo_root() / "checks")


def load_suites(directory: Path | None = None) -> list[dict]:
    directory = directory or checks_dir() / "suites"
    suites = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.json"))]
    for s in suites:
        if s.get("name") == "referential":
            s["expectations"] = foreign_key_expectations() + s["expectations"]
    return suites


def foreign_key_expectations() -> list[dict]:
    """One expectation per foreign key declared in ``schemas/`` (never listed by hand)."""
    out = []
    for t in declarations().values():
        for fk in t.foreign_keys:
            # the table's frame holds the key each value finds in the referenced table (null when
            # none): GX checks the pair is equal. (A value_set of every key would be copied by GX for
            # each expectation, which costs minutes at a million rows.)
            out.append({
                "type": "expect_column_pair_values_to_be_equal",
                "kwargs": {"column_A": fk.column, "column_B": f"{fk.column}_found",
                           "ignore_row_if": "both_values_are_missing"},
                "meta": {"rule": f"ref.{t.name}.{fk.column}", "severity": "error", "frame": t.name,
                         "description": f"Every {t.name}.{fk.column} names an existing {fk.table}.{fk.ref_column}."},
            })
    return out


# --------------------------------------------------------------------------- frames


def table_frame(t: dict[str, pl.DataFrame], name: str) -> pl.DataFrame:
    """One row per row of a table: its key, each foreign key, and the key that foreign key finds in
    the table it references (``<column>_found``, null when it finds none)."""
    decl = declarations()[name]
    out = t[name].select(pl.col(decl.key).alias("row_key"), *[fk.column for fk in decl.foreign_keys],
                         pl.lit(name).alias("table"), pl.lit("").alias("sources"))
    for fk in decl.foreign_keys:
        found = t[fk.table].select(pl.col(fk.ref_column).alias(fk.column),
                                   pl.col(fk.ref_column).alias(f"{fk.column}_found")).unique()
        out = out.join(found, on=fk.column, how="left")
    return out


def _compact_pairs(df: pl.DataFrame, pairs: list[tuple[str, str]]) -> pl.DataFrame:
    """Two string columns compared for equality, as integer codes of one shared dictionary (equal
    codes iff equal strings, null stays null): GX compares integers, and a million rows of Python
    strings per column stay out of memory."""
    for a, b in pairs:
        if df.schema.get(a) != pl.Utf8 or df.schema.get(b) != pl.Utf8:
            continue
        codes = pl.concat([df.select(pl.col(a).alias("_v")), df.select(pl.col(b).alias("_v"))]).drop_nulls().unique()
        codes = codes.with_row_index("_code").with_columns(pl.col("_code").cast(pl.Int64))
        for c in (a, b):
            df = df.join(codes.rename({"_v": c, "_code": f"_{c}_code"}), on=c, how="left", maintain_order="left")
        df = df.with_columns(pl.col(f"_{a}_code").alias(a), pl.col(f"_{b}_code").alias(b)).drop(f"_{a}_code", f"_{b}_code")
    return df


def target_sources(claims: pl.DataFrame) -> pl.DataFrame:
    """The sources of each claim target, comma-joined: computed once per run."""
    return claims.group_by("target_id").agg(pl.col("source_id").unique().sort().str.join(",").alias("sources"))


def _join_sources(df: pl.DataFrame, key: str, srcs: pl.DataFrame) -> pl.DataFrame:
    return df.join(srcs.rename({"target_id": key}), on=key, how="left").with_columns(
        pl.col("sources").fill_null("")
    )


def _target_index(t: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """(target_table, target_id, target_operation, target_metric) of every row a claim can support."""
    parts = []
    for name, key in KEYS.items():
        df = t[name]
        op = pl.col("operation_id") if "operation_id" in df.columns else pl.col(key)
        if name == "statistics":
            op = pl.lit(None, pl.Utf8)
        metric = pl.col("metric") if "metric" in df.columns else pl.lit(None, pl.Utf8)
        parts.append(df.select(
            pl.lit(name).alias("target_table"), pl.col(key).alias("target_id"),
            op.alias("target_operation"), metric.alias("target_metric"),
        ))
    return pl.concat(parts)


def frame_claim_targets(t) -> pl.DataFrame:
    c = t["claims"]
    idx = _target_index(t).with_columns(pl.lit(True).alias("target_exists"))
    allowed = pl.DataFrame(
        [(tt, col) for tt, cols in TARGET_COLUMNS.items() for col in cols],
        schema={"target_table": pl.Utf8, "target_column": pl.Utf8}, orient="row",
    ).with_columns(pl.lit(True).alias("column_ok"))
    df = (
        c.select("claim_id", "source_id", "operation_id", "target_table", "target_id", "target_column")
        .join(idx, on=["target_table", "target_id"], how="left")
        .join(allowed, on=["target_table", "target_column"], how="left")
    )
    is_stat = pl.col("target_table") == "statistics"
    return df.select(
        pl.col("claim_id").alias("row_key"),
        pl.lit("claims").alias("table"),
        pl.col("source_id").alias("sources"),
        pl.col("target_exists").fill_null(False),
        pl.col("column_ok").fill_null(False),
        (is_stat | ~pl.col("target_exists").fill_null(False)
         | (pl.col("operation_id").eq_missing(pl.col("target_operation")))).alias("operation_ok"),
        (~is_stat | pl.col("operation_id").is_null()).alias("statistic_unattributed"),
        pl.format("{} {}.{} (claim operation {}, target operation {})", pl.col("target_table"),
                  pl.col("target_id"), pl.col("target_column"),
                  pl.col("operation_id").fill_null("none"),
                  pl.col("target_operation").fill_null("none")).alias("detail"),
    )


def frame_backing(t) -> pl.DataFrame:
    c = t["claims"]
    counts = c.group_by("target_table", "target_id", "target_column").agg(
        pl.len().alias("n"), pl.col("source_id").unique().sort().str.join(",").alias("sources")
    )
    parts = []
    needs = {"outcomes": ["value"], "statistics": ["value"], "participations": ["role"], "events": [None]}
    for name, cols in needs.items():
        key = KEYS[name]
        for col in cols:
            cc = counts.filter(pl.col("target_table") == name)
            if col:
                cc = cc.filter(pl.col("target_column") == col)
            cc = cc.group_by("target_id").agg(pl.col("n").sum(), pl.col("sources").first())
            parts.append(
                t[name].select(pl.col(key).alias("target_id"))
                .join(cc, on="target_id", how="left")
                .select(pl.col("target_id").alias("row_key"), pl.lit(name).alias("table"),
                        pl.col("sources").fill_null(""), pl.col("n").fill_null(0).alias("n_claims"),
                        pl.lit(f"claims for {col or 'any column'}").alias("detail"))
            )
    # a dated field must rest on a date claim (the date targets of reconciliation)
    for (name, col), (dcol, _prec) in DATE_TARGETS.items():
        key = KEYS[name]
        cc = counts.filter((pl.col("target_table") == name) & (pl.col("target_column") == col))
        parts.append(
            t[name].filter(pl.col(dcol).is_not_null()).select(pl.col(key).alias("target_id"))
            .join(cc.select("target_id", "n", "sources"), on="target_id", how="left")
            .select(pl.format("{}.{}", pl.col("target_id"), pl.lit(col)).alias("row_key"),
                    pl.lit(name).alias("table"), pl.col("sources").fill_null(""),
                    pl.col("n").fill_null(0).alias("n_claims"),
                    pl.lit(f"{col} is set but no claim dates it").alias("detail"))
        )
    return pl.concat(parts)


def frame_source_use(t) -> pl.DataFrame:
    cited = t["claims"].select("source_id").unique().with_columns(pl.lit(True).alias("cited"))
    return t["sources"].select("source_id").join(cited, on="source_id", how="left").select(
        pl.col("source_id").alias("row_key"), pl.lit("sources").alias("table"),
        pl.col("source_id").alias("sources"), pl.col("cited").fill_null(False),
        pl.lit("no claim cites this source").alias("detail"),
    )


def frame_metric_scope(t) -> pl.DataFrame:
    scope = {m: spec["applies_to"] for m, spec in vocabularies()["metric"].items()}
    parts = []
    for name, want in (("outcomes", "outcome"), ("statistics", "statistic")):
        key = KEYS[name]
        parts.append(t[name].select(
            pl.col(key).alias("row_key"), pl.lit(name).alias("table"), pl.lit("").alias("sources"),
            (pl.col("metric").replace_strict(scope, default="?") == want).alias("scope_ok"),
            pl.format("metric {} is not an {} metric", pl.col("metric"), pl.lit(want)).alias("detail"),
        ))
    return pl.concat(parts)


#: Numbers in messages are tokens that :func:`opsledger.fmt.expand` writes out when a finding is made.
_fmt, _span = fmt.num_token, fmt.span_token


def frame_claims_derived(t, derived, phrases) -> pl.DataFrame:
    stored, d = t["claims"], derived["claims"]
    # every derived column, and the as-of date a claim takes from its source when it has none
    cols = [*declarations()["claims"].derived, "as_of", "as_of_precision"]
    joined = stored.select("claim_id", "source_id", "stated", *cols).join(
        d.select("claim_id", *[pl.col(c).alias(f"{c}__d") for c in cols]), on="claim_id", how="left"
    )
    ph = phrases.select("claim_id", "phrase_ok")
    joined = joined.join(ph, on="claim_id", how="left")
    diffs = [
        pl.when(pl.col(c).eq_missing(pl.col(f"{c}__d"))).then(pl.lit(None, pl.Utf8))
        .otherwise(pl.format("{} is {} but the phrase gives {}", pl.lit(c), _fmt(c), _fmt(f"{c}__d")))
        for c in cols
    ]
    return joined.select(
        pl.col("claim_id").alias("row_key"), pl.lit("claims").alias("table"),
        pl.col("source_id").alias("sources"),
        pl.col("phrase_ok").fill_null(False),
        pl.concat_str(diffs, separator="; ", ignore_nulls=True).alias("_d"),
        pl.col("stated"),
    ).with_columns(
        (pl.col("_d") == "").alias("matches"),
        pl.when(pl.col("_d") == "").then(pl.format("phrase {} cannot be read", pl.col("stated")))
        .otherwise(pl.format("{}: {}", pl.col("stated"), pl.col("_d"))).alias("detail"),
    ).drop("_d", "stated")


def frame_derived(t, derived, srcs) -> pl.DataFrame:
    parts = []
    spec = {name: [c for c in decl.derived if c not in decl.primary_key]
            for name, decl in declarations().items() if name != "claims" and decl.derived}
    for name, cols in spec.items():
        key = declarations()[name].key
        missing_rows = derived[name].join(t[name].select(key), on=key, how="anti")
        if missing_rows.height:  # a derived table with rows the stored one lacks
            parts.append(missing_rows.select(
                pl.col(key).alias("row_key"), pl.lit(name).alias("table"), pl.lit("").alias("sources"),
                pl.lit(False).alias("matches"), pl.lit("row is missing; the other tables give it").alias("detail")))
        j = t[name].select(key, *cols).join(
            derived[name].select(key, *[pl.col(c).alias(f"{c}__d") for c in cols]), on=key, how="left"
        )
        diffs = [
            pl.when(pl.col(c).eq_missing(pl.col(f"{c}__d"))).then(pl.lit(None, pl.Utf8))
            .otherwise(pl.format("{} is {}, the claims give {}", pl.lit(c), _fmt(c), _fmt(f"{c}__d")))
            for c in cols
        ]
        df = j.select(pl.col(key).alias("row_key"), pl.lit(name).alias("table"),
                      pl.concat_str(diffs, separator="; ", ignore_nulls=True).alias("detail"))
        if name not in ("sources", "headline"):
            df = _join_sources(df.rename({"row_key": key}), key, srcs).rename({key: "row_key"})
        else:
            df = df.with_columns((pl.col("row_key") if name == "sources" else pl.lit("")).alias("sources"))
        parts.append(df.with_columns((pl.col("detail") == "").alias("matches"))
                     .select("row_key", "table", "sources", "matches", "detail"))
    return pl.concat(parts)


def frame_value_inside(t, acked_disputes: set[str]) -> pl.DataFrame:
    """Each claim of the reported group (for a running total: the latest) allows the outcome's value,
    its interval widened to include the figure it states (the wording rule)."""
    parts = []
    for name in ("outcomes", "statistics"):
        key = KEYS[name]
        c = value_claims(t["claims"], name, t["sources"], t[name], key).filter(pl.col("current"))
        j = c.join(
            t[name].select(pl.col(key).alias("target_id"), "value"), on="target_id", how="inner"
        ).with_columns(pl.min_horizontal("low", "anchor").alias("low"),
                       pl.when(pl.col("high").is_null()).then(None)
                       .otherwise(pl.max_horizontal("high", "anchor")).alias("high"))
        parts.append(j.select(
            pl.col("target_id").alias("row_key"), pl.lit(name).alias("table"),
            pl.col("source_id").alias("sources"),
            (((pl.col("low").is_null() | (pl.col("value") >= pl.col("low")))
              & (pl.col("high").is_null() | (pl.col("value") <= pl.col("high"))))
             | pl.col("target_id").is_in(list(acked_disputes))).fill_null(True).alias("inside"),
            pl.format("value {} is outside claim {} ({}: {})", _fmt("value"), pl.col("claim_id"),
                      pl.col("stated"), _span("low", "high")).alias("detail"),
        ))
    return pl.concat(parts)


def frame_disputes(t, srcs) -> pl.DataFrame:
    parts = []
    for name in ("outcomes", "statistics"):
        key = KEYS[name]
        df = _join_sources(t[name].select(key, "status", "value_low", "value_high"), key, srcs)
        parts.append(df.select(
            pl.col(key).alias("row_key"), pl.lit(name).alias("table"), "sources",
            (pl.col("status") != "disputed").fill_null(True).alias("agree"),
            pl.format("sources cannot all be right: together they allow {}",
                      _span("value_low", "value_high")).alias("detail"),
        ))
    return pl.concat(parts)


def frame_date_disputes(t) -> pl.DataFrame:
    """One row per dated field with date claims: do their periods overlap?"""
    c = t["claims"].filter(pl.col("date_low").is_not_null())
    g = c.group_by("target_table", "target_id", "target_column").agg(
        pl.col("date_low").max().alias("lo"), pl.col("date_high").min().alias("hi"),
        pl.col("source_id").unique().sort().str.join(",").alias("sources"),
        pl.col("stated").unique().sort().str.join(" / ").alias("phrases"),
    )
    return g.select(
        pl.format("{}.{}", pl.col("target_id"), pl.col("target_column")).alias("row_key"),
        pl.col("target_table").alias("table"), "sources",
        (pl.col("lo") <= pl.col("hi")).alias("agree"),
        pl.format("date claims cannot all be true ({}); the field is left empty", pl.col("phrases")).alias("detail"),
    )


def _timeline_items(t) -> pl.DataFrame:
    ops = t["operations"]
    items = [
        ops.select("operation_id", pl.format("{}.launched", "operation_id").alias("item"),
                   pl.lit("launched").alias("stage"), pl.col("launched").alias("d"),
                   pl.col("launched_precision").alias("p")),
        ops.select("operation_id", pl.format("{}.announced", "operation_id").alias("item"),
                   pl.lit("announced").alias("stage"), pl.col("announced").alias("d"),
                   pl.col("announced_precision").alias("p")),
        t["events"].filter(pl.col("kind").is_in(["victims_first_identified", "arrest"])).select(
            "operation_id", pl.col("event_id").alias("item"), pl.col("kind").alias("stage"),
            pl.col("date").alias("d"), pl.col("date_precision").alias("p")),
        t["outcomes"].filter(pl.col("metric") == "sentence_months").select(
            "operation_id", pl.col("outcome_id").alias("item"), pl.lit("sentence").alias("stage"),
            pl.col("date").alias("d"), pl.col("date_precision").alias("p")),
    ]
    df = pl.concat(items).filter(pl.col("d").is_not_null())
    bounds = [period_bounds(d, p) or (d, d) for d, p in df.select("d", "p").iter_rows()]
    return df.with_columns(
        pl.Series("lo", [b[0] for b in bounds], pl.Date),
        pl.Series("hi", [b[1] for b in bounds], pl.Date),
        pl.col("stage").replace_strict(TIMELINE_RANK).alias("rank"),
    )


def frame_timeline(t) -> pl.DataFrame:
    items = _timeline_items(t)
    pairs = items.join(items, on="operation_id", suffix="_b").filter(pl.col("rank") < pl.col("rank_b"))
    return pairs.select(
        pl.format("{}>{}", pl.col("item"), pl.col("item_b")).alias("row_key"),
        pl.lit("operations").alias("table"), pl.lit("").alias("sources"),
        (pl.col("lo") <= pl.col("hi_b")).alias("in_order"),
        pl.format("{} ({} from {}) comes after {} ({} until {})", pl.col("item"), pl.col("stage"),
                  pl.col("lo"), pl.col("item_b"), pl.col("stage_b"), pl.col("hi_b")).alias("detail"),
    )


def frame_claim_dates(t) -> pl.DataFrame:
    src = t["sources"].filter(pl.col("published").is_not_null())
    bounds = [period_bounds(d, p) or (d, d) for d, p in src.select("published", "published_precision").iter_rows()]
    src = src.select("source_id", "published").with_columns(
        pl.Series("pub_hi", [b[1] for b in bounds], pl.Date))
    c = t["claims"].filter(pl.col("date_low").is_not_null()).join(src, on="source_id", how="inner")
    return c.select(
        pl.col("claim_id").alias("row_key"), pl.lit("claims").alias("table"),
        pl.col("source_id").alias("sources"),
        (pl.col("date_low") <= pl.col("pub_hi")).alias("before_publication"),
        pl.format("{} ({}) is after the source's publication on {}", pl.col("stated"),
                  pl.col("date_low"), pl.col("published")).alias("detail"),
    )


def frame_relations(t, small: str, large: str, column: str) -> pl.DataFrame:
    """Per operation: is the operation-wide figure ``small`` no more than ``large``?"""
    o = t["outcomes"].filter(pl.col("country").is_null() & pl.col("offender_role").is_null())
    wide = o.pivot(on="metric", index="operation_id", values="value", aggregate_function="first")
    for m in (small, large):
        if m not in wide.columns:
            wide = wide.with_columns(pl.lit(None, pl.Float64).alias(m))
    return wide.select(
        pl.col("operation_id").alias("row_key"), pl.lit("operations").alias("table"),
        pl.lit("").alias("sources"),
        (pl.col(small) <= pl.col(large)).fill_null(True).alias(column),
        pl.format(f"{small.replace('_', ' ')} {{}} is more than {large.replace('_', ' ')} {{}}",
                  _fmt(small), _fmt(large)).alias("detail"),
    )


def frame_source_files(t, archive: Path) -> pl.DataFrame:
    rows = []
    for sid, fname, sha in t["sources"].filter(pl.col("archive_file").is_not_null()).select(
            "source_id", "archive_file", "sha256").iter_rows():
        got = archive_text(archive, fname, sid)
        if got is None:
            rows.append((sid, False, f"{fname} is not in the archive {archive}"))
        else:
            rows.append((sid, got[1] == sha, f"sha256 is {sha}, the file {fname} has {got[1]}"))
    return pl.DataFrame(rows, schema={"row_key": pl.Utf8, "sha_ok": pl.Boolean, "detail": pl.Utf8},
                        orient="row").with_columns(pl.lit("sources").alias("table"),
                                                   pl.col("row_key").alias("sources"))


def frame_claim_locators(t, archive: Path) -> pl.DataFrame:
    files = dict(t["sources"].select("source_id", "archive_file").drop_nulls().iter_rows())
    c = t["claims"].filter(pl.col("source_id").is_in(list(files)))
    rows = []
    for cid, sid, stated, off in c.select("claim_id", "source_id", "stated", "locator_offset").iter_rows():
        got = archive_text(archive, files[sid], sid)
        ok = bool(got) and off is not None and got[0].startswith(stated, off)
        if got is None:
            detail = f"{files[sid]} is not in the archive"
        elif off is None or stated not in got[0]:
            detail = f"{stated!r} does not occur in {files[sid]} (the phrase must be copied exactly as the source writes it)"
        else:
            detail = f"{stated!r} is not at offset {off} of {files[sid]} (run `opsledger reconcile --write` to re-locate it)"
        rows.append((cid, sid, ok, detail))
    return pl.DataFrame(rows, schema={"row_key": pl.Utf8, "sources": pl.Utf8, "found": pl.Boolean,
                                      "detail": pl.Utf8}, orient="row").with_columns(
        pl.lit("claims").alias("table"))


# --------------------------------------------------------------------------- privacy


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


#: String cells are scanned in batches of about this many cells (bounds memory on large tables).
PRIVACY_BATCH_CELLS = 300_000


def frame_string_cells(t, blocklist: set[str]) -> pl.DataFrame:
    """One row per string cell that holds a blocklisted name of one to three words (plus one passing
    row, so the expectation always has data). String columns are scanned in batches of cells over
    their distinct values, in polars; only the distinct words and word pairs/triples are hashed."""
    columns = [(name, col) for name, df in t.items() for col, dtype in df.schema.items()
               if dtype == pl.Utf8 and df.height]
    rows, batch, size = [], [], 0
    for i, (name, col) in enumerate(columns):
        df = t[name]
        batch.append(df.select(pl.lit(name).alias("tbl"), pl.col(declarations()[name].key).alias("k"),
                               pl.lit(col).alias("col"), pl.col(col).alias("v")).drop_nulls("v"))
        size += df.height
        if size >= PRIVACY_BATCH_CELLS or i == len(columns) - 1:
            rows += _name_hits(pl.concat(batch), blocklist)
            batch, size = [], 0
    rows.append(("(all cells)", "*", "", True, "checked"))
    return pl.DataFrame(rows, schema={"row_key": pl.Utf8, "table": pl.Utf8, "sources": pl.Utf8,
                                      "clean": pl.Boolean, "detail": pl.Utf8}, orient="row")


def _name_hits(cells: pl.DataFrame, blocklist: set[str]) -> list[tuple]:
    if cells.is_empty():
        return []
    vals = cells.select("v").unique().with_row_index("i")
    # words as names are written ("jean-pierre") and split at hyphens, as in URLs and slugs
    # ("first-last" in an address): n-grams of both
    low = pl.col("v").str.to_lowercase()
    words = pl.concat([
        vals.select("i", low.str.extract_all(WORD).alias("w")),
        vals.select(pl.col("i") + vals.height, low.str.extract_all(WORD_PART).alias("w")),
    ]).explode("w").drop_nulls("w")
    same1 = pl.col("i").shift(-1) == pl.col("i")
    same2 = pl.col("i").shift(-2) == pl.col("i")
    nxt = pl.when(same1).then(pl.col("w").shift(-1))
    nxt2 = pl.when(same2).then(pl.col("w").shift(-2))
    grams = words.select(
        "i",
        pl.concat_list("w", pl.concat_str(["w", nxt], separator=" "),
                       pl.concat_str(["w", nxt, nxt2], separator=" ")).alias("g"),
    ).explode("g").drop_nulls("g")
    flagged = [g for g in grams.get_column("g").unique().to_list() if _hash(g) in blocklist]
    if not flagged:
        return []
    bad_i = grams.filter(pl.col("g").is_in(flagged)).select(pl.col("i") % vals.height).unique()
    bad_values = vals.join(bad_i, on="i").get_column("v")
    hit = cells.filter(pl.col("v").is_in(bad_values))
    return [(k, tbl, "", False, f"column {col} contains a blocklisted person name")
            for tbl, k, col, _v in hit.iter_rows()]


_HASH_CACHE: dict[str, str] = {}


def _hash(s: str) -> str:
    h = _HASH_CACHE.get(s)
    if h is None:
        h = _HASH_CACHE[s] = hashlib.sha256(s.encode("utf-8")).hexdigest()
    return h


# --------------------------------------------------------------------------- GX runner


def _gx_context():
    """great-expectations, imported here and only here (its import is the largest fixed cost of a
    run), and an ephemeral context that keeps everything in memory: no data docs site, so nothing is
    written anywhere. No process-wide state is touched (environment, tempfile, logging)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import DataContextConfig, InMemoryStoreBackendDefaults

    config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False))
    ctx = gx.get_context(mode="ephemeral", project_config=config)
    ctx.variables.progress_bars = {"globally": False, "metric_calculations": False}
    return gx, ctx


def run_gx(frames: dict[str, pl.DataFrame], suites: list[dict], parameters: dict,
           skip: dict[str, str]) -> list[tuple[dict, bool, list[dict]]]:
    """Run every expectation on its frame; returns (meta, success, failing rows).

    great-expectations is imported only when at least one expectation is to run, and gets only the
    parameters the expectations name (GX copies its parameters for every expectation: handing it
    every key of every table costs seconds at a million claims).
    """
    if not any(e["meta"]["rule"] not in skip for s in suites for e in s["expectations"]):
        return []
    used = set(_parameter_names([e["kwargs"] for s in suites for e in s["expectations"]]))
    params = {k: v.to_list() if isinstance(v, pl.Series) else v for k, v in parameters.items() if k in used}
    return _run_gx(frames, suites, params, skip)


def _parameter_names(obj) -> list[str]:
    """Names of the ``{"$PARAMETER": name}`` references anywhere in ``obj``."""
    if isinstance(obj, dict):
        if "$PARAMETER" in obj:
            return [obj["$PARAMETER"]]
        return [n for v in obj.values() for n in _parameter_names(v)]
    if isinstance(obj, list):
        return [n for v in obj for n in _parameter_names(v)]
    return []


#: The keyword arguments of an expectation that name columns of its frame.
COLUMN_KWARGS = ("column", "column_A", "column_B")
COLUMN_LIST_KWARGS = ("column_list",)


def _columns(kwargs: dict) -> list[str]:
    return ([kwargs[k] for k in COLUMN_KWARGS if k in kwargs]
            + [c for k in COLUMN_LIST_KWARGS for c in kwargs.get(k, [])])


def _renamed(kwargs: dict, frame: str) -> dict:
    """An expectation's kwargs with its columns named as GX sees them (``<frame>__<column>``)."""
    out = {**kwargs}
    for k in COLUMN_KWARGS:
        if k in out:
            out[k] = f"{frame}__{out[k]}"
    for k in COLUMN_LIST_KWARGS:
        if k in out:
            out[k] = [f"{frame}__{c}" for c in out[k]]
    return out


#: Frames smaller than this are validated together in one GX batch (fewer GX round trips); larger
#: ones get a batch of their own, so GX never scans a wide, mostly empty frame.
SMALL_FRAME_ROWS = 50_000
INFO_COLUMNS = ("row_key", "table", "sources", "detail")


def _run_gx(frames, suites, parameters, skip):
    gx, ctx = _gx_context()
    ds = ctx.data_sources.add_pandas("opsledger")
    by_frame: dict[str, list[dict]] = defaultdict(list)
    for s in suites:
        for e in s["expectations"]:
            if e["meta"]["rule"] not in skip:
                by_frame[e["meta"]["frame"]].append(e)
    # GX sees only a row id and the columns its expectations read, each named <frame>__<column>; the
    # key, sources and plain-language detail of the (few) failing rows are looked up afterwards.
    small, batches = [], []
    for frame, exps in by_frame.items():
        cols = sorted({c for e in exps for c in _columns(e["kwargs"])})
        pairs = [(e["kwargs"]["column_A"], e["kwargs"]["column_B"]) for e in exps
                 if e["type"] == "expect_column_pair_values_to_be_equal"]
        narrow = _compact_pairs(frames[frame], pairs).select(
            *[pl.col(c) for c in INFO_COLUMNS if c in frames[frame].columns],
            *[pl.col(c).alias(f"{frame}__{c}") for c in cols],
        )
        (small if narrow.height < SMALL_FRAME_ROWS else batches).append(([frame], narrow))
    if small:
        batches.append(([f for fs, _ in small for f in fs], pl.concat([df for _, df in small], how="diagonal")))
    out = []
    for names, df in batches:
        full = df.with_row_index("_rid")
        gx_cols = [c for c in full.columns if "__" in c]
        asset = ds.add_dataframe_asset("+".join(names)[:60] or "frame")
        batch = asset.add_batch_definition_whole_dataframe("all").get_batch(
            batch_parameters={"dataframe": full.select("_rid", *gx_cols).to_pandas()})
        exps = [e for n in names for e in by_frame[n]]
        suite = gx.ExpectationSuite(name=f"batch-{len(out)}", expectations=[
            gx.expectations.registry.get_expectation_impl(e["type"])(
                **_renamed(e["kwargs"], e["meta"]["frame"]), meta=e["meta"])
            for e in exps
        ])
        res = batch.validate(suite, expectation_parameters=parameters, result_format={
            "result_format": "COMPLETE", "unexpected_index_column_names": ["_rid"],
            "partial_unexpected_count": 0, "return_unexpected_index_query": False,
        })
        info = [c for c in INFO_COLUMNS if c in full.columns]
        for r in res.results:
            meta = dict(r.expectation_config.meta)
            rids = [int(x["_rid"]) for x in (r.result.get("unexpected_index_list") or [])]
            rows = full.filter(pl.col("_rid").is_in(rids)).select(info).to_dicts() if rids else []
            if r.exception_info and r.exception_info.get("raised_exception"):
                rows = [{"row_key": None, "table": meta["frame"],
                         "detail": f"expectation failed to run: {r.exception_info.get('exception_message')}"}]
            out.append((meta, bool(r.success), rows))
    return out


# --------------------------------------------------------------------------- acknowledgements


def load_acknowledgements(path: Path | str | None = None) -> list[dict]:
    """The acknowledgements (``[[ack]]`` tables with rule, key and reason); the default file may be
    missing, a file given by name may not. Malformed TOML or entries are refused with a one-line error."""
    from opsledger.errors import UsageError

    given = path is not None
    path = Path(path) if path else checks_dir() / "acknowledgements.toml"
    if not path.is_file():
        if given:
            raise UsageError(f"{path}: no such acknowledgements file")
        return []
    try:
        doc = tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: acknowledgements file is not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML ({str(exc).splitlines()[0]})") from None
    acks = doc.get("ack", [])
    if not isinstance(acks, list):
        raise UsageError(f"{path}: `ack` must be an array of tables ([[ack]])")
    for i, a in enumerate(acks, 1):
        if not isinstance(a, dict):
            raise UsageError(f"{path}: ack #{i} is not a table")
        for k in ("rule", "key", "reason"):
            if not isinstance(a.get(k), str) or not a[k].strip():
                raise UsageError(f"{path}: ack #{i} needs a non-empty string `{k}`")
    return acks


def run_cross_checks(report: Report, t: dict[str, pl.DataFrame], sources: Path | None = None,
                     names: list[str] | None = None, acknowledgements=None, schema_ok: bool = True) -> None:
    """Build the frames, run the suites, apply acknowledgements; add rules and findings to ``report``."""
    suites = load_suites()
    acks = load_acknowledgements(acknowledgements)
    acked_disputes = {a["key"] for a in acks if a.get("rule") == "reconcile.not_disputed"}
    skip: dict[str, str] = {}
    if not schema_ok:
        for s in suites:
            for e in s["expectations"]:
                skip[e["meta"]["rule"]] = "skipped: the schema stage failed, so cross-table results would mislead"
        _record(report, suites, [], skip, acks, t)
        return
    derived, phrases = derive_all_with_phrases(t, sources)
    srcs = target_sources(t["claims"])
    frames = {
        **{name: table_frame(t, name) for name in t},
        "claim_targets": frame_claim_targets(t),
        "backing": frame_backing(t),
        "metric_scope": frame_metric_scope(t),
        "source_use": frame_source_use(t),
        "claims_derived": frame_claims_derived(t, derived, phrases),
        "derived": frame_derived(t, derived, srcs),
        "value_inside": frame_value_inside(t, acked_disputes),
        "disputes": frame_disputes(t, srcs),
        "date_disputes": frame_date_disputes(t),
        "timeline": frame_timeline(t),
        "claim_dates": frame_claim_dates(t),
        "relations_accounts": frame_relations(t, "accounts_referred", "accounts_identified",
                                              "referred_le_identified"),
        "relations_countries": frame_relations(t, "countries_engaged", "countries_referred",
                                               "engaged_le_referred"),
        **meaning_frames(t),
        "string_cells": frame_string_cells(t, load_blocklist(names)),
    }
    if sources is None or not Path(sources).is_dir():
        why = ("skipped: no source archive given (--sources DIR)" if sources is None
               else f"skipped: source archive {sources} does not exist")
        skip["grounding.sha256"] = skip["grounding.phrase_at_locator"] = why
        # without the archive the locators cannot be re-derived, so do not compare them
        frames["claims_derived"] = frame_claims_derived(
            t, {**derived, "claims": _keep_locators(derived["claims"], t["claims"])}, phrases)
        frames["derived"] = frame_derived(t, {**derived, "sources": t["sources"]}, srcs)
    else:
        frames["source_files"] = frame_source_files(t, Path(sources))
        frames["claim_locators"] = frame_claim_locators(t, Path(sources))
    ids = {f"ids_{n}": t[n].get_column(declarations()[n].key) for n in t}
    results = run_gx(frames, suites, ids, skip)
    _record(report, suites, results, skip, acks, t, sources)


def _keep_locators(derived_claims: pl.DataFrame, stored: pl.DataFrame) -> pl.DataFrame:
    keep = stored.select("claim_id", "locator_paragraph", "locator_offset")
    return derived_claims.drop("locator_paragraph", "locator_offset").join(keep, on="claim_id", how="left") \
        .select(stored.columns)


def _record(report, suites, results, skip, acks, t, sources=None) -> None:
    metas = {e["meta"]["rule"]: e["meta"] for s in suites for e in s["expectations"]}
    runs = {r: RuleRun(r, "cross", m["severity"], m["description"]) for r, m in metas.items()}
    for rule, why in skip.items():
        runs[rule].status, runs[rule].detail = "skipped", why
    ack_index = {(a["rule"], a.get("table"), a["key"]): a for a in acks}
    used = set()
    for meta, success, rows in results:
        run = runs[meta["rule"]]
        if success:
            continue
        findings = []
        for row in rows:
            sources_ = [s for s in str(row.get("sources") or "").split(",") if s]
            f = Finding(meta["rule"], str(row.get("table") or meta["frame"]), row.get("row_key"),
                        None, None, fmt.expand(row.get("detail")) or meta["description"], meta["severity"],
                        sources_)
            a = ack_index.get((f.rule, f.table, f.key))
            if a:
                f.acknowledged, f.reason = True, a["reason"]
                used.add((f.rule, f.table, f.key))
            findings.append(f)
        report.findings.extend(findings)
        if all(f.acknowledged for f in findings):
            run.status = "acknowledged"
        else:
            run.status = "failed" if meta["severity"] == "error" else "warning"
    stale_rule = RuleRun("acknowledgements.not_stale", "cross", "error",
                         "Every acknowledgement in checks/acknowledgements.toml still matches a finding.")
    for a in acks:
        k = (a["rule"], a.get("table"), a["key"])
        if k in used or a["rule"] in skip:
            continue
        stale_rule.status = "failed"
        report.findings.append(Finding(
            "acknowledgements.not_stale", "acknowledgements", a["key"], None, a["rule"],
            f"acknowledgement of {a['rule']} for {a.get('table')}[{a['key']}] matches no finding any more; remove it",
            "error", list(a.get("sources", []))))
    report.rules.extend(runs.values())
    report.rules.append(stale_rule)
    if sources is not None and Path(sources).is_dir():
        not_archived = t["sources"].filter(pl.col("archive_file").is_null()).height
        if not_archived:
            report.rules.append(RuleRun(
                "grounding.not_archived", "cross", "warning",
                "Sources outside the archive cannot be grounded here.", status="skipped",
                detail=f"skipped for {not_archived} sources that are not archived (cited by URL; not grounded)"))
