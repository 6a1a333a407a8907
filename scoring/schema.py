"""The Kaggle Home Credit schema, as one compact spec shared by the generator and ingest.

The spec lives in ``scoring/resources/kaggle_schema.json`` (built once from the real rows by
``tools/build_schema.py`` and committed): for every Kaggle file, its columns in Kaggle order, the
dtype family Kaggle writes (``int``, ``float`` or ``str``), the allowed levels of every text
column, the keys, and the data-dictionary description of each column.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

DtypeFamily = Literal["int", "float", "str"]

APPLICATION_TRAIN = "application_train"
APPLICATION_TEST = "application_test"
HISTORY_TABLES: tuple[str, ...] = (
    "bureau",
    "bureau_balance",
    "previous_application",
    "POS_CASH_balance",
    "installments_payments",
    "credit_card_balance",
)
ALL_TABLES: tuple[str, ...] = (APPLICATION_TRAIN, APPLICATION_TEST, *HISTORY_TABLES)

#: DAYS_EMPLOYED = 365243 marks pensioners / unemployed clients, not 1,000 years of work.
#: The same value appears in previous_application's DAYS_* columns for "no date".
DAYS_SENTINEL = 365243


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    dtype: DtypeFamily
    description: str
    levels: tuple[str, ...] | None = None  # allowed values of a text column


@dataclass(frozen=True)
class TableSchema:
    name: str
    keys: tuple[str, ...]
    columns: tuple[ColumnSpec, ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")


@cache
def load_schema() -> dict[str, TableSchema]:
    """All 8 Kaggle tables, keyed by Kaggle file stem (e.g. ``"POS_CASH_balance"``)."""
    raw = json.loads(
        resources.files("scoring").joinpath("resources/kaggle_schema.json").read_text("utf-8")
    )
    out: dict[str, TableSchema] = {}
    for name, spec in raw.items():
        cols = tuple(
            ColumnSpec(
                name=c["name"],
                dtype=c["dtype"],
                description=c.get("description", ""),
                levels=tuple(c["levels"]) if "levels" in c else None,
            )
            for c in spec["columns"]
        )
        out[name] = TableSchema(name=name, keys=tuple(spec["keys"]), columns=cols)
    return out


def table_schema(name: str) -> TableSchema:
    schema = load_schema()
    if name not in schema:
        raise KeyError(f"unknown table {name!r}; expected one of {sorted(schema)}")
    return schema[name]
