"""Choose the decision threshold that minimises the business cost on out-of-fold probabilities.

Why out-of-fold: every training client then gets a probability from a model that never saw it,
so the cost curve is an honest estimate of what each threshold costs on new clients. The holdout
is evaluated once, afterwards, with the threshold chosen here.

The curve is computed for a whole grid at once with two binary searches per threshold
(O((n + G) log n)), so a fine grid of 1,001 points on 300,000 clients takes milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scoring.cost import CostWeights


@dataclass(frozen=True)
class CostCurve:
    """Errors and cost for every threshold of a grid (refuse when ``p >= threshold``)."""

    thresholds: np.ndarray
    fn: np.ndarray
    fp: np.ndarray
    cost: np.ndarray
    n: int


@dataclass(frozen=True)
class ThresholdChoice:
    """The cost-minimising threshold and what it costs on the data it was chosen on."""

    threshold: float
    cost: float
    fn: int
    fp: int
    n: int

    @property
    def cost_per_client(self) -> float:
        return self.cost / self.n if self.n else float("nan")


def threshold_grid(n_points: int) -> np.ndarray:
    """``n_points`` evenly spaced thresholds from 0 to 1 inclusive (1,001 → steps of 0.001)."""
    if n_points < 2:
        raise ValueError(f"a threshold grid needs at least 2 points, got {n_points}")
    return np.linspace(0.0, 1.0, n_points)


def cost_curve(
    y_true: npt.ArrayLike,
    proba: npt.ArrayLike,
    weights: CostWeights,
    thresholds: npt.ArrayLike,
) -> CostCurve:
    """FN, FP and business cost at each threshold (vectorised; no loop over the grid)."""
    y = np.asarray(y_true)
    p = np.asarray(proba, dtype=np.float64)
    t = np.asarray(thresholds, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"y_true {y.shape} and proba {p.shape} must be 1-D and the same length")
    if y.size == 0:
        raise ValueError("cannot choose a threshold on 0 clients")
    if np.isnan(p).any():
        raise ValueError(f"{int(np.isnan(p).sum())} probabilities are NaN")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must contain only 0 and 1")
    pos = np.sort(p[y == 1])
    neg = np.sort(p[y == 0])
    fn = np.searchsorted(pos, t, side="left")  # defaulters approved: p < t
    fp = neg.size - np.searchsorted(neg, t, side="left")  # good clients refused: p >= t
    cost = weights.fn * fn + weights.fp * fp
    return CostCurve(thresholds=t, fn=fn, fp=fp, cost=cost.astype(np.float64), n=int(y.size))


def best_threshold(
    y_true: npt.ArrayLike,
    proba: npt.ArrayLike,
    weights: CostWeights,
    thresholds: npt.ArrayLike,
) -> ThresholdChoice:
    """The grid threshold with the lowest cost; ties go to the lowest such threshold."""
    curve = cost_curve(y_true, proba, weights, thresholds)
    i = int(np.argmin(curve.cost))
    return ThresholdChoice(
        threshold=float(curve.thresholds[i]),
        cost=float(curve.cost[i]),
        fn=int(curve.fn[i]),
        fp=int(curve.fp[i]),
        n=curve.n,
    )
