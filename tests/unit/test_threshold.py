"""Threshold selection on OOF probabilities, contract metrics, and calibration."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.calibration import cross_fit_calibrate, fit_calibration, reliability_curve
from scoring.cost import CostWeights, cost_at_threshold
from scoring.evaluation import METRIC_KEYS, classification_metrics
from scoring.threshold import best_threshold, cost_curve, threshold_grid

W = CostWeights(fn=10.0, fp=1.0)
GRID = threshold_grid(1001)


def test_hand_example_picks_the_cheapest_threshold() -> None:
    # Refusing the two riskiest costs 1 FP (the good client at 0.6) and misses nothing.
    y = np.array([1, 0, 1, 0, 0, 0])
    p = np.array([0.9, 0.6, 0.55, 0.2, 0.1, 0.05])
    choice = best_threshold(y, p, W, GRID)
    assert (choice.fn, choice.fp, choice.cost) == (0, 1, 1.0)
    assert 0.2 < choice.threshold <= 0.55
    assert choice.cost_per_client == pytest.approx(1 / 6)


def test_ties_go_to_the_lowest_threshold() -> None:
    y = np.array([1, 0])
    p = np.array([0.8, 0.2])
    choice = best_threshold(y, p, W, GRID)
    assert choice.cost == 0
    assert choice.threshold == pytest.approx(0.201)  # first grid point above the good client


@settings(max_examples=60, deadline=None)
@given(
    y=st.lists(st.integers(0, 1), min_size=1, max_size=60),
    seed=st.integers(0, 2**31 - 1),
)
def test_vectorised_curve_equals_brute_force(y: list[int], seed: int) -> None:
    labels = np.array(y)
    p = np.round(np.random.default_rng(seed).uniform(size=labels.size), 2)  # many ties
    grid = threshold_grid(101)
    curve = cost_curve(labels, p, W, grid)
    brute = [cost_at_threshold(labels, p, t, W) for t in grid]
    np.testing.assert_allclose(curve.cost, brute)
    assert best_threshold(labels, p, W, grid).cost == min(brute)


def test_calibrated_probabilities_give_the_bayes_threshold() -> None:
    """With honest probabilities the cost-optimal threshold is fp/(fn+fp) = 1/11."""
    rng = np.random.default_rng(0)
    p = rng.beta(1, 8, 200_000)
    y = (rng.uniform(size=p.size) < p).astype(int)
    assert best_threshold(y, p, W, GRID).threshold == pytest.approx(1 / 11, abs=0.015)


@pytest.mark.parametrize(
    "y, p, match",
    [
        (np.array([]), np.array([]), "0 clients"),
        (np.array([0, 1]), np.array([0.1, np.nan]), "NaN"),
        (np.array([0, 3]), np.array([0.1, 0.2]), "0 and 1"),
        (np.array([0, 1]), np.array([0.1]), "same length"),
    ],
)
def test_bad_inputs_fail_loudly(y: np.ndarray, p: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        best_threshold(y, p, W, GRID)


def test_grid_needs_two_points() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        threshold_grid(1)


def test_contract_metrics_hand_computed() -> None:
    y = np.array([1, 1, 0, 0, 0])
    p = np.array([0.9, 0.1, 0.6, 0.2, 0.05])
    m = classification_metrics(y, p, 0.5, W)  # refused: 0.9 (TP) and 0.6 (FP); 0.1 is a FN
    assert tuple(m) == METRIC_KEYS
    assert m["precision"] == 0.5 and m["recall"] == 0.5 and m["f1"] == 0.5
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["business_cost"] == 11.0 and m["cost_per_client"] == pytest.approx(2.2)
    assert m["approval_rate"] == pytest.approx(3 / 5)
    assert m["threshold"] == 0.5
    assert m["auc"] == pytest.approx(4 / 6)  # 0.9 beats 3 good clients, 0.1 beats 1 of 3
    expected_brier = np.mean((p - y) ** 2)
    assert m["brier"] == pytest.approx(expected_brier, abs=1e-6)


def _inflated(n: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True probabilities and what a class-weighted model reports (log-odds shifted by log 11)."""
    rng = np.random.default_rng(seed)
    true_p = rng.beta(1, 10, n)
    y = (rng.uniform(size=n) < true_p).astype(int)
    logit = np.log(true_p / (1 - true_p)) + np.log(11.0)
    return true_p, y, 1 / (1 + np.exp(-logit))


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibration_undoes_class_weight_inflation(method: str) -> None:
    _, y, raw = _inflated()
    folds = np.arange(y.size) % 5
    calibrated = cross_fit_calibrate(raw, y, folds, method)  # type: ignore[arg-type]
    assert raw.mean() > 3 * y.mean()  # the distortion is real
    assert calibrated.mean() == pytest.approx(y.mean(), rel=0.1)
    brier = lambda q: float(np.mean((q - y) ** 2))  # noqa: E731
    assert brier(calibrated) < brier(raw)
    mean_pred, observed = reliability_curve(y, calibrated, n_bins=5)
    np.testing.assert_allclose(mean_pred, observed, atol=0.03)


def test_platt_keeps_the_ranking() -> None:
    _, y, raw = _inflated(5_000)
    cal = fit_calibration(raw, y, "platt")
    out = cal.apply(raw)
    assert cal.method == "platt" and cal.a > 0
    assert np.array_equal(np.argsort(raw, kind="stable"), np.argsort(out, kind="stable"))


def test_cross_fitting_never_uses_the_fold_it_maps() -> None:
    """Flipping the labels of fold 0 cannot change fold 0's calibrated values."""
    _, y, raw = _inflated(4_000)
    folds = np.arange(y.size) % 4
    a = cross_fit_calibrate(raw, y, folds, "platt")
    y2 = y.copy()
    y2[folds == 0] = 1 - y2[folds == 0]
    b = cross_fit_calibrate(raw, y2, folds, "platt")
    np.testing.assert_array_equal(a[folds == 0], b[folds == 0])
    assert not np.allclose(a[folds != 0], b[folds != 0])


def test_unknown_calibration_method() -> None:
    with pytest.raises(ValueError, match="unknown calibration method"):
        fit_calibration(np.array([0.1, 0.2]), np.array([0, 1]), "beta")  # type: ignore[arg-type]
