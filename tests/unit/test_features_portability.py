"""The engine is written once against Narwhals: the same spec runs on DuckDB (standing in for
any SQL / distributed backend such as PySpark) and gives the features the Polars default gives.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import yaml

from scoring.features import FeatureBuilder
from scoring.features.sample import random_applications, random_history
from tests.unit.test_features_spec import DEFAULT

duckdb = pytest.importorskip("duckdb", reason="duckdb (dev dependency) is not installed")


def test_same_spec_same_features_on_duckdb_and_polars() -> None:
    rng = np.random.default_rng(12)
    ids = np.arange(500_001, 500_081)
    apps = random_applications(ids, rng, train=True).drop(columns="TARGET")
    tables = random_history(ids, rng)
    # The default spec minus three blocks: DuckDB spends ~20 s planning all 952 features on
    # tiny data. What stays covers every construct: pre-join, sentinels, derived columns,
    # filters, time windows, "last N" windows, shares, nunique, var.
    spec = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    spec["history"] = {k: spec["history"][k] for k in ("BB", "BURO", "INSTAL")}
    spec.pop("cross")
    builder = FeatureBuilder.from_spec(spec).fit(apps)
    con = duckdb.connect()
    relations = {}
    for name, frame in tables.items():
        con.register(f"t_{name}", pl.from_pandas(frame).to_arrow())
        relations[name] = con.table(f"t_{name}")
    on_duckdb = builder.build(apps, relations)
    on_polars = builder.build(apps, {t: pl.from_pandas(f) for t, f in tables.items()})
    assert on_duckdb.columns == on_polars.columns
    kinds = {f.name: f.kind for f in builder.features}
    different = []
    for col in on_polars.columns:
        a, b = on_polars.get_column(col), on_duckdb.get_column(col)
        if kinds.get(col) == "categorical":
            same = a.fill_null("<NA>").equals(b.fill_null("<NA>"))
        else:
            same = np.allclose(
                a.cast(pl.Float64).to_numpy(),
                b.cast(pl.Float64).to_numpy(),
                rtol=1e-9,
                atol=1e-12,
                equal_nan=True,
            )
        if not same:
            different.append(col)
    assert not different, different[:10]
    assert on_duckdb.get_column("BURO_ALL_SK_ID_BUREAU_COUNT").sum() > 0  # history was used
