"""Relations between an operation's own figures: a part never exceeds what it is part of. The pairs are
declared in ``schemas/vocabularies.toml`` (``at_most`` of a metric); each gets the frame
``at_most_<metric>``, which its rule in :data:`RULES` judges."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import polars as pl

from opsledger.data import fmt
from opsledger.declarations import metric_relations
from opsledger.validation.rules.base import Family, Frame, Inputs, Rule, expect, frame, phrases_said


def _relation(name: str, small: str, large: str):
    def build(x: Inputs) -> pl.DataFrame:
        """Per operation: its worldwide figures of the two metrics, and (where the first is the larger,
        for the finding's words) what the sources of each say, phrase by phrase as written."""
        o = x.t["outcomes"].filter(pl.col("country").is_null() & pl.col("offender_role").is_null()
                                   & pl.col("metric").is_in([small, large]))
        wide = o.pivot(on="metric", index="operation_id", values="value", aggregate_function="first")
        for m in (small, large):
            if m not in wide.columns:
                wide = wide.with_columns(pl.lit(None, pl.Float64).alias(m))
        wide = wide.select(pl.col("operation_id").alias("row_key"), pl.lit("operations").alias("table"),
                           pl.col(small).cast(pl.Float64), pl.col(large).cast(pl.Float64))
        over = wide.filter(pl.col(small) > pl.col(large)).get_column("row_key")
        if over.is_empty():
            return wide.with_columns(pl.lit(None, pl.Utf8).alias("small_says"), pl.lit(None, pl.Utf8).alias("large_says"))
        vc = x.value_claims("outcomes")
        ids = o.filter(pl.col("operation_id").is_in(over.implode())).select("outcome_id", "operation_id", "metric")
        said = vc.join(ids, left_on="target_id", right_on="outcome_id").group_by("operation_id", "metric").agg(
            phrases_said().alias("says"))
        for m, col in ((small, "small_says"), (large, "large_says")):
            wide = wide.join(said.filter(pl.col("metric") == m).select(pl.col("operation_id").alias("row_key"),
                                                                     pl.col("says").alias(col)),
                             on="row_key", how="left", maintain_order="left")
        return wide

    build.__name__ = f"frame_{name}"
    detail = lambda: pl.format(f"{small.replace('_', ' ')} ({{}}) are more than {large.replace('_', ' ')} ({{}})",  # noqa: E731
                               pl.col("small_says").fill_null(fmt.num_token(small)),
                               pl.col("large_says").fill_null(fmt.num_token(large)))
    return frame(name)(build), detail


#: each relation's frame and the detail of its failing rows, by its smaller metric (``at_most`` in
#: schemas/vocabularies.toml)
AT_MOST: dict[str, tuple[Frame, Callable[[], pl.Expr]]] = {
    _small: _relation(f"at_most_{_small}", _small, _large) for _small, _large in metric_relations()}


def _at_most(name: str, severity: Literal["error", "warning"], description: str, small: str, large: str) -> Rule:
    fr, detail = AT_MOST[small]
    return Rule(name, severity, description, frame=fr, detail=detail,
                decision=(expect("column_pair_values_a_to_be_greater_than_b", column_A=large, column_B=small,
                                 or_equal=True, ignore_row_if="either_value_is_missing"),))


FAMILY = Family("relations", "5. Logical relations between metrics")

RULES = [
    _at_most("relations.accounts_referred_le_identified", "warning",
             "Accounts referred are no more than accounts identified.", "accounts_referred", "accounts_identified"),
    _at_most("relations.countries_engaged_le_referred", "warning",
             "Countries engaged are no more than countries referred.", "countries_engaged", "countries_referred"),
]
