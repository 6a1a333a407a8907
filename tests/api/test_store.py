"""Statistics of the known-client store, checked against numpy on random data."""

from __future__ import annotations

import numpy as np
import pytest

from api.store import FeatureStats


@pytest.mark.parametrize("n", [1, 2, 3, 10, 1001])
def test_quantiles_equal_numpy(n: int) -> None:
    values = np.random.default_rng(n).normal(size=n)
    values[1::7] = np.nan
    st = FeatureStats.of(values)
    clean = values[~np.isnan(values)]
    assert st.n_missing == int(np.isnan(values).sum())
    for q in (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0):
        assert st.quantile(q) == pytest.approx(float(np.quantile(clean, q)), abs=1e-12)


def test_percentile_counts_ties_half() -> None:
    st = FeatureStats.of(np.array([1.0, 2.0, 2.0, 3.0]))
    assert st.percentile(2.0) == 50.0
    assert st.percentile(0.0) == 0.0 and st.percentile(4.0) == 100.0
    assert st.percentile(float("nan")) is None
    assert FeatureStats.of(np.array([np.nan])).quantile(0.5) is None
