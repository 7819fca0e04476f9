"""What a reader sees for a figure: the preferred claim's phrase with its range ("nearly 63,000 (56,700
to under 63,000)", "more than 90,000"), never a bound that a hedge only implies (62,999 for "nearly
63,000", 90,001 for "more than 90,000").

The numeric columns (``value``, ``value_low``, ``value_high``) stay for analysis; this module writes
their text. The words before a figure are the ``display`` of each ``[hedge.*]`` rule in
``schemas/phrase_rules.toml``; a bound set by a strict hedge (``low_steps > 0``: "more than";
``high_steps < 0``: "nearly", "fewer than") is written as that hedge's figure ("over 60,000",
"under 63,000"), not as the integer next to it.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Iterable

import polars as pl

from opsledger.data import fmt
from opsledger.derive.phrases import rules, step


def _hedges() -> dict[str, Any]:
    return rules()["hedge"]


def _hedge_words(qualifier: str | None, hedges: dict[str, Any] | None = None) -> str:
    h = (_hedges() if hedges is None else hedges).get(qualifier or "")
    if h is None:
        return ""
    return h["display"] if isinstance(h, dict) else getattr(h, "display", "")


def _steps(qualifier: str | None, hedges: dict[str, Any] | None = None) -> tuple[int, int]:
    h = (_hedges() if hedges is None else hedges).get(qualifier or "")
    if h is None:
        return 0, 0
    return int(h.get("low_steps", 0)), int(h.get("high_steps", 0))


def _same(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and math.isclose(a, b, rel_tol=0, abs_tol=1e-6)


def _unit_step(unit: str | None) -> float:
    try:
        return step(unit or "count")
    except Exception:  # a unit with no step: whole numbers
        return 1.0


def bounds_text(low: float | None, high: float | None, unit: str | None = None,
                low_strict: bool = False, high_strict: bool = False) -> str:
    """An interval as a reader says it. A strict bound (set by "more than" or "nearly") is written as
    the figure it is strictly beyond: 90,001 with ``low_strict`` reads "more than 90,000"."""
    s = _unit_step(unit)
    if low is None and high is None:
        return "any number"
    lo_txt = (f"more than {fmt.number(low - s, unit)}" if low_strict and low is not None
              else (f"{fmt.number(low, unit)} or more" if low is not None else ""))
    if high is None:
        return lo_txt
    hi_txt = f"fewer than {fmt.number(high + s, unit)}" if high_strict else f"up to {fmt.number(high, unit)}"
    if low is None or (low == 0 and high > 0 and not low_strict):
        return hi_txt
    if _same(low, high):
        return fmt.number(low, unit)
    a = f"over {fmt.number(low - s)}" if low_strict else fmt.number(low)
    b = f"under {fmt.number(high + s, unit)}" if high_strict else fmt.number(high, unit)
    return f"{a} to {b}"


def claim_phrase(qualifier: str | None, anchor: float | None, low: float | None, high: float | None,
                 unit: str | None = None, hedges: dict[str, Any] | None = None) -> str:
    """A claim as the reader sees it: its hedge's words and its stated figure as a total ("more than
    90,000"; "25" for "24 other countries"); a range or words of magnitude as their bounds."""
    if anchor is None or qualifier in ("range", "magnitude"):
        return bounds_text(low, high, unit)
    words = _hedge_words(qualifier, hedges)
    return f"{words} {fmt.number(anchor, unit)}".strip()


def claim_bounds(qualifier: str | None, low: float | None, high: float | None, unit: str | None = None) -> str:
    """What one claim allows, its strict bounds written as the figure ("more than 90,000")."""
    lo_steps, hi_steps = _steps(qualifier)
    return bounds_text(low, high, unit, low_strict=lo_steps > 0, high_strict=hi_steps < 0)


def _strict(claims: Iterable[dict], low: float | None, high: float | None,
            hedges: dict[str, Any] | None = None) -> tuple[bool, bool]:
    lo_s = hi_s = False
    for c in claims:
        lo_steps, hi_steps = _steps(c.get("qualifier"), hedges)
        if lo_steps > 0 and _same(c.get("low"), low):
            lo_s = True
        if hi_steps < 0 and _same(c.get("high"), high):
            hi_s = True
    return lo_s, hi_s


def range_text(low: float | None, high: float | None, unit: str | None, claims: Iterable[dict]) -> str:
    """An outcome's bounds as words, a bound set by a strict hedge of one of its claims written as
    that claim's figure."""
    lo_s, hi_s = _strict(list(claims), low, high)
    return bounds_text(low, high, unit, lo_s, hi_s)


def anchor(c: dict) -> float | None:
    """A claim's stated figure as a total (the figure, plus the home country when it is left out)."""
    return _anchor(c)


def _anchor(c: dict) -> float | None:
    if c.get("figure") is None:
        return None
    return c["figure"] + (1 if c.get("excludes_home") else 0)


def _contains(c: dict, v: float | None) -> bool:
    if v is None:
        return False
    lo = min(x for x in (c.get("low"), _anchor(c)) if x is not None) if (c.get("low") is not None or _anchor(c) is not None) else -math.inf
    hi_vals = [x for x in (c.get("high"), _anchor(c)) if x is not None]
    hi = math.inf if c.get("high") is None else max(hi_vals)
    return lo - 1e-6 <= v <= hi + 1e-6


def preferred(claims: list[dict], value: float | None) -> dict | None:
    """The claim a figure is shown as: of the claims (in preference order) that allow the value, the
    one whose stated figure is nearest to it (reconciliation sets the value from a claim's figure)."""
    allowing = [c for c in claims if _contains(c, value)]
    if not allowing:
        return claims[0] if claims else None
    anchored = [c for c in allowing if _anchor(c) is not None]
    if not anchored or value is None:
        return allowing[0]
    return min(anchored, key=lambda c: abs(_anchor(c) - value))  # type: ignore[operator]


def display(outcome: dict, claims: list[dict], where: str | None = None, parts_low: float | None = None,
            hedges: dict[str, Any] | None = None) -> str:
    """The text of one reconciled figure: its preferred claim's phrase, then its range where that
    says more, the scope where it is not worldwide ("46, in New Zealand"), and for a disputed figure
    both readings: the range most sources allow and everything any source allows.

    ``claims``: the figure's current value claims (dicts with qualifier, figure, excludes_home, low,
    high), in preference order. ``parts_low``: the least its disjoint parts add up to; where that is
    more than its claims allow, both readings are shown. ``hedges``: the ``[hedge.*]`` rules (default:
    read from the declarations).
    """
    hedges = _hedges() if hedges is None else hedges
    v, lo, hi = outcome.get("value"), outcome.get("value_low"), outcome.get("value_high")
    if v is None and lo is None and hi is None and not claims:
        return ""
    p = preferred(claims, v)
    strict = (*_strict(claims, lo, hi, hedges), *_strict(claims, outcome.get("sources_low"),
                                                          outcome.get("sources_high"), hedges))
    return _text(outcome, p, strict, where, parts_low, hedges)


def _text(outcome: dict, p: dict | None, strict: tuple[bool, bool, bool, bool], where: str | None,
          parts_low: float | None, hedges: dict[str, Any]) -> str:
    """:func:`display` once its preferred claim ``p`` is chosen and it is known which bounds a strict
    hedge sets (``strict``: the low and high bound, then the sources' low and high)."""
    unit = outcome.get("unit")
    lo, hi = outcome.get("value_low"), outcome.get("value_high")
    phrase = (claim_phrase(p.get("qualifier"), _anchor(p), p.get("low"), p.get("high"), unit, hedges) if p is not None
              else bounds_text(lo, hi, unit))
    rng = bounds_text(lo, hi, unit, strict[0], strict[1])
    text = phrase + (f", in {where}" if where else "")
    if outcome.get("status") == "disputed" and parts_low is not None and hi is not None and parts_low > hi:
        return (f"{text} (disputed: its sources allow {rng}; its parts add up to at least "
                f"{fmt.number(parts_low, unit)})")
    if outcome.get("status") == "disputed":
        every = bounds_text(outcome.get("sources_low"), outcome.get("sources_high"), unit, strict[2], strict[3])
        return f"{text} (disputed: most sources allow {rng}; the sources together {every})"
    if rng == phrase or (p is not None and _same(lo, hi) and _same(lo, _anchor(p))):
        return text
    return f"{text} ({rng})"


def _choices(outcomes: pl.DataFrame, claims: pl.DataFrame, hedges: dict[str, Any]) -> pl.DataFrame:
    """For each outcome with claims (``claims``: its value claims in preference order), what
    :func:`display` decides from them, for all outcomes at once: the preferred claim (``p_*``: the
    claim :func:`preferred` picks) and which of the outcome's bounds a strict hedge of one of its
    claims sets (``s0`` to ``s3``, as :func:`_strict` finds them)."""
    q = pl.col("qualifier").fill_null("")
    steps = {k: _steps(k, hedges) for k in claims.get_column("qualifier").fill_null("").unique().to_list()}
    lo_steps = q.replace_strict({k: v[0] for k, v in steps.items()}, return_dtype=pl.Int64) if steps else pl.lit(0)
    hi_steps = q.replace_strict({k: v[1] for k, v in steps.items()}, return_dtype=pl.Int64) if steps else pl.lit(0)
    anchor = pl.col("figure") + pl.when(pl.col("excludes_home").fill_null(False)).then(1).otherwise(0)
    c = claims.with_row_index("_ord").with_columns(anchor.alias("_anchor"), lo_steps.alias("_los"),
                                                   hi_steps.alias("_his"))
    v = pl.col("value")
    lo = pl.min_horizontal("low", "_anchor").fill_null(-math.inf)
    hi = pl.when(pl.col("high").is_null()).then(math.inf).otherwise(pl.max_horizontal("high", "_anchor"))
    allows = (v.is_not_null() & (lo - 1e-6 <= v) & (v <= hi + 1e-6)).fill_null(False)
    near = (allows & pl.col("_anchor").is_not_null())

    def same(a: str, b: str) -> pl.Expr:
        return ((pl.col(a) - pl.col(b)).abs() <= 1e-6).fill_null(False)

    bounds = ["value_low", "value_high", "sources_low", "sources_high"]
    # a statistic has no sources_low / sources_high: its figures are read without them
    have = [pl.col(b) if b in outcomes.columns else pl.lit(None, pl.Float64).alias(b) for b in bounds]
    j = c.join(outcomes.select(pl.col("outcome_id").alias("target_id"), "value", *have), on="target_id",
               how="inner", maintain_order="left").with_columns(
        pl.when(near).then(0).when(allows).then(1).otherwise(2).alias("_tier"),
        pl.when(near).then((pl.col("_anchor") - v).abs()).otherwise(0.0).alias("_dist"),
        ((pl.col("_los") > 0) & same("low", "value_low")).alias("s0"),
        ((pl.col("_his") < 0) & same("high", "value_high")).alias("s1"),
        ((pl.col("_los") > 0) & same("low", "sources_low")).alias("s2"),
        ((pl.col("_his") < 0) & same("high", "sources_high")).alias("s3"))
    flags = j.group_by("target_id").agg(pl.col("s0", "s1", "s2", "s3").any())
    chosen = (j.sort("_tier", "_dist", "_ord").group_by("target_id", maintain_order=True).first()
              .select("target_id", *[pl.col(k).alias(f"p_{k}") for k in ("qualifier", "figure", "excludes_home",
                                                                          "low", "high")]))
    return chosen.join(flags, on="target_id").rename({"target_id": "outcome_id"})


@functools.cache
def _country_name(code: str) -> str:
    try:
        import pycountry

        c = pycountry.countries.get(alpha_2=code)
        return (getattr(c, "common_name", None) or c.name) if c else code
    except ImportError:  # pragma: no cover
        return code


def where(outcome: dict) -> str | None:
    """A figure's scope as words ("New Zealand", "outside ar"); None when worldwide."""
    if outcome.get("scope") in (None, "worldwide"):
        return None
    if outcome.get("country"):
        return _country_name(outcome["country"])
    area = outcome.get("area") or ""
    if area.startswith("outside_") and len(area) == len("outside_xx"):
        return f"outside {_country_name(area[-2:].upper())}"
    return fmt.words(area) or None


def displays(outcomes: pl.DataFrame, value_claims: pl.DataFrame, with_scope: bool = False,
             parts_low: pl.DataFrame | None = None) -> pl.DataFrame:
    """``outcome_id`` -> ``display`` for every outcome. ``value_claims`` are the current value claims
    with ``target_id``, ``pref``, ``width`` and the claim columns (see ``reconcile.value_claims``);
    ``parts_low``: (outcome_id, the least its disjoint parts add up to). What :func:`display` decides
    from the claims is decided for all outcomes at once (:func:`_choices`); only the text is written
    one outcome at a time."""
    hedges = _hedges()
    cols = ["target_id", "claim_id", "qualifier", "figure", "excludes_home", "low", "high"]
    # only the claims of the outcomes shown (the headline's: a few of a million claims), in preference order
    shown = value_claims.filter(pl.col("target_id").is_in(outcomes.get_column("outcome_id").implode()))
    ordered = shown.sort(["pref", "width", "claim_id"]).select(cols)
    o = outcomes.join(_choices(outcomes, ordered, hedges), on="outcome_id", how="left", maintain_order="left")
    if parts_low is not None:
        o = o.join(parts_low.select(pl.col(parts_low.columns[0]).alias("outcome_id"),
                                    pl.col(parts_low.columns[1]).alias("_parts_low")), on="outcome_id", how="left",
                   maintain_order="left")
    rows = []
    for r in o.iter_rows(named=True):
        p = None if r["s0"] is None else {  # (s0 is null for an outcome without claims)
            "qualifier": r["p_qualifier"], "figure": r["p_figure"], "excludes_home": r["p_excludes_home"],
            "low": r["p_low"], "high": r["p_high"]}
        if p is None and r["value"] is None and r["value_low"] is None and r["value_high"] is None:
            rows.append((r["outcome_id"], ""))
            continue
        strict = (bool(r["s0"]), bool(r["s1"]), bool(r["s2"]), bool(r["s3"]))
        rows.append((r["outcome_id"], _text(r, p, strict, where(r) if with_scope else None,
                                            r.get("_parts_low"), hedges)))
    return pl.DataFrame(rows, schema={"outcome_id": pl.Utf8, "display": pl.Utf8}, orient="row")
