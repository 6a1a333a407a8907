"""Explanations: contributions add up to the score, reasons only ever argue for the refusal."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from scoring.bundle import (
    Bundle,
    Calibration,
    LinearModel,
    encode_frame,
    fit_categorical_levels,
    load_bundle,
    write_bundle,
)
from scoring.explain import (
    global_importance,
    holdout_rows,
    linear_coefficients,
    protected_features,
    reason_summary,
    refusal_reasons,
    sample_rows,
    share_with_protected_reason,
    top_features,
)

FEATURES = ["EXT_SOURCE_2", "INSTAL_DPD_MEAN", "CODE_GENDER", "NOISE_CONSTANT"]
LABELS = {
    "EXT_SOURCE_2": "External credit score (source 2)",
    "INSTAL_DPD_MEAN": "Average days late on installments",
    "CODE_GENDER": "Gender",
    "NOISE_CONSTANT": "A constant the model cannot use",
}


def _frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "SK_ID_CURR": np.arange(100_000, 100_000 + n),
            "EXT_SOURCE_2": rng.uniform(0, 1, n),
            "INSTAL_DPD_MEAN": rng.exponential(2.0, n),
            "CODE_GENDER": rng.choice(["F", "M"], n),
            "NOISE_CONSTANT": np.ones(n),
        }
    )
    logit = -1.5 + 4 * (0.5 - df["EXT_SOURCE_2"]) + 0.4 * df["INSTAL_DPD_MEAN"]
    df["TARGET"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    return df


@pytest.fixture(scope="module")
def lgb_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Bundle, pd.DataFrame]:
    df = _frame()
    levels = fit_categorical_levels(df, ["CODE_GENDER"])
    X = encode_frame(df, FEATURES, levels)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 7, "deterministic": True, "seed": 1},
        lgb.Dataset(X, df["TARGET"], categorical_feature=[2]),
        num_boost_round=30,
    )
    path = write_bundle(
        tmp_path_factory.mktemp("bundle") / "b",
        feature_names=FEATURES,
        categorical_levels=levels,
        threshold=0.35,
        calibration=Calibration("platt", a=0.9, b=0.1),
        labels=LABELS,
        booster=booster,
    )
    return load_bundle(path), df


def test_contributions_sum_to_the_raw_score_and_rank_the_true_drivers_first(lgb_bundle) -> None:
    bundle, df = lgb_bundle
    X = bundle.encode(df)
    contrib = bundle.contributions(X)
    np.testing.assert_allclose(contrib.sum(axis=1), bundle.raw_score(X), atol=1e-9)
    ranking = global_importance(contrib, bundle.feature_names, bundle.labels)
    assert ranking["feature"].iloc[0] == "EXT_SOURCE_2"
    assert set(ranking["feature"].head(2)) == {"EXT_SOURCE_2", "INSTAL_DPD_MEAN"}
    assert ranking["label"].iloc[0] == "External credit score (source 2)"
    assert ranking["share"].sum() == pytest.approx(1.0)
    # a constant column never splits: it is ranked last and left out of the drift list
    assert ranking["feature"].iloc[-1] == "NOISE_CONSTANT"
    assert "NOISE_CONSTANT" not in top_features(ranking, n=10)
    assert top_features(ranking, n=1) == ["EXT_SOURCE_2"]


def test_reason_codes_come_only_from_features_pushing_toward_refusal(lgb_bundle) -> None:
    bundle, df = lgb_bundle
    X = bundle.encode(df)
    contrib = bundle.contributions(X)
    proba = bundle.predict_proba(X)
    reasons = refusal_reasons(bundle, X, contrib, df["SK_ID_CURR"].tolist(), proba, k=4)
    refused_ids = set(df.loc[proba >= bundle.threshold, "SK_ID_CURR"])
    assert 0 < len(refused_ids) < len(df)  # the example has both decisions
    assert set(reasons["SK_ID_CURR"]) <= refused_ids  # approved clients get no reason codes
    assert (reasons["contribution"] > 0).all()
    assert reasons.groupby("SK_ID_CURR").size().max() <= 4
    row_of = {cid: i for i, cid in enumerate(df["SK_ID_CURR"])}
    for rec in reasons.itertuples(index=False):
        i, j = row_of[rec.SK_ID_CURR], FEATURES.index(rec.feature)
        assert rec.contribution == pytest.approx(contrib[i, j])
        assert rec.label == LABELS[rec.feature]
        # a stronger refusal-pushing feature is never skipped for a weaker one
        stronger = [f for f in range(len(FEATURES)) if contrib[i, f] > contrib[i, j]]
        assert len(stronger) < rec.rank
    cat = reasons[reasons["feature"] == "CODE_GENDER"]
    assert set(cat["value"]) <= {"F", "M"}  # categorical values are shown as their level


def test_reason_summary_and_protected_share(lgb_bundle) -> None:
    bundle, df = lgb_bundle
    X = bundle.encode(df)
    contrib = bundle.contributions(X)
    proba = bundle.predict_proba(X)
    reasons = refusal_reasons(bundle, X, contrib, df["SK_ID_CURR"].tolist(), proba)
    n_refused = int((proba >= bundle.threshold).sum())
    summary = reason_summary(reasons, n_refused)
    assert summary["n"].is_monotonic_decreasing
    assert summary["share_of_refused"].max() <= 1.0
    assert summary["share_first"].sum() == pytest.approx(
        reasons.loc[reasons["rank"] == 1, "SK_ID_CURR"].nunique() / n_refused
    )
    told_gender = reasons.loc[reasons["feature"] == "CODE_GENDER", "SK_ID_CURR"].nunique()
    share = share_with_protected_reason(reasons, ["CODE_GENDER"], n_refused)
    assert share == pytest.approx(told_gender / n_refused)
    assert protected_features(
        ["CODE_GENDER", "APP_DAYS_EMPLOYED_TO_DAYS_BIRTH", "EXT_SOURCE_2"],
        ["code_gender", "DAYS_BIRTH"],
    ) == ["CODE_GENDER", "APP_DAYS_EMPLOYED_TO_DAYS_BIRTH"]


def test_holdout_rows_keep_only_holdout_clients_and_fail_on_orphans() -> None:
    df = _frame(10)
    split = df[["SK_ID_CURR", "TARGET"]].assign(subset=["train"] * 7 + ["holdout"] * 3)
    rows = holdout_rows(df, split)
    assert rows["SK_ID_CURR"].tolist() == df["SK_ID_CURR"].tail(3).tolist()
    assert rows["TARGET"].tolist() == df["TARGET"].tail(3).tolist()
    with pytest.raises(ValueError, match="no feature row"):
        holdout_rows(df.head(8), split)
    sampled = sample_rows(df, 4, seed=3)
    assert len(sampled) == 4 and sampled["SK_ID_CURR"].is_monotonic_increasing
    assert sampled.equals(sample_rows(df, 4, seed=3))


def test_linear_coefficients_table_names_levels_and_orders_by_size() -> None:
    lin = LinearModel(
        intercept=-2.0,
        numeric={
            "EXT_SOURCE_2": {"median": 0.5, "mean": 0.5, "scale": 0.2, "coef": -1.2},
            "INSTAL_DPD_MEAN": {"median": 1.0, "mean": 2.0, "scale": 2.0, "coef": 0.5},
        },
        cat_coef={"CODE_GENDER": [-0.1, 0.3]},
    )
    table = linear_coefficients(
        lin, FEATURES[:3], {"CODE_GENDER": ["F", "M"]}, {f: LABELS[f] for f in FEATURES}
    )
    assert table["feature"].tolist() == [
        "EXT_SOURCE_2",
        "INSTAL_DPD_MEAN",
        "CODE_GENDER",
        "CODE_GENDER",
    ]
    assert table["label"].iloc[2] == "Gender: M"
    assert table["coefficient"].tolist() == [-1.2, 0.5, 0.3, -0.1]


def test_figures_are_written(lgb_bundle, tmp_path: Path) -> None:
    pytest.importorskip("shap")
    from scoring.explain import plot_shap_summary

    bundle, df = lgb_bundle
    X = bundle.encode(df.head(100))
    bar, bee = plot_shap_summary(
        bundle.contributions(X),
        X,
        bundle.feature_names,
        bundle.labels,
        bundle.categorical_levels,
        bar_path=tmp_path / "bar.png",
        beeswarm_path=tmp_path / "bee.png",
    )
    assert bar.stat().st_size > 1000 and bee.stat().st_size > 1000
