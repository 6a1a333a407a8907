"""Application-level features: raw columns, domain ratios, frequency encodings, cross features.

One function, :func:`application_features`, computes them from column arrays, whatever their
length: the batch path calls it once on the 356 k application rows, the API on one row. Plain
numpy is used because the application table is small (one row per client) and because a
one-row call must take microseconds, not the milliseconds a DataFrame engine needs to plan a
query (measured in docs/features.md). Being the same function, batch and API cannot disagree.

Leakage rules: ``TARGET`` is never read here, and the only fitted state — the frequency of each
categorical level — comes from ``application_train`` rows only (:func:`fit_frequencies`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from scoring.features import expr as ex
from scoring.features.spec import ApplicationSpec, Derived

#: Fitted state: column → {level: share of training applications with that level}.
Frequencies = Mapping[str, Mapping[str, float]]


def fit_frequencies(spec: ApplicationSpec, train: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Level shares of the frequency-encoded columns, from training applications only.

    Unsupervised (no TARGET), so fitting on every training row cannot leak the label; test rows
    are never passed here, so they cannot change the training encoding.
    """
    out: dict[str, dict[str, float]] = {}
    n = len(train)
    for col in spec.frequency:
        counts = train[col].value_counts(dropna=True)
        out[col] = {str(k): float(v) / n for k, v in counts.items()} if n else {}
    return out


def columns_from_frame(frame: pd.DataFrame, spec: ApplicationSpec) -> dict[str, np.ndarray]:
    """The raw application columns as float64 (NaN = missing) / object (None = missing) arrays."""
    out: dict[str, np.ndarray] = {}
    for f in spec.raw:
        if f.name not in frame.columns:
            raise KeyError(f"application frame has no column {f.name!r}")
        s = frame[f.name]
        if f.kind == "categorical":
            out[f.name] = s.astype(object).where(s.notna(), None).to_numpy(dtype=object)
        else:
            out[f.name] = pd.to_numeric(s).to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def application_features(
    spec: ApplicationSpec,
    frequencies: Frequencies,
    data: Mapping[str, np.ndarray],
    n: int,
) -> dict[str, np.ndarray]:
    """Raw (sentinels → NaN), derived and frequency features, in spec order, as arrays."""
    out: dict[str, np.ndarray] = {}
    sentinels = dict(spec.sentinels)
    for f in spec.raw:
        arr = data[f.name]
        if f.name in sentinels:
            arr = np.where(arr == sentinels[f.name], np.nan, arr)
        out[f.name] = arr
    evaluate_derived(spec.derived, out, n)
    for col in spec.frequency:
        table = frequencies.get(col)
        if table is None:
            raise KeyError(f"frequency encoding of {col} was not fitted (FeatureBuilder.fit)")
        values = out[col]
        out[f"{col}_FREQ"] = np.array(
            [math.nan if v is None else table.get(v, 0.0) for v in values], dtype=np.float64
        )
    return out


def evaluate_derived(derived: Sequence[Derived], columns: dict[str, Any], n: int) -> None:
    """Add each derived column to ``columns`` (in order: later ones may use earlier ones)."""
    with ex.numpy_errors_ignored():
        for d in derived:
            columns[d.name] = d.fn(columns, n)
