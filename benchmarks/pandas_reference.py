"""A straightforward pandas implementation of the same feature spec — the benchmark's baseline.

Written the way a competent pandas user writes it, not as a straw man: parquet read with only
the needed columns, text columns as ``category`` (1-byte codes), vectorised column arithmetic,
boolean masks for subsets, ``groupby(...).rank`` for "last N" windows, one
``groupby(key).agg(**named_aggregations)`` per subset with pandas' built-in (Cython)
aggregations, ``pd.get_dummies`` (uint8) + ``groupby().mean()`` for category shares, ``merge``
for the pre-joins. No ``apply``, no Python loop over rows or groups. It shares only the spec
parser and the row-level expression functions with the engine (row-level arithmetic is numpy in
both); every grouping, join and aggregation is pandas.

It doubles as an independent implementation: the unit tests check that the engine and this
reference produce the same features (tests/unit/test_features_reference.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scoring.features.application import (
    Frequencies,
    application_features,
    columns_from_frame,
    evaluate_derived,
)
from scoring.features.expr import columns, numpy_errors_ignored
from scoring.features.spec import ALL, CLIENT_KEY, FeatureSpec, HistoryBlock
from scoring.schema import table_schema

#: History tables: in-memory frames, or a folder of ``<table>.parquet`` read one at a time.
Tables = Mapping[str, pd.DataFrame] | Path


def read_table(directory: Path, table: str, wanted: Sequence[str]) -> pd.DataFrame:
    """Only the needed columns; text read as dictionary (category) — no str object per row."""
    order = [c for c in table_schema(table).column_names if c in set(wanted)]
    path = directory / f"{table}.parquet"
    if not path.is_file():  # a missing table means no history for anyone
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in order})
    text = [c for c in order if table_schema(table).column(c).dtype == "str"]
    return pd.read_parquet(path, columns=order, read_dictionary=text or None)


def client_features(spec: FeatureSpec, tables: Tables) -> dict[str, pd.DataFrame]:
    """Per-client features of every client-level block (index ``SK_ID_CURR``).

    From a folder, each table is read when its block runs and released afterwards, so the peak
    memory is one table plus the results, not all seven tables at once.
    """
    built: dict[str, pd.DataFrame] = {}
    for block in spec.blocks:  # children first
        if isinstance(tables, Path):
            source = read_table(tables, block.table, block.raw_columns)
        else:
            source = tables[block.table]
        built[block.name] = block_features(spec, block, source, built)
        del source
        for join in block.joins:  # a child's rows are only needed by its parent
            del built[join.block]
    return {b.name: built[b.name] for b in spec.client_blocks}


def block_features(
    spec: FeatureSpec,
    block: HistoryBlock,
    source: pd.DataFrame,
    built: Mapping[str, pd.DataFrame],
) -> pd.DataFrame:
    """One block: typed columns, pre-joins, derived columns, subsets, grouped aggregations."""
    schema = table_schema(block.table)
    keys = {block.key, *(j.on for j in block.joins)}
    df = pd.DataFrame(index=pd.RangeIndex(len(source)))
    sentinels = dict(block.sentinels)
    for col in block.raw_columns:
        dtype = schema.column(col).dtype
        if col in keys:
            df[col] = source[col].to_numpy(dtype=np.int64)
        elif dtype == "str":  # categorical: 1-byte codes instead of millions of str objects
            df[col] = source[col].astype("category")
        else:
            values = source[col].astype("float64").to_numpy()
            if col in sentinels:
                values = np.where(values == sentinels[col], np.nan, values)
            df[col] = values
    for join in block.joins:
        child = spec.block(join.block)
        df = df.merge(built[join.block], left_on=join.on, right_index=True, how="left")
        zero = [f.name for f in child.features if f.empty_value == 0.0]
        df[zero] = df[zero].fillna(0.0)
    if block.derived:
        arrays: dict[str, Any] = {c: _values(df[c]) for c in df.columns}
        evaluate_derived(block.derived, arrays, len(df))
        df = pd.concat([df, pd.DataFrame({d.name: arrays[d.name] for d in block.derived})], axis=1)
    key = block.key
    parts: list[pd.DataFrame] = []
    for sub in block.subsets:
        feats = [f for f in block.features if f.subset == sub.name]
        if not feats:
            continue
        if sub.name == ALL:
            rows = df
        elif sub.where is not None:
            with numpy_errors_ignored():
                mask = sub_where(sub.where, df) == 1
            rows = df[mask]
        else:
            rank = df.groupby(key)[str(sub.by)].rank(method="min", ascending=False)
            rows = df[rank <= sub.last]
        named = {f.name: (f.column, f.agg) for f in feats if f.agg != "share"}
        pieces = [rows.groupby(key).agg(**named)] if named else []
        for col in sorted({str(f.column) for f in feats if f.agg == "share"}):
            wanted = [f for f in feats if f.agg == "share" and f.column == col]
            dummies = pd.get_dummies(rows[col], dtype=np.uint8)
            shares = dummies.groupby(rows[key].to_numpy()).mean()
            shares = shares.reindex(columns=[f.level for f in wanted], fill_value=0.0)
            shares.columns = [f.name for f in wanted]
            pieces.append(shares)
        agg = pd.concat(pieces, axis=1)
        parts.append(agg)
    index = pd.Index(df[key].unique(), name=key)
    out = pd.concat([p.reindex(index) for p in parts], axis=1)
    for f in block.features:
        if f.empty_value == 0.0:
            out[f.name] = out[f.name].fillna(0.0)
    return out[[f.name for f in block.features]].astype(np.float64)


def sub_where(node: Any, df: pd.DataFrame) -> np.ndarray:
    """A subset condition evaluated on the frame's columns (1.0 = row kept)."""
    from scoring.features.expr import compile_numpy

    arrays = {c: _values(df[c]) for c in df.columns}
    return compile_numpy(node)(arrays, len(df))


def _values(column: pd.Series) -> Any:
    """numpy values; a categorical stays a ``pd.Categorical`` (``== 'level'`` works on codes)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.array
    return column.to_numpy()


def build(
    spec: FeatureSpec,
    frequencies: Frequencies,
    applications: pd.DataFrame,
    tables: Tables,
) -> pd.DataFrame:
    """``SK_ID_CURR`` + every feature for each application (same layout as the engine)."""
    n = len(applications)
    app = application_features(
        spec.application, frequencies, columns_from_frame(applications, spec.application), n
    )
    keys = pd.DataFrame({CLIENT_KEY: applications[CLIENT_KEY].to_numpy(dtype=np.int64)})
    parts = [keys, pd.DataFrame(app)]
    for name, feats in client_features(spec, tables).items():
        block = spec.block(name)
        joined = keys.merge(feats, left_on=CLIENT_KEY, right_index=True, how="left")
        fills = {f.name: f.empty_value for f in block.features if f.empty_value is not None}
        parts.append(joined.drop(columns=CLIENT_KEY).fillna(fills))
    if spec.cross:
        needed = {c for d in spec.cross for c in columns(d.node)} - {d.name for d in spec.cross}
        cols: dict[str, Any] = {
            c: part[c].to_numpy(dtype=np.float64) for part in parts for c in needed & set(part)
        }
        evaluate_derived(spec.cross, cols, n)
        parts.append(pd.DataFrame({d.name: cols[d.name] for d in spec.cross}))
    frame = pd.concat(parts, axis=1)  # one copy, already in model column order
    if list(frame.columns) != [CLIENT_KEY, *spec.feature_names]:
        raise AssertionError("pandas reference: column order differs from the spec")
    return frame
