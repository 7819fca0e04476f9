"""Meaning rules: what a figure covers (scope), when it is true (as-of) and what it is part of
(the figure model; README "What a figure means")."""

from __future__ import annotations

import polars as pl

from opsledger.data import fmt
from opsledger.declarations import metrics_with, scope_shapes
from opsledger.derive.reconcile import headline_outcomes, parts_sums, period_end, running_total_window
from opsledger.validation.rules.base import Family, Inputs, Rule, expect, frame


def parameters(x: Inputs) -> dict:
    return {"scope_shapes": scope_shapes(), "per_offender_metrics": sorted(metrics_with("per_offender")),
            "breakdowns": ["country", "region", "subgroup", "offender"]}


def _where(prefix: str = "") -> pl.Expr:
    return pl.format("{} {}/{}", pl.col(f"{prefix}scope").fill_null("null"), pl.col(f"{prefix}country").fill_null("-"),
                     pl.col(f"{prefix}area").fill_null("-"))


def _dimension() -> pl.Expr:
    return (pl.when(pl.col("offender_role").is_not_null()).then(pl.lit("offender"))
            .when(pl.col("subgroup").is_not_null()).then(pl.lit("subgroup"))
            .otherwise(pl.col("scope")))


def _detail_scope_columns() -> pl.Expr:
    return (pl.format(
            "scope {} (country {}, area {})", pl.col("scope").fill_null("null"), pl.col("country").fill_null("none"),
            pl.col("area").fill_null("none")))


@frame("scope_columns", sources="sources")
def scope_columns(x: Inputs) -> pl.DataFrame:
    """A row's scope names its place exactly: a country for `country`, an area for `region`, neither
    for `worldwide` (its shape, "scope|country|area", is one of ``[scope_shape]`` in schemas/vocabularies.toml)."""
    parts = []
    for name, key in (("claims", "claim_id"), ("outcomes", "outcome_id")):
        src = pl.col("source_id") if name == "claims" else pl.lit("")
        parts.append(x.t[name].select(
            pl.col(key).alias("row_key"), pl.lit(name).alias("table"), src.alias("sources"), "scope", "country", "area",
            pl.concat_str([pl.col("scope").fill_null("null"),
                           pl.when(pl.col("country").is_null()).then(pl.lit("-")).otherwise(pl.lit("country")),
                           pl.when(pl.col("area").is_null()).then(pl.lit("-")).otherwise(pl.lit("area"))],
                          separator="|").alias("shape")))
    return pl.concat(parts)


def _detail_claim_scope() -> pl.Expr:
    return (pl.format(
            "the claim covers {}, its outcome {} covers {}", pl.col("where"), pl.col("target_id"), pl.col("t_where")))


@frame("claim_scope", sources="source_id")
def claim_scope(x: Inputs) -> pl.DataFrame:
    """One row per claim on an outcome: the place it covers and the place its outcome covers."""
    o = x.t["outcomes"].select(pl.col("outcome_id").alias("target_id"), _where().alias("t_where"))
    c = x.t["claims"].filter(pl.col("target_table") == "outcomes").select(
        "claim_id", "source_id", "target_id", "scope", "country", "area").join(o, on="target_id", how="inner")
    return c.select(pl.col("claim_id").alias("row_key"), pl.lit("claims").alias("table"), "source_id",
                    "target_id", _where().alias("where"), "t_where")


def _detail_offender_role() -> pl.Expr:
    return (pl.format(
            "offender_role {} on metric {}, which counts more than one person; use subgroup or a scope",
            pl.col("offender_role"), pl.col("metric")))


@frame("offender_role")
def offender_role(x: Inputs) -> pl.DataFrame:
    """One row per outcome about one offender: its metric (which must describe one person)."""
    return x.t["outcomes"].filter(pl.col("offender_role").is_not_null()).select(
        pl.col("outcome_id").alias("row_key"), pl.lit("outcomes").alias("table"), "offender_role", "metric")


def _detail_part_of() -> pl.Expr:
    return (pl.format(
            "part_of {} ({}); this row: {} ({})", pl.col("part_of"), pl.col("total").fill_null("no other row"),
            pl.col("quantity"), pl.col("dimension")))


@frame("part_of")
def part_of(x: Inputs) -> pl.DataFrame:
    """One row per breakdown: the quantity it counts (operation and metric), the quantity of the row
    it names as its total (null when it names itself) and the dimension it is narrower along."""
    o = x.t["outcomes"]
    q = pl.format("{} of {}", pl.col("metric"), pl.col("operation_id"))
    tot = o.select(pl.col("outcome_id").alias("part_of"), q.alias("total"))
    p = o.filter(pl.col("part_of").is_not_null()).join(tot, on="part_of", how="left")
    return p.select(
        pl.col("outcome_id").alias("row_key"), pl.lit("outcomes").alias("table"), "part_of", q.alias("quantity"),
        pl.when(pl.col("part_of") != pl.col("outcome_id")).then(pl.col("total")).alias("total"),
        _dimension().alias("dimension"))


def headline_candidates(o: pl.DataFrame) -> pl.DataFrame:
    return o.filter((pl.col("scope") == "worldwide") & pl.col("part_of").is_null()
                    & pl.col("subgroup").is_null() & pl.col("offender_role").is_null())


def _detail_breakdown_named() -> pl.Expr:
    return (pl.format(
            "a {} breakdown of {} while the operation has the total {}; set part_of", pl.col("dimension"),
            pl.col("metric"), pl.col("total")))


@frame("breakdown_named")
def breakdown_named(x: Inputs) -> pl.DataFrame:
    """One row per breakdown (a country, a region, a subgroup) of a metric that also has a worldwide
    total in the same operation, with the part_of it names (it must name one)."""
    o = x.t["outcomes"]
    totals = headline_candidates(o).group_by("operation_id", "metric").agg(
        pl.col("outcome_id").sort().first().alias("total"))
    parts = o.with_columns(_dimension().alias("dimension")).filter(
        pl.col("dimension").is_in(["country", "region", "subgroup"]))
    return parts.join(totals, on=["operation_id", "metric"], how="inner").select(
        pl.col("outcome_id").alias("row_key"), pl.lit("outcomes").alias("table"), "part_of", "dimension",
        "metric", "total")


def _detail_parts_within_total() -> pl.Expr:
    return (pl.format(
            "{} part(s) by {} add up to at least {}; the total allows at most {}", pl.col("n"), pl.col("dim"),
            fmt.num_token("sum_low"), fmt.num_token("t_high")))


@frame("parts_within_total")
def parts_within_total(x: Inputs) -> pl.DataFrame:
    """The parts of one total, along one set of disjoint parts (:func:`~opsledger.derive.reconcile.parts_sums`:
    countries together, a country with "outside" it, any other region or subgroup on its own), add up
    to no more than the total allows, unless the total is shown as disputed (its claims and its parts
    cannot both hold, and a reader sees both readings)."""
    o = x.t["outcomes"]
    sums = parts_sums(o)
    tot = o.filter(pl.col("status") != "disputed").select(pl.col("outcome_id").alias("part_of"),
                                                         pl.col("value_high").alias("t_high"))
    j = sums.join(tot, on="part_of", how="inner")
    return j.select(pl.col("part_of").alias("row_key"), pl.lit("outcomes").alias("table"), "dim", "n",
                    pl.col("sum_low").cast(pl.Float64), pl.col("t_high").cast(pl.Float64))


def _detail_running_totals() -> pl.Expr:
    return (pl.format(
            "{} ({}, as of {}) is below the earlier {} ({})", pl.col("stated"), pl.col("claim_id"), pl.col("as_of"),
            pl.col("e_stated"), pl.col("e_id")))


@frame("running_totals", sources="sources")
def running_totals(x: Inputs) -> pl.DataFrame:
    """One row per pair of claims on a running total whose as-of intervals are further apart than the
    window (the later starts after the earlier's last day and the window): the most the later allows
    and the least the earlier allows, each widened to include its stated figure (the same figure with
    different hedges is not a fall). A running total never falls."""
    c = x.value_claims("outcomes").filter(
        pl.col("running") & pl.col("as_of").is_not_null())
    # every pair of claims on a total is formed on the dates alone (a million claims make millions of
    # pairs, nearly all within the window); only the pairs left carry the claims' other columns
    pairs = c.select("target_id", pl.int_range(pl.len(), dtype=pl.UInt32).alias("_l"), "as_of").join(
        c.select("target_id", pl.int_range(pl.len(), dtype=pl.UInt32).alias("_e"), pl.col("as_of_end").alias("e_end")),
        on="target_id").filter(pl.col("as_of") > pl.col("e_end") + running_total_window()).select("_l", "_e")
    early = c.select(pl.col("claim_id").alias("e_id"), pl.min_horizontal("low", "anchor").alias("e_low"),
                     pl.col("stated").alias("e_stated"), pl.col("source_id").alias("e_src"))
    late = c.select("target_id", "claim_id", "as_of", pl.when(pl.col("high").is_null()).then(None)
                    .otherwise(pl.max_horizontal("high", "anchor")).alias("high"), "stated", "source_id")
    j = pl.concat([late[pairs.get_column("_l")], early[pairs.get_column("_e")]], how="horizontal")
    return j.select(pl.col("target_id").alias("row_key"), pl.lit("outcomes").alias("table"),
                    pl.format("{},{}", pl.col("e_src"), pl.col("source_id")).alias("sources"),
                    "claim_id", "as_of", "stated", "high", "e_id", "e_stated", "e_low")


def _detail_disputed_sources() -> pl.Expr:
    return (pl.format(
            "disputed with {} source(s): a source that contradicts itself is a curation question, not a dispute",
            pl.col("n_sources")))


@frame("disputed_sources")
def disputed_sources(x: Inputs) -> pl.DataFrame:
    """One row per disputed figure: how many sources it rests on. A total disputed by its parts rests
    on its own sources and those of its parts (the parts are evidence about it)."""
    from opsledger.derive.reconcile import counted

    o = x.t["outcomes"]
    vc = x.value_claims("outcomes")
    c = vc.filter(counted(vc))  # the claims that count (a running total's latest, no corrected typo)
    own = c.select(pl.col("target_id").alias("total"), "source_id")
    via_parts = o.filter(pl.col("part_of").is_not_null() & (pl.col("part_of") != pl.col("outcome_id"))).select(
        "outcome_id", pl.col("part_of").alias("total")).join(
        c.select(pl.col("target_id").alias("outcome_id"), "source_id"), on="outcome_id").select("total", "source_id")
    n = pl.concat([own, via_parts]).group_by("total").agg(pl.col("source_id").n_unique().alias("_n"))
    with_parts = o.filter(pl.col("status") == "disputed").join(
        n.rename({"total": "outcome_id"}), on="outcome_id", how="left").select(
        pl.col("outcome_id").alias("row_key"), pl.lit("outcomes").alias("table"),
        pl.max_horizontal("n_sources", pl.col("_n").fill_null(0)).cast(pl.Int64).alias("n_sources"))
    stats = x.t["statistics"].filter(pl.col("status") == "disputed").select(
        pl.col("statistic_id").alias("row_key"), pl.lit("statistics").alias("table"),
        pl.col("n_sources").cast(pl.Int64))
    return pl.concat([with_parts, stats])


def _detail_claim_as_of() -> pl.Expr:
    return (pl.format(
            "as_of {} is after the source's publication {}", pl.col("as_of"), pl.col("published")))


@frame("claim_as_of", sources="source_id")
def claim_as_of(x: Inputs) -> pl.DataFrame:
    """One row per claim with an as-of date: that date and the last day its source may have been
    published."""
    s = x.t["sources"].select("source_id", "published", pl.coalesce(
        "published_latest", period_end("published", "published_precision")).alias("pub_end"))
    c = x.t["claims"].filter(pl.col("as_of").is_not_null()).join(s, on="source_id", how="left")
    return c.select(pl.col("claim_id").alias("row_key"), pl.lit("claims").alias("table"), "source_id", "as_of",
                    "published", "pub_end")


def _detail_headline_unique() -> pl.Expr:
    return pl.format("{} worldwide totals: {}", pl.col("n"), pl.col("ids"))


@frame("headline_unique")
def headline_unique(x: Inputs) -> pl.DataFrame:
    """One row per worldwide, unbroken outcome of a headline metric: (operation, metric) must be
    unique."""
    h = headline_outcomes(x.t["outcomes"])
    g = h.group_by("operation_id", "metric").agg(pl.col("outcome_id").sort().str.join(", ").alias("ids"),
                                                 pl.len().alias("n"))
    return h.join(g, on=["operation_id", "metric"]).select(
        pl.format("{}.{}", pl.col("operation_id"), pl.col("metric")).alias("row_key"),
        pl.lit("outcomes").alias("table"), "operation_id", "metric", "ids", "n")


def _name_key(col: str) -> pl.Expr:
    """A name compared across languages' spelling: lower case, accents and punctuation away, spaces one."""
    return (pl.col(col).str.normalize("NFKD").str.replace_all(r"\p{Mn}", "").str.to_lowercase()
            .str.replace_all(r"[^\w]+", " ").str.strip_chars())


def _detail_operation_names() -> pl.Expr:
    return (pl.format("the name {} is used by {} operations: {}", pl.col("name"),
            pl.col("n"), pl.col("ids")))


@frame("operation_names")
def operation_names(x: Inputs) -> pl.DataFrame:
    """One row per name of an operation (its own name and its aliases, compared without case, accents
    or punctuation), with how many operations use it: one operation, one name."""
    o = x.t["operations"]
    ops = o.select("operation_id", pl.col("name"))
    if "series" in o.columns:  # a phase of a series is named by its number too ("luz_na_infancia 7")
        ops = pl.concat([ops, o.filter(pl.col("series").is_not_null()).select(
            "operation_id", pl.format("{} {}", pl.col("series"), pl.col("phase")).alias("name"))])
    names = ops
    if "aliases" in x.t:
        names = pl.concat([ops, x.t["aliases"].select("operation_id", pl.col("alias").alias("name"))])
    g = names.with_columns(_name_key("name").alias("_k")).group_by("_k").agg(
        pl.col("name").first(), pl.col("operation_id").unique().sort().str.join(", ").alias("ids"),
        pl.col("operation_id").n_unique().cast(pl.Int64).alias("n"))
    return g.select(pl.col("_k").alias("row_key"), pl.lit("operations").alias("table"), "name", "ids", "n")


def _detail_operation_fingerprints() -> pl.Expr:
    return (pl.format(
            "{} operations have the same dates and figures ({}): one operation under two names?", pl.col("n"), pl.col("ids")))


@frame("operation_fingerprints")
def operation_fingerprints(x: Inputs) -> pl.DataFrame:
    """One row per set of operations with the same dates and the same worldwide figures (at least two
    figures, or one figure and a date): the same operation entered twice under different names."""
    o = headline_outcomes(x.t["outcomes"]).filter(pl.col("value").is_not_null())
    figs = o.sort("metric").group_by("operation_id").agg(
        pl.format("{}={}", pl.col("metric"), pl.col("value")).str.join(";").alias("_f"), pl.len().alias("_nf"))
    ops = x.t["operations"].select(
        "operation_id", pl.format("{}|{}|{}", pl.col("launched").cast(pl.Utf8).fill_null("-"),
                                  pl.col("announced").cast(pl.Utf8).fill_null("-"),
                                  pl.col("concluded").cast(pl.Utf8).fill_null("-")).alias("_d"))
    j = ops.join(figs, on="operation_id", how="inner").filter(
        (pl.col("_nf") >= 2) | ((pl.col("_nf") >= 1) & (pl.col("_d") != "-|-|-")))
    g = j.group_by("_d", "_f").agg(pl.col("operation_id").sort().str.join(", ").alias("ids"),
                                   pl.len().cast(pl.Int64).alias("n"))
    return g.select(pl.col("ids").alias("row_key"), pl.lit("operations").alias("table"), "ids", "n")


def _detail_phrase_nouns() -> pl.Expr:
    return (pl.format(
            "{} counts {} ({}), which metric {} does not count", pl.col("stated"), pl.col("kind"), pl.col("noun"),
            pl.col("metric")))


@frame("phrase_nouns", sources="source_id")
def phrase_nouns(x: Inputs) -> pl.DataFrame:
    """One row per figure claim whose phrase holds a noun the language rules can read (``noun`` of its
    language in phrase_rules.toml): the kind of thing it counts and whether its metric counts that kind
    (``fits``: 0 when the metric's ``not_counted`` names it)."""
    import re

    from opsledger.declarations import declarations, phrase_rules

    langs = phrase_rules()["language"]
    not_counted = {m: set(spec.not_counted) for m, spec in declarations().vocabulary_file.metric.items()}
    lang_of = dict(x.t["sources"].select("source_id", "language").iter_rows())
    rows = []
    c = x.t["claims"].filter(pl.col("metric").is_not_null() & (pl.col("target_column") == "value"))
    # only a phrase holding one of the nouns can give a row: an ASCII phrase whose lower case holds none
    # gives none (for ASCII text polars' lower case is Python's); any other phrase is read below
    every = sorted({w for spec in langs.values() for w in spec.get("noun", {})})
    stated_col = pl.col("stated")
    c = c.filter((stated_col.str.len_bytes() != stated_col.str.len_chars())
                 | stated_col.str.to_lowercase().str.contains_any(every)) if every else c.clear()
    word = re.compile(r"[^\W\d_][\w-]*")
    for cid, sid, stated, metric in c.select("claim_id", "source_id", "stated", "metric").iter_rows():
        nouns = langs.get(lang_of.get(sid) or "en", {}).get("noun", {})
        if not nouns or not stated:
            continue
        words = word.findall(stated.lower())
        for w in words:
            kind = nouns.get(w)
            if kind is not None:
                rows.append((cid, sid, stated, metric, w, kind, 0 if kind in not_counted.get(metric, set()) else 1))
                break
    return pl.DataFrame(rows, orient="row", schema={
        "row_key": pl.Utf8, "source_id": pl.Utf8, "stated": pl.Utf8, "metric": pl.Utf8, "noun": pl.Utf8,
        "kind": pl.Utf8, "fits": pl.Int64}).with_columns(pl.lit("claims").alias("table"))


def _detail_additional_counts() -> pl.Expr:
    return (pl.format(
            "{} reads as a count that adds to another (\"{}\"), but it supports {}, a worldwide total: enter it as a "
            "part (part_of, a subgroup, or the area it counts)", pl.col("stated"), pl.col("word"), pl.col("target_id")))


@frame("additional_counts", sources="source_id")
def additional_counts(x: Inputs) -> pl.DataFrame:
    """One row per figure claim on an outcome with an ``additional`` word of its language (phrase_rules.toml)
    directly before its figure (the last word before the phrase in its quotation, or a word of the phrase
    before its first digit: "another 29 arrests", "weitere 68") or directly after it ("68 additional
    suspects"), unless it leaves the home country out (``excludes_home``: "24 other countries" is read as a
    total already): ``total`` is 1 when the row it supports is a worldwide total (no ``part_of``, no
    ``subgroup``), which such a count never is."""
    from opsledger.declarations import phrase_rules

    langs = {code: list(lang.get("additional", ())) for code, lang in phrase_rules()["language"].items()}
    c = x.t["claims"].filter((pl.col("target_table") == "outcomes") & (pl.col("target_column") == "value")
                             & ~pl.col("excludes_home").fill_null(False))
    c = c.join(x.t["sources"].select("source_id", "language"), on="source_id", how="left")
    # the quotation up to the phrase (split by it: str.find counts bytes, str.slice characters)
    prefix = pl.when(pl.col("quotation").str.contains(pl.col("stated"), literal=True)).then(
        pl.col("quotation").str.split(pl.col("stated"), inclusive=False).list.first())
    # the word just before the phrase, the word before its first digit, the word right after its figure
    candidates = [w.str.to_lowercase() for w in (
        prefix.str.extract(r"([^\W\d_]+)\W*$", 1),
        pl.col("stated").str.extract(r"([^\W\d_]+)\s+\d", 1),
        pl.col("stated").str.extract(r"\d[\d.,]*\s+([^\W\d_]+)", 1),
    )]
    word = pl.lit(None, pl.Utf8)
    for code, words in langs.items():
        if words:
            hit = pl.coalesce([pl.when(w.is_in([v.lower() for v in words])).then(w) for w in candidates])
            word = pl.when(pl.col("language") == code).then(hit).otherwise(word)
    hits = c.select("claim_id", "source_id", "stated", "target_id", word.alias("word")).filter(
        pl.col("word").is_not_null())
    o = x.t["outcomes"].select(pl.col("outcome_id").alias("target_id"), (
        (pl.col("scope") == "worldwide") & pl.col("part_of").is_null() & pl.col("subgroup").is_null()
    ).cast(pl.Int64).alias("total"))
    return hits.join(o, on="target_id", how="left").select(
        pl.col("claim_id").alias("row_key"), pl.lit("claims").alias("table"), "source_id", "stated", "word",
        "target_id", pl.col("total").fill_null(0))


FAMILY = Family("meaning", "8. What a figure means: scope, time and part-of", parameters=parameters)

RULES = [
    Rule("meaning.scope_named", "error",
         "A row's scope names its place exactly: a country for `country`, an area for `region`, neither for `worldwide`.",
         frame=scope_columns, detail=_detail_scope_columns,
         decision=(expect("column_values_to_be_in_set", column="shape", value_set={"$PARAMETER": "scope_shapes"}),)),
    Rule("meaning.claim_scope_matches_outcome", "error",
         "A claim covers the same area as the outcome it supports (a regional or national figure never supports a worldwide one).",
         frame=claim_scope, detail=_detail_claim_scope,
         decision=(expect("column_pair_values_to_be_equal", column_A="where", column_B="t_where"),)),
    Rule("meaning.offender_role_is_one_person", "error",
         "offender_role is only for rows about one offender, with a metric that can describe one person; a subset of offenders is a subgroup or a scope.",
         frame=offender_role, detail=_detail_offender_role,
         decision=(expect("column_values_to_be_in_set", column="metric", value_set={"$PARAMETER": "per_offender_metrics"}),)),
    Rule("meaning.part_of_same_quantity", "error",
         "A breakdown names a total of the same operation and metric, and is narrower than it (a place, a subgroup or one offender).",
         frame=part_of, detail=_detail_part_of,
         decision=(expect("column_pair_values_to_be_equal", column_A="quantity", column_B="total"),
                   expect("column_values_to_be_in_set", column="dimension", value_set={"$PARAMETER": "breakdowns"}))),
    Rule("meaning.breakdown_names_total", "error",
         "A breakdown of a metric that also has a worldwide total in the operation names that total in part_of.",
         frame=breakdown_named, detail=_detail_breakdown_named,
         decision=(expect("column_values_to_not_be_null", column="part_of"),)),
    Rule("meaning.parts_within_total", "error",
         "The parts of a total never add up to more than the total allows (countries summed; each region and subgroup on its own).",
         frame=parts_within_total, detail=_detail_parts_within_total,
         decision=(expect("column_pair_values_a_to_be_greater_than_b", column_A="t_high", column_B="sum_low", or_equal=True, ignore_row_if="either_value_is_missing"),)),
    Rule("meaning.running_total_falls", "error",
         "A running total never falls: a figure dated later is not below one dated earlier.",
         frame=running_totals, detail=_detail_running_totals,
         decision=(expect("column_pair_values_a_to_be_greater_than_b", column_A="high", column_B="e_low", or_equal=True, ignore_row_if="either_value_is_missing"),)),
    Rule("meaning.dispute_needs_two_sources", "error",
         "A disputed figure is a disagreement between at least two sources.",
         frame=disputed_sources, detail=_detail_disputed_sources,
         decision=(expect("column_values_to_be_between", column="n_sources", min_value=2),)),
    Rule("meaning.as_of_not_after_source", "error",
         "A claim's figure is not dated after its source was published.",
         frame=claim_as_of, detail=_detail_claim_as_of,
         decision=(expect("column_pair_values_a_to_be_greater_than_b", column_A="pub_end", column_B="as_of", or_equal=True, ignore_row_if="either_value_is_missing"),)),
    Rule("meaning.one_headline_per_metric", "error",
         "An operation has at most one worldwide, unbroken figure per headline metric.",
         frame=headline_unique, detail=_detail_headline_unique,
         decision=(expect("compound_columns_to_be_unique", column_list=["operation_id", "metric"]),)),
    Rule("meaning.one_operation_per_name", "error",
         "No two operations share a name or an alias (compared without case, accents or punctuation): one operation is one row, whatever its name in another language or at a partner agency.",
         frame=operation_names, detail=_detail_operation_names,
         decision=(expect("column_values_to_be_between", column="n", max_value=1),)),
    Rule("meaning.one_operation_per_fingerprint", "error",
         "No two operations have the same dates and the same worldwide figures (the same operation entered under two names).",
         frame=operation_fingerprints, detail=_detail_operation_fingerprints,
         decision=(expect("column_values_to_be_between", column="n", max_value=1),)),
    Rule("meaning.noun_fits_metric", "error",
         "Where the language rules can read the noun of a figure's phrase, its metric counts that kind of thing: addresses, downloads, reports, visits and a site's capacity are not people or accounts (each metric's not_counted).",
         frame=phrase_nouns, detail=_detail_phrase_nouns,
         decision=(expect("column_values_to_be_between", column="fits", min_value=1),)),
    Rule("meaning.additional_is_a_part", "error",
         "A figure its phrase reads as adding to another count (\"another 29\", \"68 additional suspects\", \"weitere 68\": the `additional` words of its language, directly before or after the figure) supports a part (part_of or a subgroup), never a total: N additional suspects beyond those arrested are not all the suspects.",
         frame=additional_counts, detail=_detail_additional_counts,
         decision=(expect("column_values_to_be_between", column="total", max_value=0),)),
]
