"""The business cost: hand-computed confusion matrices, weights from conf, and its properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.cost import Confusion, CostWeights, business_cost, confusion, cost_at_threshold

W = CostWeights(fn=10.0, fp=1.0)


def test_hand_computed_confusion_and_cost() -> None:
    # clients:        defaulters      good clients
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    refused = np.array([1, 0, 0, 1, 0, 0, 0, 0], dtype=bool)
    counts = confusion(y, refused)
    assert counts == Confusion(tn=4, fp=1, fn=2, tp=1)
    assert business_cost(counts, W) == 10 * 2 + 1 * 1 == 21


def test_threshold_refuses_at_equality() -> None:
    """The serving rule is `refused if p >= threshold`: a client exactly at it is refused."""
    y = np.array([1, 0, 0])
    p = np.array([0.3, 0.3, 0.1])
    assert cost_at_threshold(y, p, 0.3, W) == 1.0  # the good client at 0.3 is refused
    assert cost_at_threshold(y, p, 0.31, W) == 10.0  # the defaulter at 0.3 is approved


def test_extreme_policies() -> None:
    y = np.array([1] * 8 + [0] * 92)
    p = np.linspace(0, 1, 100)
    assert cost_at_threshold(y, p, 0.0, W) == 92  # refuse everyone: every good client lost
    assert cost_at_threshold(y, p, 1.01, W) == 80  # approve everyone: every default paid


def test_weights_come_from_conf_section() -> None:
    assert CostWeights.from_params({"fn": 5, "fp": 2}) == CostWeights(5.0, 2.0)
    with pytest.raises(KeyError, match="fp"):
        CostWeights.from_params({"fn": 10})


@pytest.mark.parametrize("fn, fp", [(-1.0, 1.0), (10.0, float("nan")), (0.0, 0.0)])
def test_invalid_weights_are_refused(fn: float, fp: float) -> None:
    with pytest.raises(ValueError, match="cost"):
        CostWeights(fn=fn, fp=fp)


def test_bayes_threshold_is_one_eleventh_for_ten_to_one() -> None:
    assert W.bayes_threshold == pytest.approx(1 / 11)


def test_labels_must_be_binary() -> None:
    with pytest.raises(ValueError, match="0 and 1"):
        confusion(np.array([0, 2]), np.array([True, False]))


counts_st = st.builds(
    Confusion,
    tn=st.integers(0, 10_000),
    fp=st.integers(0, 10_000),
    fn=st.integers(0, 10_000),
    tp=st.integers(0, 10_000),
)


@given(counts=counts_st, extra=st.integers(1, 1000))
def test_cost_is_monotone_in_fn_and_fp(counts: Confusion, extra: int) -> None:
    base = business_cost(counts, W)
    more_fn = Confusion(counts.tn, counts.fp, counts.fn + extra, counts.tp)
    more_fp = Confusion(counts.tn, counts.fp + extra, counts.fn, counts.tp)
    assert business_cost(more_fn, W) == base + 10 * extra
    assert business_cost(more_fp, W) == base + extra
    assert base >= 0


@given(counts=counts_st)
def test_correct_decisions_are_free(counts: Confusion) -> None:
    """Only errors cost: changing TN or TP never changes the cost."""
    more_right = Confusion(counts.tn + 7, counts.fp, counts.fn, counts.tp + 3)
    assert business_cost(more_right, W) == business_cost(counts, W)
