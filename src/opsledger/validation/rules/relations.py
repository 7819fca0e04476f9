"""Relations between an operation's own figures: a part never exceeds what it is part of. The pairs are
declared in ``schemas/vocabularies.toml`` (``at_most`` of a metric); each gets the frame
``at_most_<metric>``, which its rule in ``checks/suites/relations.json`` names."""

from __future__ import annotations

import polars as pl

from opsledger.data import fmt
from opsledger.declarations import metric_relations
from opsledger.validation.rules.base import Inputs, frame, phrases_said


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
    return frame(name, detail=detail)(build)


for _small, _large in metric_relations():  # ``at_most`` in schemas/vocabularies.toml
    _relation(f"at_most_{_small}", _small, _large)
