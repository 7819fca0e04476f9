"""Relations between an operation's own figures: a part never exceeds what it is part of. The pairs are
declared in ``schemas/vocabularies.toml`` (``at_most`` of a metric); each gets the frame
``at_most_<metric>``, which its rule in ``checks/suites/relations.json`` names."""

from __future__ import annotations

import polars as pl

from opsledger.data import fmt
from opsledger.declarations import metric_relations
from opsledger.validation.rules.base import Inputs, frame


def _relation(name: str, small: str, large: str):
    def build(x: Inputs) -> pl.DataFrame:
        """Per operation: its worldwide figures of the two metrics."""
        o = x.t["outcomes"].filter(pl.col("country").is_null() & pl.col("offender_role").is_null())
        wide = o.pivot(on="metric", index="operation_id", values="value", aggregate_function="first")
        for m in (small, large):
            if m not in wide.columns:
                wide = wide.with_columns(pl.lit(None, pl.Float64).alias(m))
        return wide.select(pl.col("operation_id").alias("row_key"), pl.lit("operations").alias("table"),
                           pl.col(small).cast(pl.Float64), pl.col(large).cast(pl.Float64))

    build.__name__ = f"frame_{name}"
    detail = lambda: pl.format(f"{small.replace('_', ' ')} {{}} is more than {large.replace('_', ' ')} {{}}",  # noqa: E731
                               fmt.num_token(small), fmt.num_token(large))
    return frame(name, detail=detail)(build)


for _small, _large in metric_relations():  # ``at_most`` in schemas/vocabularies.toml
    _relation(f"at_most_{_small}", _small, _large)
