"""JSON request bodies built from real rows (tests, benchmarks, docs examples).

A Kaggle row read by pandas carries numpy scalars, NaN for missing values and floats for
integer columns that had gaps; the API wants plain JSON with the Kaggle types. These helpers do
that conversion once, following :mod:`scoring.schema`, so every caller sends what a real client
would send.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from scoring.schema import APPLICATION_TEST, table_schema

JsonValue = int | float | str | None


def _plain(value: Any, dtype: str) -> JsonValue:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if dtype == "str":
        return str(value)
    x = float(value)
    if math.isnan(x):
        return None
    return int(x) if dtype == "int" else x


def application_json(
    row: Mapping[str, Any] | pd.Series, table: str = APPLICATION_TEST
) -> dict[str, JsonValue]:
    """One application row as the API accepts it: Kaggle columns only, JSON types, no TARGET."""
    get = row.get
    out: dict[str, JsonValue] = {}
    for col in table_schema(table).columns:
        if col.name == "TARGET":
            continue
        out[col.name] = _plain(get(col.name), col.dtype)
    return out


def history_json(frame: pd.DataFrame, table: str) -> list[dict[str, JsonValue]]:
    """Records of one history table as the API accepts them.

    Missing values are dropped, and so is ``SK_ID_CURR``: a record sent with an application
    belongs to it.
    """
    schema = table_schema(table)
    records: list[dict[str, JsonValue]] = []
    for rec in frame.to_dict(orient="records"):
        item = {
            c.name: _plain(rec.get(c.name), c.dtype)
            for c in schema.columns
            if c.name != "SK_ID_CURR"
        }
        records.append({k: v for k, v in item.items() if v is not None})
    return records
