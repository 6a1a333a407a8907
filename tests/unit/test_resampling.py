"""Resampling stays inside the training folds; the samplers keep the data meaningful."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from scoring.cost import CostWeights
from scoring.models import (
    CategoricalEncoder,
    ResampleSpec,
    build_pipeline,
    final_fit_set,
    missing_aware_smote,
)
from scoring.threshold import threshold_grid
from scoring.training import cross_validate, make_folds

NUMERIC = ["ROW_KEY", "AMT", "CNT", "EXT"]
CATEGORICAL = ["CONTRACT", "ORG"]
FEATURES = NUMERIC + CATEGORICAL


def frame(n: int = 500, seed: int = 0) -> pd.DataFrame:
    """A small application-like frame: NaN, an integer column, text levels, 10 % defaults.

    ``ROW_KEY`` (i + 0.5) identifies every real row; an interpolated synthetic row gets a value
    that no real row has.
    """
    rng = np.random.default_rng(seed)
    ext = rng.uniform(0, 1, n)
    df = pd.DataFrame(
        {
            "SK_ID_CURR": np.arange(100_000, 100_000 + n),
            "ROW_KEY": np.arange(n) + 0.5,
            "AMT": rng.lognormal(12, 0.5, n),
            "CNT": rng.integers(0, 4, n).astype(np.int64),
            "EXT": np.where(rng.uniform(size=n) < 0.2, np.nan, ext),
            "CONTRACT": pd.Series(rng.choice(["Cash loans", "Revolving loans"], n), dtype="string"),
            "ORG": pd.Series(rng.choice(np.array(["A", "B", "C", None]), n), dtype="string"),
        }
    )
    revolving = (df["CONTRACT"] == "Revolving loans").to_numpy(dtype=np.float64)
    logit = -2.6 + 3.0 * (0.5 - ext) + 0.5 * revolving
    df["TARGET"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return df


class Spy(ClassifierMixin, BaseEstimator):
    """Records the rows it is fitted on and asked to score (as ROW_KEY values)."""

    def __init__(self, log: list[tuple[str, np.ndarray]] | None = None) -> None:
        self.log = log

    def fit(self, X: np.ndarray, y: np.ndarray) -> Spy:
        assert self.log is not None
        self.log.append(("fit", np.asarray(X)[:, 0].copy()))
        self.classes_ = np.array([0, 1])
        self.rate_ = float(np.mean(y))
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        assert self.log is not None
        self.log.append(("predict", np.asarray(X)[:, 0].copy()))
        p = np.full(len(X), self.rate_)
        return np.column_stack([1 - p, p])


@pytest.mark.parametrize("strategy", ["smote", "undersample", "class_weight", "none"])
def test_validation_folds_never_contain_synthetic_rows(strategy: str) -> None:
    df = frame()
    y = df["TARGET"].to_numpy()
    folds = make_folds(y, 4, seed=1)
    calls: list[tuple[str, np.ndarray]] = []

    resample = ResampleSpec.from_params({"strategy": strategy})

    def factory() -> Any:
        # the LightGBM pipeline (encode → resample → clf) with a spy in place of the classifier
        pipe = build_pipeline("lightgbm", {}, resample, FEATURES, CATEGORICAL, 1)
        pipe.set_params(clf=Spy(calls))
        return pipe

    result = cross_validate(factory, df[FEATURES], y, folds, CostWeights(), threshold_grid(11))
    real_keys = df["ROW_KEY"].to_numpy()
    fits = [keys for what, keys in calls if what == "fit"]
    predicts = [keys for what, keys in calls if what == "predict"]
    assert len(fits) == len(predicts) == 4
    for k, (fit_keys, predict_keys) in enumerate(zip(fits, predicts, strict=True)):
        valid = real_keys[folds == k]
        train = real_keys[folds != k]
        # every scored row is a real validation row, each exactly once, none synthetic
        np.testing.assert_array_equal(np.sort(predict_keys), np.sort(valid))
        # the model learned from training rows (and synthetic ones), never a validation row
        assert not np.isin(fit_keys, valid).any()
        real_in_fit = fit_keys[np.isin(fit_keys, real_keys)]
        assert np.isin(real_in_fit, train).all()
        n_synthetic = int((~np.isin(fit_keys, real_keys)).sum())
        if strategy == "smote":
            assert n_synthetic > 0
        else:
            assert n_synthetic == 0
        if strategy == "undersample":
            assert len(fit_keys) < len(train)
    assert not np.isnan(result.oof).any()


def test_missing_aware_smote_keeps_originals_and_makes_plausible_rows() -> None:
    df = frame(800)
    enc = CategoricalEncoder(tuple(FEATURES), tuple(CATEGORICAL)).fit(df[FEATURES])
    X = enc.transform(df[FEATURES])
    y = df["TARGET"].to_numpy()
    cat_idx = [FEATURES.index(c) for c in CATEGORICAL]
    X_res, y_res = missing_aware_smote(
        X, y, categorical_idx=cat_idx, ratio=0.5, k_neighbors=5, seed=0
    )
    n = len(y)
    np.testing.assert_array_equal(X_res[:n], X)  # NaN included: originals untouched
    np.testing.assert_array_equal(y_res[:n], y)
    synth, y_new = X_res[n:], y_res[n:]
    assert (y_new == 1).all()
    assert np.sum(y_res == 1) / np.sum(y_res == 0) == pytest.approx(0.5, abs=0.01)
    assert not np.isnan(synth[:, :4]).any()  # numeric values are interpolated, never NaN
    cnt = synth[:, FEATURES.index("CNT")]
    np.testing.assert_array_equal(cnt, np.round(cnt))  # integer column stays integer
    for j in cat_idx:  # a valid level code, or NaN for the "missing" level
        codes = synth[:, j]
        ok = np.isnan(codes) | np.isin(codes, np.arange(len(enc.levels_[FEATURES[j]])))
        assert ok.all()
    assert np.isnan(synth[:, FEATURES.index("ORG")]).any()  # missingness can be synthesised


def test_smote_needs_two_minority_rows() -> None:
    X = np.random.default_rng(0).normal(size=(20, 2))
    y = np.zeros(20, dtype=int)
    y[0] = 1
    with pytest.raises(ValueError, match="at least 2 minority rows"):
        missing_aware_smote(X, y, categorical_idx=(), ratio=1.0, k_neighbors=5, seed=0)


def test_encoder_learns_levels_from_training_rows_only() -> None:
    train = pd.DataFrame({"ORG": pd.array(["A", "B", "A"], dtype="string")})
    valid = pd.DataFrame({"ORG": pd.array(["B", "Z", None], dtype="string")})
    enc = CategoricalEncoder(("ORG",), ("ORG",)).fit(train)
    assert enc.levels_ == {"ORG": ["A", "B"]}
    codes = enc.transform(valid)[:, 0]
    assert codes[0] == 1 and np.isnan(codes[1]) and np.isnan(codes[2])  # unseen level → missing


@pytest.mark.parametrize(
    "strategy, ratio", [("none", 1.0), ("class_weight", 1.0), ("undersample", 0.5), ("smote", 0.5)]
)
def test_final_fit_set_reports_the_class_balance(strategy: str, ratio: float) -> None:
    df = frame(600)
    rs = ResampleSpec(strategy, ratio=ratio)  # type: ignore[arg-type]
    out = final_fit_set(df, FEATURES, CATEGORICAL, rs, seed=3)
    report = out.report()
    y = df["TARGET"].to_numpy()
    if strategy == "none":
        assert report["n_rows"] == len(df) and report["n_synthetic"] == 0
        assert (out.plan["sample_weight"] == 1).all()
    if strategy == "class_weight":
        w, t = out.plan["sample_weight"], out.plan["TARGET"]
        assert w[t == 1].sum() == pytest.approx(w[t == 0].sum())
        assert report["weighted_positive_rate"] == pytest.approx(0.5)
    if strategy == "undersample":
        assert report["n_real"] < len(df) and report["n_positive"] == int(y.sum())
        assert report["n_positive"] / report["n_negative"] == pytest.approx(0.5, abs=0.01)
        assert set(out.plan["SK_ID_CURR"]) <= set(df["SK_ID_CURR"])
    if strategy == "smote":
        assert report["n_synthetic"] > 0 and report["n_real"] == len(df)
        assert out.synthetic["CONTRACT"].dropna().isin(["Cash loans", "Revolving loans"]).all()
        assert str(out.synthetic["CONTRACT"].dtype) == "string"
        assert list(out.synthetic.columns) == ["TARGET", "sample_weight", *FEATURES]


def test_unknown_strategy_is_refused() -> None:
    with pytest.raises(ValueError, match=r"resample\.strategy"):
        ResampleSpec("oversample")  # type: ignore[arg-type]
