"""PSI on hand-made distributions: the numbers the monitor's warn/alert decisions rest on."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from scoring.drift import PsiBins, psi, psi_from_shares, psi_level

EPS = 1e-4


def _by_hand(ref: list[float], cur: list[float], eps: float = EPS) -> float:
    return sum(
        (max(c, eps) - max(r, eps)) * math.log(max(c, eps) / max(r, eps))
        for r, c in zip(ref, cur, strict=True)
    )


def test_categorical_shift_matches_the_formula() -> None:
    ref = ["a"] * 25 + ["b"] * 25 + ["c"] * 25 + ["d"] * 25
    cur = ["a"] * 40 + ["b"] * 30 + ["c"] * 20 + ["d"] * 10
    expected = (
        0.15 * math.log(1.6) + 0.05 * math.log(1.2) - 0.05 * math.log(0.8) - 0.15 * math.log(0.4)
    )
    assert psi(ref, cur) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(0.2282, abs=1e-4)  # the "moderate shift" band


@pytest.mark.parametrize(
    "values",
    [list(range(1000)), ["x", "y", "y", None] * 50, [0.0] * 600 + list(range(400))],
    ids=["numeric", "categorical-with-missing", "mostly-zero"],
)
def test_same_distribution_has_zero_psi(values: list[object]) -> None:
    assert psi(values, values) == pytest.approx(0.0, abs=1e-12)


def test_numeric_deciles_all_mass_in_the_lowest_bucket() -> None:
    ref = np.arange(1, 1001, dtype=float)  # deciles: 100 values per bucket
    cur = np.arange(1, 101, dtype=float)  # every current value in the first bucket
    bins = PsiBins.fit(ref, bins=10)
    assert len(bins.edges) == 9
    assert bins.ref_shares[:10] == pytest.approx([0.1] * 10)
    expected = _by_hand([0.1] * 10 + [0.0], [1.0] + [0.0] * 9 + [0.0])
    assert bins.psi(cur) == pytest.approx(expected, rel=1e-12)
    assert psi_level(bins.psi(cur)) == "alert"


def test_missing_values_are_a_bucket_of_their_own() -> None:
    """Half the applicants suddenly lacking a value is drift, even if the rest look the same."""
    ref = np.arange(1, 1001, dtype=float)
    cur = np.concatenate([np.arange(1, 1001, 2, dtype=float), np.full(500, np.nan)])
    expected = _by_hand([0.1] * 10 + [0.0], [0.05] * 10 + [0.5])
    assert psi(ref, cur) == pytest.approx(expected, rel=1e-9)


def test_unseen_level_lands_in_its_own_bucket() -> None:
    bins = PsiBins.fit(["a", "b"] * 50)
    assert bins.counts(["a", "c", "c", None]).tolist() == [1, 0, 2, 1]
    expected = _by_hand([0.5, 0.5, 0.0, 0.0], [0.25, 0.0, 0.5, 0.25])
    assert bins.psi(["a", "c", "c", None]) == pytest.approx(expected, rel=1e-12)


def test_value_on_an_edge_goes_to_the_bucket_it_closes() -> None:
    bins = PsiBins.fit([1.0, 2.0, 3.0, 4.0], bins=2)  # median 2.5 → (-inf, 2.5], (2.5, inf)
    assert bins.edges == (2.5,)
    assert bins.counts([2.5, 2.5000001, np.inf, -np.inf]).tolist() == [1, 1, 2]  # ±inf = missing


def test_frozen_bins_survive_a_json_round_trip() -> None:
    rng = np.random.default_rng(0)
    ref = pd.Series(rng.lognormal(10, 1, 5000))
    cur = pd.Series(rng.lognormal(10.3, 1, 3000))
    bins = PsiBins.fit(ref)
    again = PsiBins.from_dict(bins.to_dict())
    assert again == bins and again.psi(cur) == bins.psi(cur)


def test_psi_grows_with_the_shift() -> None:
    rng = np.random.default_rng(1)
    ref = rng.normal(0, 1, 20000)
    values = [psi(ref, rng.normal(shift, 1, 20000)) for shift in (0.0, 0.2, 0.5, 1.0)]
    assert values == sorted(values)
    assert values[0] < 0.01 and values[-1] > 0.25


@pytest.mark.parametrize(
    ("value", "level"),
    [
        (0.0, "ok"),
        (0.0999, "ok"),
        (0.10, "warn"),
        (0.2499, "warn"),
        (0.25, "alert"),
        (3.0, "alert"),
    ],
)
def test_psi_levels_at_the_documented_thresholds(value: float, level: str) -> None:
    assert psi_level(value) == level


def test_unknown_psi_has_no_level() -> None:
    assert psi_level(None) is None and psi_level(float("nan")) is None


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        psi([], [1.0])
    with pytest.raises(ValueError, match="empty"):
        psi([1.0, 2.0], [])
    with pytest.raises(ValueError, match="at least 2 bins"):
        PsiBins.fit([1.0, 2.0], bins=1)
    with pytest.raises(ValueError, match="buckets"):
        psi_from_shares(np.array([0.5, 0.5]), np.array([1.0]))
