"""JSON request bodies built from real rows (tests, benchmarks, docs examples).

A Kaggle row read by pandas carries numpy scalars, NaN for missing values and floats for
integer columns that had gaps; the API wants plain JSON with the Kaggle types. These helpers do
that conversion once, following :mod:`scoring.schema`, so every caller sends what a real client
would send.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from scoring.schema import APPLICATION_TEST, HISTORY_TABLES, table_schema

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


@functools.cache
def _test_inputs(bundle_dir: str) -> dict[str, pd.DataFrame]:
    folder = Path(bundle_dir) / "test_inputs"
    return {path.stem: pd.read_parquet(path) for path in sorted(folder.glob("*.parquet"))}


def client_request(bundle_dir: Path, sk_id_curr: int, *, history: bool = True) -> dict[str, Any]:
    """The ``POST /v1/score`` body of a known client of a test bundle: its raw application and
    (``history=True``) every history record it has — what scores it exactly like the batch."""
    inputs = _test_inputs(str(bundle_dir))
    apps = inputs["application_test"]
    body: dict[str, Any] = {
        "application": application_json(apps[apps["SK_ID_CURR"] == sk_id_curr].iloc[0])
    }
    records: dict[str, list[dict[str, JsonValue]]] = {}
    bureau_ids: set[int] = set()
    for table in HISTORY_TABLES:
        frame = inputs.get(table)
        if frame is None:
            continue
        if "SK_ID_CURR" in frame.columns:
            rows = frame[frame["SK_ID_CURR"] == sk_id_curr]
            if table == "bureau":
                bureau_ids = set(rows["SK_ID_BUREAU"].astype("int64"))
        else:
            rows = frame[frame["SK_ID_BUREAU"].isin(bureau_ids)]
        if len(rows):
            records[table] = history_json(rows, table)
    if history and records:
        body["history"] = records
    return body
