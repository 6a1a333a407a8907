"""The business cost of credit decisions: ``fn · FN + fp · FP``.

Why a cost and not accuracy: with 8 % defaulters, approving everyone is 92 % accurate and
ruinous. A false negative (a defaulter granted a loan) loses the capital; a false positive (a
good client refused) loses the margin. The bank puts the ratio at 10 to 1 (``conf/cost``).

Convention used everywhere: the positive class is *default* (TARGET = 1) and a client is
*refused* when the predicted probability of default reaches the threshold (``p >= t``), which is
the rule :meth:`scoring.bundle.Bundle.decide` applies when serving.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class CostWeights:
    """Price of each error type, in units of "one good client wrongly refused"."""

    fn: float = 10.0
    fp: float = 1.0

    def __post_init__(self) -> None:
        for name in ("fn", "fp"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"cost.{name} must be a finite number >= 0, got {value!r}")
        if self.fn == 0 and self.fp == 0:
            raise ValueError("cost.fn and cost.fp are both 0: every threshold would be optimal")

    @classmethod
    def from_params(cls, cost: Mapping[str, Any]) -> CostWeights:
        """Build from the ``cost`` section of params.yaml (keys ``fn`` and ``fp``)."""
        missing = [k for k in ("fn", "fp") if k not in cost]
        if missing:
            raise KeyError(f"params.yaml section 'cost' lacks {missing}")
        return cls(fn=float(cost["fn"]), fp=float(cost["fp"]))

    @property
    def bayes_threshold(self) -> float:
        """The optimal threshold for *perfectly calibrated* probabilities: fp / (fn + fp).

        Refusing costs ``fp·(1 - p)`` in expectation, approving costs ``fn·p``; they are equal at
        this ``p``. A threshold far from it signals miscalibrated probabilities.
        """
        return self.fp / (self.fn + self.fp)


@dataclass(frozen=True)
class Confusion:
    """Counts of a binary confusion matrix (positive = default = refused)."""

    tn: int
    fp: int
    fn: int
    tp: int

    @property
    def n(self) -> int:
        return self.tn + self.fp + self.fn + self.tp


def confusion(y_true: npt.ArrayLike, refused: npt.ArrayLike) -> Confusion:
    """Confusion counts from true labels (1 = default) and decisions (True = refused)."""
    y = np.asarray(y_true)
    r = np.asarray(refused)
    if y.shape != r.shape:
        raise ValueError(f"y_true has shape {y.shape} but decisions have shape {r.shape}")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must contain only 0 and 1")
    y_pos = y == 1
    r_pos = r.astype(bool)
    return Confusion(
        tn=int(np.sum(~y_pos & ~r_pos)),
        fp=int(np.sum(~y_pos & r_pos)),
        fn=int(np.sum(y_pos & ~r_pos)),
        tp=int(np.sum(y_pos & r_pos)),
    )


def business_cost(counts: Confusion, weights: CostWeights) -> float:
    """``fn · FN + fp · FP``: what the decisions cost the bank (lower is better)."""
    return weights.fn * counts.fn + weights.fp * counts.fp


def cost_at_threshold(
    y_true: npt.ArrayLike, proba: npt.ArrayLike, threshold: float, weights: CostWeights
) -> float:
    """Business cost of refusing every client whose probability reaches ``threshold``."""
    p = np.asarray(proba, dtype=np.float64)
    return business_cost(confusion(y_true, p >= threshold), weights)
