"""Evaluation metrics at a threshold, plot data for DVC, and the same plots as figures for MLflow.

The metric keys are the contract of ``metrics/test.json`` and of every entry of
``metrics/models.json`` (see docs/design.md). Plot data are small lists of records that
``dvc plots show/diff`` renders with the templates declared in dvc.yaml.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import (
    brier_score_loss,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from scoring.calibration import reliability_curve
from scoring.cost import CostWeights, business_cost, confusion
from scoring.threshold import CostCurve

#: The keys of metrics/test.json, in the order they are written.
METRIC_KEYS: tuple[str, ...] = (
    "auc",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "brier",
    "business_cost",
    "cost_per_client",
    "threshold",
    "approval_rate",
)
_DIGITS = 6  # plot data and metrics are rounded: smaller diffs, stable files


def safe_auc(y_true: npt.ArrayLike, proba: npt.ArrayLike) -> float:
    """ROC AUC, or NaN when only one class is present (a tiny fold) instead of an exception."""
    y = np.asarray(y_true)
    if np.unique(y).size < 2:
        return float("nan")
    return float(roc_auc_score(y, np.asarray(proba, dtype=np.float64)))


def classification_metrics(
    y_true: npt.ArrayLike, proba: npt.ArrayLike, threshold: float, weights: CostWeights
) -> dict[str, float]:
    """The contract metrics of a set of clients scored with ``proba`` and decided at ``threshold``.

    Positive = default = refused. Precision and recall are those of refusals: of the refused,
    how many would have defaulted; of the defaulters, how many were refused.
    """
    y = np.asarray(y_true)
    p = np.asarray(proba, dtype=np.float64)
    if y.size == 0:
        raise ValueError("cannot evaluate 0 clients")
    counts = confusion(y, p >= threshold)
    refused = counts.tp + counts.fp
    precision = counts.tp / refused if refused else 0.0
    recall = counts.tp / (counts.tp + counts.fn) if counts.tp + counts.fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    cost = business_cost(counts, weights)
    values = {
        "auc": safe_auc(y, p),
        "accuracy": (counts.tp + counts.tn) / counts.n,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "brier": float(brier_score_loss(y, p)),
        "business_cost": cost,
        "cost_per_client": cost / counts.n,
        "threshold": float(threshold),
        "approval_rate": (counts.tn + counts.fn) / counts.n,
    }
    return {k: round(float(values[k]), _DIGITS) for k in METRIC_KEYS}


def _thin(n: int, max_points: int) -> np.ndarray:
    """Indices of at most ``max_points`` evenly spread points, always keeping both ends."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))


def roc_points(
    y_true: npt.ArrayLike, proba: npt.ArrayLike, max_points: int = 400
) -> list[dict[str, float]]:
    """ROC curve records {fpr, tpr}, thinned so the file stays small on 300,000 clients."""
    fpr, tpr, _ = roc_curve(np.asarray(y_true), np.asarray(proba, dtype=np.float64))
    keep = _thin(fpr.size, max_points)
    return [
        {"fpr": round(float(fpr[i]), _DIGITS), "tpr": round(float(tpr[i]), _DIGITS)} for i in keep
    ]


def pr_points(
    y_true: npt.ArrayLike, proba: npt.ArrayLike, max_points: int = 400
) -> list[dict[str, float]]:
    """Precision-recall curve records {recall, precision} of the refusals."""
    precision, recall, _ = precision_recall_curve(
        np.asarray(y_true), np.asarray(proba, dtype=np.float64)
    )
    keep = _thin(precision.size, max_points)
    return [
        {
            "recall": round(float(recall[i]), _DIGITS),
            "precision": round(float(precision[i]), _DIGITS),
        }
        for i in keep
    ]


def calibration_points(
    y_true: npt.ArrayLike, proba: npt.ArrayLike, n_bins: int = 10
) -> list[dict[str, float]]:
    """Reliability curve records {mean_predicted, observed_rate}; on the diagonal = calibrated."""
    mean_pred, observed = reliability_curve(y_true, proba, n_bins=n_bins)
    return [
        {"mean_predicted": round(float(m), _DIGITS), "observed_rate": round(float(o), _DIGITS)}
        for m, o in zip(mean_pred, observed, strict=True)
    ]


def cost_curve_points(curve: CostCurve) -> list[dict[str, float]]:
    """Cost vs threshold records {threshold, business_cost, cost_per_client}."""
    return [
        {
            "threshold": round(float(t), _DIGITS),
            "business_cost": float(c),
            "cost_per_client": round(float(c) / curve.n, _DIGITS),
        }
        for t, c in zip(curve.thresholds, curve.cost, strict=True)
    ]


def confusion_rows(y_true: npt.ArrayLike, proba: npt.ArrayLike, threshold: float) -> pd.DataFrame:
    """One row per client {actual, predicted} in words, for DVC's confusion-matrix template."""
    y = np.asarray(y_true)
    refused = np.asarray(proba, dtype=np.float64) >= threshold
    return pd.DataFrame(
        {
            "actual": np.where(y == 1, "default", "repaid"),
            "predicted": np.where(refused, "refused", "approved"),
        }
    )


# --------------------------------------------------------------------------------------------
# Figures (logged to MLflow; built without pyplot so no global backend state is touched)
# --------------------------------------------------------------------------------------------
def _line_figure(
    records: list[dict[str, float]], x: str, y: str, title: str, diagonal: bool = False
) -> Figure:
    fig = Figure(figsize=(5, 4), dpi=100)
    ax = fig.add_subplot()
    ax.plot([r[x] for r in records], [r[y] for r in records], marker="." if diagonal else None)
    if diagonal:
        lim = max([r[x] for r in records] + [r[y] for r in records] + [1e-3])
        ax.plot([0, lim], [0, lim], linestyle="--", color="grey", label="perfect calibration")
        ax.legend(loc="upper left")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def figures(
    y_true: npt.ArrayLike,
    proba: npt.ArrayLike,
    threshold: float,
    curve: CostCurve,
    title: str,
) -> dict[str, Figure]:
    """ROC, PR, reliability, cost-vs-threshold and confusion-matrix figures, by file name."""
    y = np.asarray(y_true)
    p = np.asarray(proba, dtype=np.float64)
    out = {
        "roc.png": _line_figure(roc_points(y, p), "fpr", "tpr", f"ROC — {title}"),
        "pr.png": _line_figure(pr_points(y, p), "recall", "precision", f"PR — {title}"),
        "calibration.png": _line_figure(
            calibration_points(y, p),
            "mean_predicted",
            "observed_rate",
            f"Reliability — {title}",
            diagonal=True,
        ),
    }
    cost_fig = _line_figure(
        cost_curve_points(curve), "threshold", "business_cost", f"Cost vs threshold — {title}"
    )
    cost_fig.axes[0].axvline(threshold, color="red", linestyle=":", label=f"t = {threshold:.3f}")
    cost_fig.axes[0].legend()
    out["cost_vs_threshold.png"] = cost_fig
    counts = confusion(y, p >= threshold)
    cm = np.array([[counts.tn, counts.fp], [counts.fn, counts.tp]])
    fig = Figure(figsize=(4, 4), dpi=100)
    ax = fig.add_subplot()
    ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, str(v), ha="center", va="center")
    ax.set_xticks([0, 1], labels=["approved", "refused"])
    ax.set_yticks([0, 1], labels=["repaid", "default"])
    ax.set_xlabel("decision")
    ax.set_ylabel("actual")
    ax.set_title(f"Confusion — {title}")
    fig.tight_layout()
    out["confusion.png"] = fig
    return out


def summary_line(name: str, metrics: dict[str, Any]) -> str:
    """A one-line log summary of contract metrics (progress logs and reports)."""
    return (
        f"{name}: auc={metrics['auc']:.4f} cost/client={metrics['cost_per_client']:.4f} "
        f"threshold={metrics['threshold']:.3f} approval={metrics['approval_rate']:.3f} "
        f"brier={metrics['brier']:.4f}"
    )
