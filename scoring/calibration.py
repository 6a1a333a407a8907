"""Probability calibration, fitted on out-of-fold predictions, and the reliability curve.

Why: class weighting, SMOTE and undersampling all tell the model that defaults are more common
than they are, so its raw "probabilities" are inflated (a balanced model puts the average near
0.5 when the true rate is 8 %). Users are shown a probability and the threshold is compared to
it, so the served number must mean what it says. The calibrator is fitted on out-of-fold
probabilities (each from a model that never saw the client), never on the holdout.

``platt`` (a logistic fit on the logit) is monotone and strictly increasing, so it keeps the
ranking (AUC) and undoes the constant log-odds shift that reweighting causes; ``isotonic`` is
more flexible but needs more data and flattens ranking into steps.
"""

from __future__ import annotations

from typing import Literal, cast

import numpy as np
import numpy.typing as npt
from sklearn.calibration import calibration_curve
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from scoring.bundle import Calibration

CalibrationMethod = Literal["none", "platt", "isotonic"]
METHODS: tuple[str, ...] = ("none", "platt", "isotonic")
_EPS = 1e-12


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def check_method(method: str) -> CalibrationMethod:
    """The method name, or an error listing the valid ones."""
    if method not in METHODS:
        raise ValueError(f"unknown calibration method {method!r}; expected one of {METHODS}")
    return cast(CalibrationMethod, method)


def fit_calibration(
    proba: npt.ArrayLike, y_true: npt.ArrayLike, method: CalibrationMethod
) -> Calibration:
    """Fit a :class:`~scoring.bundle.Calibration` mapping raw probabilities to calibrated ones."""
    method = check_method(method)
    p = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y_true)
    if p.shape != y.shape or p.ndim != 1 or p.size == 0:
        raise ValueError(f"proba {p.shape} and y_true {y.shape} must be 1-D, non-empty, same size")
    if method == "none":
        return Calibration()
    if np.unique(y).size < 2:
        raise ValueError("calibration needs both classes in y_true")
    if method == "platt":
        # C=inf: an unpenalised 2-parameter fit (Platt scaling), sigmoid(a * logit(p) + b).
        lr = LogisticRegression(C=np.inf).fit(_logit(p).reshape(-1, 1), y)
        return Calibration(method="platt", a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]))
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)
    x_knots = np.asarray(iso.X_thresholds_, dtype=np.float64)
    y_knots = np.asarray(iso.y_thresholds_, dtype=np.float64)
    if x_knots.size < 2:  # constant input: the map is flat at the observed rate
        lo, hi = float(p.min()), float(p.max())
        x_knots = np.array([lo, hi if hi > lo else lo + _EPS])
        y_knots = np.full(2, float(y.mean()))
    return Calibration(
        method="isotonic", x=tuple(map(float, x_knots)), y=tuple(map(float, y_knots))
    )


def cross_fit_calibrate(
    proba: npt.ArrayLike,
    y_true: npt.ArrayLike,
    folds: npt.ArrayLike,
    method: CalibrationMethod,
) -> np.ndarray:
    """Calibrated out-of-fold probabilities, each fold mapped by a calibrator fitted on the others.

    Fitting the calibrator on the very rows it maps would flatter the Brier score and the
    threshold; cross-fitting keeps every number honest at the cost of k small fits.
    """
    method = check_method(method)
    p = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y_true)
    f = np.asarray(folds)
    if method == "none":
        return p.copy()
    out = np.empty_like(p)
    for k in np.unique(f):
        held = f == k
        out[held] = fit_calibration(p[~held], y[~held], method).apply(p[held])
    return out


def reliability_curve(
    y_true: npt.ArrayLike, proba: npt.ArrayLike, n_bins: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """(mean predicted probability, observed default rate) per quantile bin.

    Quantile bins put the same number of clients in each point, which matters when 90 % of the
    probabilities sit below 0.2.
    """
    frac_pos, mean_pred = calibration_curve(
        np.asarray(y_true), np.asarray(proba, dtype=np.float64), n_bins=n_bins, strategy="quantile"
    )
    return mean_pred, frac_pos
