"""Cross-validation, search, comparison: reproducible, leak-free, and exportable to the bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from scoring.bundle import Calibration, load_bundle, write_bundle
from scoring.cost import CostWeights, cost_at_threshold
from scoring.evaluation import safe_auc
from scoring.models import (
    ModelSpec,
    ResampleSpec,
    build_pipeline,
    export_booster,
    export_linear,
    fitted_levels,
    top_features,
)
from scoring.threshold import threshold_grid
from scoring.training import (
    FeatureList,
    ModelSearch,
    SearchConfig,
    TrainPlan,
    TrialRecord,
    cross_validate,
    make_folds,
    subset_rows,
    train_and_compare,
)
from stages.evaluate import EvaluateParams
from tests.unit.test_resampling import CATEGORICAL, FEATURES, frame

W = CostWeights()
LGBM: dict[str, Any] = {
    "kind": "lightgbm",
    "learning_rate": 0.1,
    "n_estimators": 40,
    "early_stopping_rounds": 10,
    "early_stopping_fraction": 0.2,
    "num_threads": 1,
    "num_leaves": 7,
    "min_child_samples": 20,
    "space": {"num_leaves": {"type": "int", "low": 3, "high": 15}},
}
LOGISTIC: dict[str, Any] = {
    "kind": "logistic",
    "C": 1.0,
    "space": {"C": {"type": "float", "low": 0.01, "high": 10.0, "log": True}},
}


def plan(seed: int = 7, model: dict[str, Any] = LGBM, n_jobs: int = 1) -> TrainPlan:
    strategies = {
        s: {"strategy": s, "ratio": 0.5, "calibration": "none" if s == "none" else "platt"}
        for s in ("none", "class_weight", "smote", "undersample")
    }
    search = SearchConfig.from_params(
        {
            "coarse_trials": 1,
            "refine_trials": 1,
            "threshold_points": 201,
            "n_jobs": n_jobs,
            "candidates": {"dummy": {"kind": "dummy"}, "logistic": LOGISTIC, "lightgbm": LGBM},
            "strategies": strategies,
        }
    )
    return TrainPlan(
        seed=seed,
        n_folds=3,
        weights=W,
        model=ModelSpec.from_params(model),
        resample=ResampleSpec.from_params(strategies["class_weight"]),
        search=search,
    )


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    df = frame(600, seed=2)
    return df[FEATURES], df["TARGET"].to_numpy()


def test_folds_are_stratified_and_seeded() -> None:
    y = np.array([1] * 30 + [0] * 270)
    a, b, c = make_folds(y, 5, 1), make_folds(y, 5, 1), make_folds(y, 5, 2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    for k in range(5):
        assert np.sum(y[a == k]) == 6 and np.sum(a == k) == 60
    with pytest.raises(ValueError, match="rarer class"):
        make_folds(np.array([1, 1, 0, 0, 0, 0]), 3, 0)


def test_same_seed_same_metrics(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    first = train_and_compare(X, y, FEATURES, CATEGORICAL, plan(seed=7))
    again = train_and_compare(X, y, FEATURES, CATEGORICAL, plan(seed=7, n_jobs=2))
    other = train_and_compare(X, y, FEATURES, CATEGORICAL, plan(seed=8))

    def strip(c: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        return {k: {m: v for m, v in e.items() if m != "fit_seconds"} for k, e in c.items()}

    np.testing.assert_array_equal(first.best.oof, again.best.oof)
    assert strip(first.comparison) == strip(again.comparison)  # threads do not change results
    assert first.best_params == again.best_params
    assert not np.array_equal(first.best.oof, other.best.oof)
    assert set(first.comparison) == {
        f"{m}/{s}"
        for m in ("dummy", "logistic", "lightgbm")
        for s in ("none", "class_weight", "smote", "undersample")
    }
    # the CV summary's cost is the OOF cost at the OOF-optimal threshold, split by fold
    t = first.comparison["lightgbm/class_weight"]["threshold"]
    total = cost_at_threshold(y, first.oof_calibrated, t, W)
    assert first.cv_summary["business_cost_mean"] * 3 == pytest.approx(total)
    assert first.comparison["dummy/none"]["auc"] == pytest.approx(0.5, abs=0.01)
    assert (
        first.comparison["lightgbm/class_weight"]["cost_per_client"]
        < first.comparison["dummy/none"]["cost_per_client"]
    )


@pytest.mark.parametrize("strategy", ["smote", "undersample", "none"])
def test_no_leakage_noise_scores_like_a_coin(strategy: str) -> None:
    """Features unrelated to the label: any fold leakage would push OOF AUC above chance."""
    rng = np.random.default_rng(0)
    n = 1500
    X = pd.DataFrame({f: rng.normal(size=n) for f in ("A", "B", "C", "D")})
    X["ORG"] = pd.array(rng.choice(["x", "y", "z"], n), dtype="string")
    y = (rng.uniform(size=n) < 0.15).astype(np.int64)
    folds = make_folds(y, 3, 0)
    params = {k: v for k, v in LGBM.items() if k not in ("kind", "space")}

    resample = ResampleSpec.from_params({"strategy": strategy, "ratio": 0.5})

    def factory() -> Any:
        return build_pipeline("lightgbm", params, resample, list(X.columns), ["ORG"], 0)

    result = cross_validate(factory, X, y, folds, W, threshold_grid(101))
    assert abs(safe_auc(y, result.oof) - 0.5) < 0.06


def test_search_prunes_hopeless_trials(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    spec = ModelSpec.from_params(
        {**LGBM, "space": {"min_child_samples": {"type": "categorical", "choices": [20, 5000]}}}
    )
    config = SearchConfig.from_params(
        {
            "coarse_trials": 1,
            "refine_trials": 0,
            "threshold_points": 101,
            "pruner_startup_trials": 1,
            "pruner_warmup_folds": 0,
            "tpe_startup_trials": 10,
            "candidates": {"lightgbm": LGBM},
            "strategies": {"none": {"strategy": "none"}},
        }
    )
    records: list[TrialRecord] = []
    folds = make_folds(y, 3, 0)
    search = ModelSearch(
        spec,
        ResampleSpec("none"),
        X,
        y,
        folds,
        FEATURES,
        CATEGORICAL,
        W,
        config,
        0,
        records.append,
    )
    search.run(8, "coarse")
    pruned = [r for r in records if r.state == "pruned"]
    assert records[0].params["min_child_samples"] == 20  # the defaults are trial 0
    assert pruned and all(r.params["min_child_samples"] == 5000 for r in pruned)
    assert all(len(r.folds) < 3 for r in pruned)
    assert search.best_params["min_child_samples"] == 20


@pytest.mark.parametrize("kind", ["logistic", "lightgbm"])
def test_exported_bundle_scores_like_the_fitted_pipeline(kind: str, tmp_path: Path) -> None:
    df = frame(700, seed=4)
    params = {
        k: v
        for k, v in (LGBM if kind == "lightgbm" else LOGISTIC).items()
        if k not in ("kind", "space")
    }
    pipe = build_pipeline(kind, params, ResampleSpec("class_weight"), FEATURES, CATEGORICAL, 0)  # type: ignore[arg-type]
    pipe.fit(df[FEATURES].iloc[:500], df["TARGET"].iloc[:500])
    cal = Calibration("platt", a=0.9, b=-1.5)
    write_bundle(
        tmp_path,
        feature_names=FEATURES,
        categorical_levels=fitted_levels(pipe),
        threshold=0.1,
        calibration=cal,
        labels={f: f.lower() for f in FEATURES},
        booster=export_booster(pipe) if kind == "lightgbm" else None,
        linear=export_linear(pipe, FEATURES) if kind == "logistic" else None,
        top_features=top_features(pipe, FEATURES),
    )
    bundle = load_bundle(tmp_path)
    unseen = df[FEATURES].iloc[500:].copy()
    unseen.loc[unseen.index[:5], "ORG"] = "never seen"  # unknown level: missing in both
    expected = cal.apply(pipe.predict_proba(unseen)[:, 1])
    np.testing.assert_allclose(bundle.predict_proba(bundle.encode(unseen)), expected, atol=1e-9)
    assert bundle.meta["top_features"]  # importance survives the export


def test_model_and_search_specs_fail_loudly() -> None:
    with pytest.raises(ValueError, match="unknown parameter"):
        ModelSpec.from_params({"kind": "lightgbm", "num_leaf": 31})
    with pytest.raises(ValueError, match=r"model\.kind"):
        ModelSpec.from_params({"kind": "xgboost"})
    with pytest.raises(KeyError, match="search"):
        SearchConfig.from_params({"coarse_trials": 1})


def test_the_dummy_is_never_bundled() -> None:
    params = {
        "seed": 1,
        "cost": {"fn": 10, "fp": 1},
        "model": {"kind": "dummy"},
        "resample": {"strategy": "none"},
        "search": {"threshold_points": 101},
        "tracking": {"experiment": "e", "registered_model": "m"},
    }
    with pytest.raises(ValueError, match=r"reference for metrics/models\.json only"):
        EvaluateParams.from_params(params)


def test_feature_list_and_split_rows() -> None:
    payload = {
        "features": [
            {"name": "AMT", "kind": "numeric", "source_table": "app", "label": "Amount"},
            {"name": "ORG", "kind": "categorical", "source_table": "app", "label": "Employer"},
        ]
    }
    fl = FeatureList.from_json(payload)
    assert fl.names == ("AMT", "ORG") and fl.categorical == ("ORG",)
    with pytest.raises(ValueError, match="lacks"):
        FeatureList.from_json({"features": [{"name": "AMT", "kind": "numeric"}]})
    features = pd.DataFrame({"SK_ID_CURR": [3, 1, 2], "TARGET": [0, 1, 0], "AMT": [1.0, 2, 3]})
    split = pd.DataFrame(
        {"SK_ID_CURR": [1, 2, 3], "TARGET": [1, 0, 0], "subset": ["train", "holdout", "train"]}
    )
    rows = subset_rows(features, split, "train")
    assert rows["SK_ID_CURR"].tolist() == [1, 3]  # sorted: a stable row order for the folds
    bad = split.assign(TARGET=[0, 0, 0])
    with pytest.raises(ValueError, match="TARGET differs"):
        subset_rows(features, bad, "train")
