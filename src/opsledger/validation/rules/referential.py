"""Referential rules: every foreign key declared in ``schemas/`` finds its row (one rule per key,
generated from the declarations, never listed by hand), and every claim's target exists."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from opsledger.declarations import TABLES, tables as declarations
from opsledger.validation.rules.base import Family, Frame, Inputs, Rule, expect, frame


def _table_frame(name: str):
    def build(x: Inputs) -> pl.DataFrame:
        """One row per row of the table: its key, each foreign key, and the key that foreign key finds
        in the table it references (``<column>_found``, null when it finds none)."""
        decl = declarations()[name]
        t = x.t
        out = t[name].select(pl.col(decl.key).alias("row_key"), *[fk.column for fk in decl.foreign_keys],
                             pl.lit(name).alias("table"))
        for fk in decl.foreign_keys:
            found = t[fk.table].select(pl.col(fk.ref_column).alias(fk.column),
                                       pl.col(fk.ref_column).alias(f"{fk.column}_found")).unique()
            out = out.join(found, on=fk.column, how="left")
        return out

    def detail() -> pl.Expr:
        decl = declarations()[name]
        parts = [pl.when(pl.col(fk.column).is_not_null() & pl.col(f"{fk.column}_found").is_null())
                 .then(pl.format(f"{fk.column} {{}} is not a {fk.table}.{fk.ref_column}", pl.col(fk.column)))
                 for fk in decl.foreign_keys]
        return pl.concat_str(parts, separator="; ", ignore_nulls=True) if parts else pl.lit("")

    build.__name__ = f"frame_{name}"
    return frame(name)(build), detail


#: each table's frame and the detail of its failing rows (every foreign key it breaks)
TABLE_FRAMES: dict[str, tuple[Frame, Callable[[], pl.Expr]]] = {_name: _table_frame(_name) for _name in TABLES}


def foreign_key_rules() -> list[Rule]:
    """One rule per foreign key declared in ``schemas/``: the value equals the key it finds (null: none)."""
    out = []
    for t in declarations().values():
        fr, detail = TABLE_FRAMES[t.name]
        for fk in t.foreign_keys:
            out.append(Rule(
                f"referential.{t.name}.{fk.column}", "error",
                f"Every {t.name}.{fk.column} names an existing {fk.table}.{fk.ref_column}.",
                frame=fr, detail=detail,
                decision=(expect("column_pair_values_to_be_equal", column_A=fk.column, column_B=f"{fk.column}_found",
                                 ignore_row_if="both_values_are_missing"),)))
    return out


def _detail_claim_target() -> pl.Expr:
    return pl.format("{}[{}] does not exist", pl.col("target_table"), pl.col("target_id"))


@frame("claim_target", sources="source_id")
def claim_target(x: Inputs) -> pl.DataFrame:
    """One row per claim: its target row, and the key the target table has for it (null: none)."""
    from opsledger.derive.reconcile import KEYS

    c = x.t["claims"].select("claim_id", "source_id", "target_table", "target_id")
    idx = pl.concat([x.t[name].select(pl.lit(name).alias("target_table"), pl.col(key).alias("target_id"),
                                      pl.col(key).alias("target_found")) for name, key in KEYS.items()])
    return c.join(idx, on=["target_table", "target_id"], how="left").rename({"claim_id": "row_key"}).with_columns(
        pl.lit("claims").alias("table"))


FAMILY = Family("referential", "1. Referential integrity across every table", generated=foreign_key_rules,
                note="One rule per declared foreign key (schemas/, `references`) is generated from the declarations; "
                     "only rules that are not a plain foreign key are listed here.")

RULES = [
    Rule("referential.claims.target", "error",
         "Every claim supports an existing row: target_id exists in target_table.",
         frame=claim_target, detail=_detail_claim_target,
         decision=(expect("column_pair_values_to_be_equal", column_A="target_id", column_B="target_found",
                          ignore_row_if="both_values_are_missing"),)),
]
