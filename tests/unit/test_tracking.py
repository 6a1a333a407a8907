"""MLflow on a temporary SQLite store: nested trial runs, the registered bundle, aliases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from scoring import tracking
from scoring.bundle import (
    Calibration,
    encode_frame,
    fit_categorical_levels,
    load_bundle,
    write_bundle,
)
from scoring.cost import CostWeights
from scoring.threshold import threshold_grid
from scoring.training import FoldResult, TrialRecord

FEATURES = ["AMT", "EXT", "ORG"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowClient]:
    """One migrated SQLite store for the module (a fresh DB takes seconds to migrate)."""
    db = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
        mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        tracking.start("tests")
        yield MlflowClient()


@pytest.mark.parametrize(
    "new, champion, alias",
    [
        (100.0, None, "champion"),
        (90.0, 100.0, "champion"),
        (100.0, 100.0, "challenger"),
        (120.0, 100.0, "challenger"),
    ],
)
def test_champion_moves_only_on_a_strictly_lower_cost(
    new: float, champion: float | None, alias: str
) -> None:
    assert tracking.decide_alias(new, champion)[0] == alias


def _folds(n: int) -> tuple[FoldResult, ...]:
    return tuple(FoldResult(k, 0.7 + k / 100, 0.5 - k / 100, 1.5, 30 + k) for k in range(n))


def test_trials_are_nested_runs_with_per_fold_metrics(store: MlflowClient) -> None:
    exp = store.get_experiment_by_name("tests")
    assert exp is not None
    rng = np.random.default_rng(0)
    y = (rng.uniform(size=300) < 0.2).astype(int)
    oof = np.clip(y * 0.3 + rng.uniform(0, 0.5, 300), 0, 1)
    with mlflow.start_run(run_name="parent") as parent:
        logger = tracking.MlflowTrialLogger(
            store,
            exp.experiment_id,
            parent.info.run_id,
            {"data_digest": "abc", "git_rev": "r1"},
            CostWeights(),
            threshold_grid(101),
        )
        logger(
            TrialRecord(
                model="lightgbm",
                resample="none",
                params={"num_leaves": 7},
                phase="coarse",
                number=0,
                state="complete",
                value=0.5,
                auc=0.71,
                folds=_folds(3),
                y=y,
                oof=oof,
            )
        )
        logger(
            TrialRecord(
                model="lightgbm",
                resample="none",
                params={"num_leaves": 7},
                phase="refine",
                number=1,
                state="pruned",
                value=None,
                auc=None,
                folds=_folds(1),
            )
        )
        logger(
            TrialRecord(
                model="lightgbm",
                resample="none",
                params={"num_leaves": 7},
                phase="compare",
                number=0,
                state="complete",
                value=0.5,
                auc=0.7,
                folds=_folds(3),
                y=y,
                oof=oof,
            )
        )
    children = store.search_runs(
        [exp.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    by_phase = {r.data.tags["phase"]: r for r in children}
    assert set(by_phase) == {"coarse", "refine", "compare"}
    done = by_phase["coarse"]
    assert done.info.status == "FINISHED" and by_phase["refine"].info.status == "KILLED"
    assert done.data.params["num_leaves"] == "7" and done.data.tags["git_rev"] == "r1"
    assert done.data.tags["data_digest"] == "abc"
    history = store.get_metric_history(done.info.run_id, "fold_auc")
    assert [m.step for m in history] == [0, 1, 2]
    assert done.data.metrics["oof_cost_per_client"] == 0.5 and "fit_seconds" in done.data.metrics
    artifacts = {a.path for a in store.list_artifacts(done.info.run_id, "plots")}
    assert {"plots/roc.json", "plots/cost.json"} <= artifacts
    compare_art = {a.path for a in store.list_artifacts(by_phase["compare"].info.run_id, "plots")}
    assert "plots/roc.png" in compare_art and "plots/confusion.png" in compare_art


def _bundle(path: Path) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 400
    df = pd.DataFrame(
        {
            "AMT": rng.normal(5e5, 1e5, n).round(),
            "EXT": np.where(rng.uniform(size=n) < 0.1, np.nan, rng.uniform(0, 1, n)),
            "ORG": pd.Series(rng.choice(np.array(["A", "B", None]), n), dtype="string"),
        }
    )
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(2 + 3 * (df["EXT"].fillna(0.5) - 0.5)))).astype(int)
    levels = fit_categorical_levels(df, ["ORG"])
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 4, "deterministic": True, "seed": 1},
        lgb.Dataset(encode_frame(df, FEATURES, levels), y, categorical_feature=[2]),
        num_boost_round=10,
    )
    write_bundle(
        path,
        feature_names=FEATURES,
        categorical_levels=levels,
        threshold=0.2,
        calibration=Calibration("platt", a=1.0, b=-0.2),
        labels={f: f for f in FEATURES},
        booster=booster,
    )
    return df


def test_registered_bundle_serves_the_bundle_probability(
    store: MlflowClient, tmp_path: Path
) -> None:
    df = _bundle(tmp_path / "bundle")
    with mlflow.start_run(run_name="evaluate"):
        uri, version = tracking.log_bundle_model(tmp_path / "bundle", df.head(5), "cs-roundtrip")
    promotion = tracking.promote(store, "cs-roundtrip", version, 10.0, "h1")
    assert promotion.alias == "champion"
    model = mlflow.pyfunc.load_model("models:/cs-roundtrip@champion")
    bundle = load_bundle(tmp_path / "bundle")
    frame = tracking.model_input_frame(df.iloc[10:40], bundle)
    assert frame["AMT"].dtype == "float64"  # NaN-safe signature
    np.testing.assert_allclose(model.predict(frame), bundle.predict_proba(bundle.encode(frame)))
    signature = model.metadata.get_input_schema()
    assert signature is not None and signature.input_names() == FEATURES
    assert uri.startswith("models:/")


def _version(client: MlflowClient, name: str, cost: float, digest: str, where: Path) -> str:
    """A registry entry with the tags the evaluate stage sets (no artifacts needed here)."""
    if not client.search_registered_models(f"name = '{name}'"):
        client.create_registered_model(name)
    v = client.create_model_version(name, source=str(where))
    for key, value in {"business_cost": cost, "holdout_digest": digest, "threshold": 0.1}.items():
        client.set_model_version_tag(name, v.version, key, str(value))
    return str(v.version)


def _alias(client: MlflowClient, name: str, alias: str) -> str:
    return str(client.get_model_version_by_alias(name, alias).version)


def test_aliases_follow_the_business_cost_on_the_same_holdout(
    store: MlflowClient, tmp_path: Path
) -> None:
    name = "cs-aliases"
    v1 = _version(store, name, 100.0, "h1", tmp_path)
    assert tracking.promote(store, name, v1, 100.0, "h1").alias == "champion"
    v2 = _version(store, name, 120.0, "h1", tmp_path)
    assert tracking.promote(store, name, v2, 120.0, "h1").alias == "challenger"
    assert _alias(store, name, "champion") == v1 and _alias(store, name, "challenger") == v2
    v3 = _version(store, name, 90.0, "h1", tmp_path)
    p3 = tracking.promote(store, name, v3, 90.0, "h1")
    assert p3.alias == "champion" and p3.champion_version == v1 and p3.champion_cost == 100.0
    assert _alias(store, name, "champion") == v3


def test_another_holdout_needs_a_rescore(store: MlflowClient, tmp_path: Path) -> None:
    name = "cs-rescore"
    v1 = _version(store, name, 100.0, "old", tmp_path)
    tracking.promote(store, name, v1, 100.0, "old")
    v2 = _version(store, name, 95.0, "new", tmp_path)
    # rescored on the new holdout the champion costs 80: 95 does not beat it
    seen: list[tuple[str, float]] = []

    def rescore(uri: str, threshold: float) -> float:
        seen.append((uri, threshold))
        return 80.0

    p2 = tracking.promote(store, name, v2, 95.0, "new", rescore)
    assert p2.alias == "challenger" and p2.champion_cost == 80.0
    assert seen == [(f"models:/{name}/{v1}", 0.1)]

    def cannot(uri: str, threshold: float) -> float:
        raise KeyError("needs features absent from this holdout")

    v3 = _version(store, name, 1.0, "new", tmp_path)
    p3 = tracking.promote(store, name, v3, 1.0, "new", cannot)
    assert p3.alias == "challenger" and "not comparable" in p3.reason
    assert _alias(store, name, "champion") == v1


def test_frame_digest_tracks_content_not_files() -> None:
    a = pd.DataFrame({"SK_ID_CURR": [1, 2], "TARGET": [0, 1]})
    assert tracking.frame_digest(a) == tracking.frame_digest(a.copy())
    assert tracking.frame_digest(a) != tracking.frame_digest(a.assign(TARGET=[1, 1]))
    assert tracking.frame_digest(a) != tracking.frame_digest(a.rename(columns={"TARGET": "Y"}))


def test_stages_write_the_contract_outputs_and_register(
    store: MlflowClient, tmp_path: Path
) -> None:
    """split → resample → train → evaluate on a tiny frame, twice: same bundle, second is
    challenger (it does not beat an identical champion)."""
    import json

    import yaml

    from stages import evaluate, resample, split, train
    from tests.unit.test_resampling import CATEGORICAL, FEATURES, frame

    df = frame(500, seed=5)
    d = tmp_path
    (d / "features").mkdir()
    df[["SK_ID_CURR", "TARGET", *FEATURES]].to_parquet(d / "features/train.parquet")
    test_rows = frame(40, seed=6).assign(SK_ID_CURR=lambda f: f["SK_ID_CURR"] + 10_000)
    test_rows[["SK_ID_CURR", *FEATURES]].to_parquet(d / "features/test.parquet")
    (d / "features/features.yaml").write_text("spec: {}\n")
    kinds = {f: ("categorical" if f in CATEGORICAL else "numeric") for f in FEATURES}
    (d / "features/feature_list.json").write_text(
        json.dumps(
            {
                "features": [
                    {
                        "name": f,
                        "kind": k,
                        "source_table": "application_train",
                        "label": f"label of {f}",
                    }
                    for f, k in kinds.items()
                ]
            }
        )
    )
    df[["SK_ID_CURR", "TARGET"]].to_parquet(d / "application_train.parquet")
    test_rows[["SK_ID_CURR", "CNT"]].assign(NAME_RAW="x").to_parquet(d / "application_test.parquet")
    lgbm = {
        "kind": "lightgbm",
        "learning_rate": 0.1,
        "n_estimators": 30,
        "early_stopping_rounds": 5,
        "num_leaves": 5,
        "space": {"num_leaves": {"type": "int", "low": 3, "high": 9}},
    }
    rs = {"strategy": "class_weight", "calibration": "platt"}
    params = {
        "seed": 3,
        "split": {"test_size": 0.25},
        "cv": {"n_folds": 3},
        "cost": {"fn": 10.0, "fp": 1.0},
        "model": lgbm,
        "resample": rs,
        "search": {
            "coarse_trials": 1,
            "refine_trials": 1,
            "threshold_points": 201,
            "n_jobs": 1,
            "candidates": {"dummy": {"kind": "dummy"}, "lightgbm": lgbm},
            "strategies": {"none": {"strategy": "none"}, "class_weight": rs},
        },
        "tracking": {"experiment": "stages", "registered_model": "cs-stages"},
    }
    (d / "params.yaml").write_text(yaml.safe_dump(params))
    p = ["--params", str(d / "params.yaml")]
    feats = [
        "--features",
        str(d / "features/train.parquet"),
        "--feature-list",
        str(d / "features/feature_list.json"),
    ]
    split.main([*p, "--train", str(d / "application_train.parquet"), "--out", str(d / "split.pq")])
    resample.main(
        [
            *p,
            *feats,
            "--split",
            str(d / "split.pq"),
            "--out",
            str(d / "resample"),
            "--report",
            str(d / "metrics/resample.json"),
        ]
    )
    train.main(
        [
            *p,
            *feats,
            "--split",
            str(d / "split.pq"),
            "--out",
            str(d / "train"),
            "--cv-metrics",
            str(d / "metrics/cv.json"),
            "--models-metrics",
            str(d / "metrics/models.json"),
        ]
    )

    def run_evaluate(bundle: str) -> None:
        evaluate.main(
            [
                *p,
                *feats,
                "--test-features",
                str(d / "features/test.parquet"),
                "--feature-spec",
                str(d / "features/features.yaml"),
                "--split",
                str(d / "split.pq"),
                "--resampled",
                str(d / "resample"),
                "--train-dir",
                str(d / "train"),
                "--application-test",
                str(d / "application_test.parquet"),
                "--bundle",
                str(d / bundle),
                "--metrics",
                str(d / "metrics/test.json"),
                "--plots",
                str(d / "metrics/plots"),
            ]
        )

    run_evaluate("bundle")
    run_evaluate("bundle2")
    cv = json.loads((d / "metrics/cv.json").read_text())
    assert cv["model"] == "lightgbm" and cv["resample"] == "class_weight" and cv["n_folds"] == 3
    assert set(json.loads((d / "metrics/models.json").read_text())) == {
        "dummy/none",
        "dummy/class_weight",
        "lightgbm/none",
        "lightgbm/class_weight",
    }
    assert json.loads((d / "metrics/resample.json").read_text())["strategy"] == "class_weight"
    test = json.loads((d / "metrics/test.json").read_text())
    bundle = load_bundle(d / "bundle")
    assert bundle.threshold == test["threshold"] and bundle.calibration.method == "platt"
    assert bundle.meta["metrics"]["test"] == test
    for name in ("bundle.json", "model.txt", "clients.parquet", "features.yaml"):
        assert (d / "bundle" / name).read_bytes() == (d / "bundle2" / name).read_bytes(), name
    clients = pd.read_parquet(d / "bundle/clients.parquet")
    assert list(clients.columns) == ["SK_ID_CURR", "NAME_RAW", *FEATURES] and len(clients) == 40
    calib = json.loads((d / "metrics/plots/calibration.json").read_text())
    assert {"mean_predicted", "observed_rate"} <= set(calib[0])
    assert _alias(store, "cs-stages", "champion") == "1"
    assert _alias(store, "cs-stages", "challenger") == "2"
    # the champion re-scored on the holdout (the path used when holdouts differ) costs the same
    from scoring.training import subset_rows

    holdout = subset_rows(df, pd.read_parquet(d / "split.pq"), "holdout")
    rescore = evaluate.make_rescorer(holdout, holdout["TARGET"].to_numpy(), CostWeights())
    assert rescore("models:/cs-stages/1", bundle.threshold) == test["business_cost"]
