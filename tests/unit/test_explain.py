"""Explanations: contributions add up to the score, reasons only ever argue for the refusal."""

from __future__ import annotations

import json
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
    names = ["CODE_GENDER", "NAME_FAMILY_STATUS_FREQ", "AGE_YEARS", "EXT_SOURCE_2", "DAYS_X"]
    # by name, or because the spec computes the feature from the attribute
    exprs = {"AGE_YEARS": "-DAYS_BIRTH / 365.25", "DAYS_X": "DAYS_BIRTHDAY_GIFT + 1"}
    assert protected_features(
        names, ["code_gender", "NAME_FAMILY_STATUS", "DAYS_BIRTH"], exprs
    ) == [
        "CODE_GENDER",
        "NAME_FAMILY_STATUS_FREQ",
        "AGE_YEARS",
    ]


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


PARAMS = """
seed: 7
data: {raw_dir: data/raw}
explain:
  top_n: 3
  max_rows: 400
  n_reasons: 4
  protected: [CODE_GENDER, DAYS_BIRTH, NAME_FAMILY_STATUS]
  fairness:
    attributes: [CODE_GENDER, AGE_BAND, NAME_FAMILY_STATUS]
    age_edges: [30, 50]
    min_group_size: 20
    di_threshold: 0.8
"""


def test_stage_writes_figures_metrics_top_features_and_card(lgb_bundle, tmp_path: Path) -> None:
    """The whole stage on a tiny hand-made pipeline state (as dvc.yaml calls it)."""
    pytest.importorskip("shap")
    from stages.explain import main

    bundle, df = lgb_bundle
    rng = np.random.default_rng(5)
    n_holdout = 200
    split = df[["SK_ID_CURR", "TARGET"]].assign(
        subset=["train"] * (len(df) - n_holdout) + ["holdout"] * n_holdout
    )
    app = df[["SK_ID_CURR", "CODE_GENDER"]].assign(
        DAYS_BIRTH=-rng.integers(20 * 365, 70 * 365, len(df)),
        NAME_FAMILY_STATUS=rng.choice(["Married", "Single / not married"], len(df)),
    )
    (tmp_path / "params.yaml").write_text(PARAMS)
    spec = {  # a resolved feature spec: one derived feature computed from DAYS_BIRTH
        "version": 1,
        "label_template": "{column} ({agg}) — {table}{subset}",
        "agg_labels": {a: a for a in ("min", "max", "mean", "sum", "var", "count", "nunique")}
        | {"share": "share"},
        "application": {"derived": {"INSTAL_DPD_MEAN": {"expr": "-DAYS_BIRTH", "label": "x"}}},
    }
    (tmp_path / "features.yaml").write_text(json.dumps({"spec": spec}))
    df.to_parquet(tmp_path / "features.parquet")
    split.to_parquet(tmp_path / "split.parquet")
    app.to_parquet(tmp_path / "app.parquet")
    test_metrics = {"auc": 0.81, "business_cost": 321.0, "brier": 0.1, "approval_rate": 0.7}
    (tmp_path / "test.json").write_text(json.dumps(test_metrics))
    (tmp_path / "cv.json").write_text(json.dumps({"auc_mean": 0.8, "n_folds": 3}))
    (tmp_path / "models.json").write_text(json.dumps({"lightgbm": {"auc": 0.81}}))
    out = tmp_path / "out"
    args = {
        "params": tmp_path / "params.yaml",
        "bundle": bundle.root,
        "features": tmp_path / "features.parquet",
        "feature-spec": tmp_path / "features.yaml",
        "split": tmp_path / "split.parquet",
        "application": tmp_path / "app.parquet",
        "test-metrics": tmp_path / "test.json",
        "cv-metrics": tmp_path / "cv.json",
        "models-metrics": tmp_path / "models.json",
        "explain-metrics": out / "explain.json",
        "fairness-metrics": out / "fairness.json",
        "importance": out / "shap_importance.csv",
        "reasons": out / "reason_codes.csv",
        "coefficients": out / "linear_coefficients.csv",
        "top-features": out / "top_features.json",
        "shap-bar": out / "fig" / "shap_bar.png",
        "shap-beeswarm": out / "fig" / "shap_beeswarm.png",
        "fairness-figure": out / "fig" / "fairness.png",
        "model-card": out / "model_card.md",
    }
    main([x for k, v in args.items() for x in (f"--{k}", str(v))])

    for key in ("shap-bar", "shap-beeswarm", "fairness-figure"):
        assert args[key].read_bytes()[:4] == b"\x89PNG"
    metrics = json.loads(args["explain-metrics"].read_text())
    assert metrics["n_holdout"] == n_holdout and metrics["n_train"] == len(df) - n_holdout
    assert metrics["contribution_sum_max_abs_error"] < 1e-9
    assert metrics["n_label_issues"] == 0
    top = json.loads(args["top-features"].read_text())
    assert top["features"][0] == "EXT_SOURCE_2" and len(top["features"]) == 3
    assert top["labels"]["EXT_SOURCE_2"] == LABELS["EXT_SOURCE_2"]
    fairness = json.loads(args["fairness-metrics"].read_text())
    assert fairness["n"] == n_holdout
    assert set(fairness["AGE_BAND"]["groups"]) <= {"<30", "30-49", "50+"}
    assert sum(g["n"] for g in fairness["CODE_GENDER"]["groups"].values()) == n_holdout
    reasons = pd.read_csv(args["reasons"])
    holdout_ids = set(split.loc[split["subset"] == "holdout", "SK_ID_CURR"])
    assert set(reasons["SK_ID_CURR"]) <= holdout_ids and (reasons["contribution"] > 0).all()
    card = args["model-card"].read_text()
    assert bundle.model_version in card
    assert f"**{bundle.threshold:.3f}**" in card
    assert "| ROC AUC | 0.810 |" in card
    assert "External credit score (source 2)" in card
    # the spec says INSTAL_DPD_MEAN is computed from DAYS_BIRTH: the card must say so
    assert "- `DAYS_BIRTH`: used, through `INSTAL_DPD_MEAN`" in card
    assert "- `NAME_FAMILY_STATUS`: **not used by the model**" in card


# --------------------------------------------------------------------------------------------
# Labels (scoring/labels.py): every feature gets a label an officer can read to a client
# --------------------------------------------------------------------------------------------
def test_label_refinement_removes_dictionary_artefacts_and_shared_labels() -> None:
    from scoring.labels import audit_labels, refine_labels

    raw = {
        "FLAG_PHONE": "Did client provide home phone (1=YES, 0=NO)",
        "FLAG_OWN_CAR": "Flag if the client owns a car",
        "REG_REGION_NOT_LIVE_REGION": "Flag if client's permanent address does not match contact "
        "address (1=different, 0=same, at region level)",
        "REG_CITY_NOT_LIVE_CITY": "Flag if client's permanent address does not match contact "
        "address",
        "LIVE_CITY_NOT_WORK_CITY": "Flag if client's contact address does not match work address",
        "LIVE_REGION_NOT_WORK_REGION": "Flag if client's contact address does not match work "
        "address",
        "AMT_CREDIT": "",
        "AGE_YEARS": "Age (years)",
    }
    problems = {(i.feature, i.problem.split(" as ")[0]) for i in audit_labels(raw)}
    assert ("FLAG_PHONE", "data-dictionary coding note left in") in problems
    assert ("AMT_CREDIT", "empty label") in problems
    assert ("LIVE_REGION_NOT_WORK_REGION", "same label") in problems
    assert not any(f == "AGE_YEARS" for f, _ in problems)

    refined = refine_labels(raw)
    assert list(refined) == list(raw)  # same features, same order
    assert refined["FLAG_PHONE"] == "Home phone provided"
    assert refined["FLAG_OWN_CAR"] == "Client owns a car"
    assert refined["REG_REGION_NOT_LIVE_REGION"].endswith("contact address (region level)")
    assert refined["LIVE_CITY_NOT_WORK_CITY"].endswith("work address (city)")
    assert refined["LIVE_REGION_NOT_WORK_REGION"].endswith("work address (region)")
    assert refined["AGE_YEARS"] == "Age (years)"
    # an empty label falls back to words, and the audit still says it is only the column name
    assert refined["AMT_CREDIT"] == "Amt credit"
    assert [i.feature for i in audit_labels(refined)] == ["AMT_CREDIT"]


def test_every_feature_of_the_spec_has_a_real_label() -> None:
    """Every feature the spec generates gets a non-empty, distinct label that is not its name."""
    spec_module = pytest.importorskip("scoring.features.spec")
    from scoring.labels import audit_labels, refine_labels

    conf = Path(__file__).resolve().parents[2] / "conf" / "features" / "default.yaml"
    if not conf.is_file():
        pytest.skip(f"{conf} not present")
    spec = spec_module.load_spec(conf)
    labels = refine_labels({f.name: f.label for f in spec.features})
    assert len(labels) == len(spec.features) > 100
    bad = [
        i
        for i in audit_labels(labels)
        if not i.problem.startswith("longer than")  # long labels: reported to the spec owner
    ]
    assert bad == []
