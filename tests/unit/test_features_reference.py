"""Two independent implementations of the default spec — the Narwhals/Polars engine and the
plain pandas reference of the benchmark — give the same 950 features on random histories with
missing values, zero denominators, sentinels and clients without history."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from benchmarks import pandas_reference
from scoring.features import FeatureBuilder
from scoring.features.sample import random_applications, random_history
from tests.unit.test_features_spec import DEFAULT


def test_engine_and_pandas_reference_agree_on_every_feature(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    ids = np.arange(400_001, 400_151)
    apps = random_applications(ids, rng, train=True).drop(columns="TARGET")
    tables = random_history(np.arange(400_001, 400_181), rng)  # some history-only clients
    builder = FeatureBuilder.from_spec(DEFAULT).fit(apps)
    assert builder.frequencies is not None
    engine = builder.build(apps, {t: pl.from_pandas(f) for t, f in tables.items()}).to_pandas()
    for name, frame in tables.items():  # the reference reads a folder, as in the benchmark
        frame.to_parquet(tmp_path / f"{name}.parquet", index=False)
    reference = pandas_reference.build(builder.spec, builder.frequencies, apps, tmp_path)
    in_memory = pandas_reference.build(builder.spec, builder.frequencies, apps, tables)
    pd.testing.assert_frame_equal(reference, in_memory, check_dtype=False)
    assert list(engine.columns) == list(reference.columns)
    kinds = {f.name: f.kind for f in builder.features}
    mismatched = []
    for col in engine.columns:
        if kinds.get(col) == "categorical":
            same = engine[col].fillna("<NA>").eq(reference[col].fillna("<NA>")).all()
        else:
            same = np.allclose(
                engine[col].to_numpy(np.float64),
                reference[col].to_numpy(np.float64),
                rtol=1e-9,
                atol=1e-12,
                equal_nan=True,
            )
        if not same:
            mismatched.append(col)
    assert not mismatched, mismatched[:10]
    # the data exercised the features: most history columns have values for someone
    history_cols = [f.name for b in builder.spec.client_blocks for f in b.features]
    filled = engine[history_cols].notna().any()
    assert filled.mean() > 0.95
    # and clients without history exist in the comparison
    assert (engine["BURO_ALL_SK_ID_BUREAU_COUNT"] == 0).any()
    assert isinstance(reference, pd.DataFrame)
