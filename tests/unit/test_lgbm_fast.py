"""The single-row fast path gives exactly what ``Booster.predict`` gives, row by row."""

from __future__ import annotations

import threading

import lightgbm as lgb
import numpy as np
import pytest

from scoring.bundle import Calibration, load_bundle, write_bundle
from scoring.lgbm_fast import SingleRowPredictor

N_FEATURES = 6


@pytest.fixture(scope="module")
def data() -> tuple[lgb.Booster, np.ndarray]:
    rng = np.random.default_rng(3)
    n = 600
    X = rng.normal(size=(n, N_FEATURES))
    X[:, 5] = rng.integers(0, 4, n)  # a categorical column
    X[::7, 1] = np.nan
    X[::11, 5] = np.nan
    logit = X[:, 0] - 0.5 * np.nan_to_num(X[:, 1]) + (X[:, 5] == 2)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 15, "seed": 1},
        lgb.Dataset(X, y, categorical_feature=[5]),
        num_boost_round=40,
    )
    # rows never seen in training, with missing values and an unseen category
    Xt = rng.normal(size=(50, N_FEATURES))
    Xt[:, 5] = rng.integers(0, 6, 50)
    Xt[::3, 0] = np.nan
    Xt[::5, 5] = np.nan
    return booster, Xt


@pytest.mark.parametrize(
    ("kind", "flag"), [("raw", "raw_score"), ("leaf", "pred_leaf"), ("contrib", "pred_contrib")]
)
@pytest.mark.parametrize("params", [{}, {"num_threads": 1}])
def test_each_row_equals_booster_predict_bit_for_bit(data, kind, flag, params) -> None:
    booster, Xt = data
    fast = SingleRowPredictor(booster, kind, params)
    expected = np.asarray(booster.predict(Xt, **{flag: True}), dtype=np.float64)
    for i in range(len(Xt)):
        got = fast.predict_row(Xt[i : i + 1])
        np.testing.assert_array_equal(got, np.atleast_1d(expected[i]))


@pytest.mark.parametrize(("kind", "flag"), [("raw", "raw_score"), ("leaf", "pred_leaf")])
def test_a_booster_with_a_best_iteration_predicts_with_that_many_trees(data, kind, flag) -> None:
    """Early stopping records a best iteration; Booster.predict uses it, so must the fast path."""
    _, Xt = data
    rng = np.random.default_rng(7)
    X = rng.normal(size=(500, N_FEATURES))
    y = (X[:, 0] + X[:, 2] + rng.normal(size=500) > 0).astype(int)
    early = lgb.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 7, "min_data_in_leaf": 5, "seed": 1},
        lgb.Dataset(X, y),
        num_boost_round=40,
    )
    early.best_iteration = 3  # what early stopping records (the booster keeps all 40 trees)
    expected = np.asarray(early.predict(Xt, **{flag: True}), dtype=np.float64)
    every_tree = np.asarray(early.predict(Xt, **{flag: True}, num_iteration=40))
    assert expected.shape != every_tree.shape or not np.array_equal(expected, every_tree)
    fast = SingleRowPredictor(early, kind, {})
    for i in range(len(Xt)):
        np.testing.assert_array_equal(fast.predict_row(Xt[i]), np.atleast_1d(expected[i]))


def test_a_row_of_the_wrong_width_is_refused(data) -> None:
    booster, Xt = data
    fast = SingleRowPredictor(booster, "raw", {})
    with pytest.raises(ValueError, match="expected 6 features, got 5"):
        fast.predict_row(Xt[0, :5])


def test_results_do_not_alias_the_internal_buffer(data) -> None:
    booster, Xt = data
    fast = SingleRowPredictor(booster, "contrib", {})
    first = fast.predict_row(Xt[0])
    kept = first.copy()
    fast.predict_row(Xt[1])
    np.testing.assert_array_equal(first, kept)


def test_threads_sharing_one_predictor_get_their_own_rows_scores(data) -> None:
    booster, Xt = data
    fast = SingleRowPredictor(booster, "raw", {"num_threads": 1})
    expected = booster.predict(Xt, raw_score=True)
    wrong: list[int] = []

    def work(offset: int) -> None:
        for _ in range(20):
            for i in range(offset, len(Xt), 4):
                if fast.predict_row(Xt[i]).item() != expected[i]:
                    wrong.append(i)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def test_bundle_one_row_scores_equal_its_batch_scores(data, tmp_path) -> None:
    """The API scores one row (fast path); training and reports score frames (predict)."""
    booster, Xt = data
    names = [f"f{j}" for j in range(N_FEATURES)]
    path = write_bundle(
        tmp_path / "b",
        feature_names=names,
        categorical_levels={},
        threshold=0.3,
        calibration=Calibration("platt", a=1.0, b=0.0),
        labels={n: n for n in names},
        booster=booster,
    )
    b = load_bundle(path)
    batch_p, batch_c = b.predict_proba(Xt), b.contributions(Xt)
    b.predict_params = {"num_threads": 1}  # the server's setting: the fast path is rebuilt
    for i in range(len(Xt)):
        row = Xt[i : i + 1]
        assert b.predict_proba(row)[0] == batch_p[i]
        np.testing.assert_array_equal(b.contributions(row)[0], batch_c[i])
        leaves = b.booster_predict(row, "leaf")
        np.testing.assert_array_equal(leaves[0], booster.predict(row, pred_leaf=True)[0])
