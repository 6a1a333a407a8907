"""The drift stage end to end on tiny files: contract keys, the drifted column found, skip case."""

from __future__ import annotations

import json
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import yaml

from scoring.bundle import (
    Calibration,
    encode_frame,
    fit_categorical_levels,
    load_bundle,
    write_bundle,
)
from stages.drift import main as drift_main
from stages.drift import rank_features, select_columns

FEATURES = ["EXT_SOURCE_2", "AMT_CREDIT", "DAYS_BIRTH", "NAME_CONTRACT_TYPE", "NOISE"]
CONTRACT = {
    "share_drifted_columns",
    "n_drifted_columns",
    "n_columns",
    "dataset_drift",
    "top_drifted",
}


def _frame(n: int, rng: np.random.Generator, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "SK_ID_CURR": np.arange(n) + (100000 if shift == 0 else 500000),
            "EXT_SOURCE_2": np.clip(rng.normal(0.5 - shift, 0.2, n), 0, 1),
            "AMT_CREDIT": rng.lognormal(13, 0.5, n),
            "DAYS_BIRTH": rng.integers(-25000, -7000, n).astype(float),
            "NAME_CONTRACT_TYPE": pd.array(
                rng.choice(["Cash loans", "Revolving loans"], n, p=[0.9, 0.1]), dtype="string"
            ),
            "NOISE": rng.normal(0, 1, n),
        }
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("drift")
    rng = np.random.default_rng(0)
    train, test = _frame(3000, rng), _frame(1500, rng, shift=0.25)
    train["TARGET"] = (
        rng.uniform(size=len(train)) < 0.3 - 0.4 * (train["EXT_SOURCE_2"] - 0.5)
    ).astype(int)
    levels = fit_categorical_levels(train, ["NAME_CONTRACT_TYPE"])
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 7, "seed": 1, "deterministic": True},
        lgb.Dataset(encode_frame(train, FEATURES, levels), train["TARGET"]),
        num_boost_round=15,
    )
    write_bundle(
        root / "bundle",
        feature_names=FEATURES,
        categorical_levels=levels,
        threshold=0.25,
        calibration=Calibration(),
        labels={f: f for f in FEATURES},
        booster=booster,
    )
    (root / "features").mkdir()
    train[["SK_ID_CURR", "TARGET", *FEATURES]].to_parquet(root / "features/train.parquet")
    test[["SK_ID_CURR", *FEATURES]].to_parquet(root / "features/test.parquet")
    (root / "interim").mkdir()
    for name, frame, p_email in (("train", train, 0.05), ("test", test, 0.6)):
        raw = frame[["SK_ID_CURR"]].assign(FLAG_EMAIL=(rng.uniform(size=len(frame)) < p_email) * 1)
        raw.to_parquet(root / f"interim/application_{name}.parquet")
    params = {
        "seed": 3,
        "drift": {
            "top_n": 4,
            "raw_columns": ["FLAG_EMAIL", "NOT_A_COLUMN"],
            "sample_rows": 2000,
            "drift_share": 0.5,
            "psi_bins": 10,
            "psi_eps": 1e-4,
            "reference_rows": 1000,
        },
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    return root


def _run(root: Path, test_file: str, out: str) -> dict[str, object]:
    args = [
        "--params", str(root / "params.yaml"),
        "--train", str(root / "features/train.parquet"),
        "--test", str(root / test_file),
        "--interim", str(root / "interim"),
        "--bundle", str(root / "bundle"),
        "--html", str(root / out / "drift.html"),
        "--metrics", str(root / out / "drift.json"),
        "--columns", str(root / out / "drift_columns.json"),
        "--reference-out", str(root / out / "reference"),
    ]  # fmt: skip
    assert drift_main(args) == 0
    return json.loads((root / out / "drift.json").read_text(encoding="utf-8"))


def test_shifted_columns_are_reported_drifted(project: Path) -> None:
    m = _run(project, "features/test.parquet", "out")
    assert set(m) >= CONTRACT
    # 4 top features (NOISE is never used by the model, so it ranks last) + FLAG_EMAIL from interim
    assert m["n_columns"] == 5
    top = m["top_drifted"]
    assert isinstance(top, list) and {"EXT_SOURCE_2", "FLAG_EMAIL"} <= set(top)
    assert "AMT_CREDIT" not in top
    psi = m["psi"]
    assert isinstance(psi, dict) and psi["FLAG_EMAIL"] > 0.25 and psi["AMT_CREDIT"] < 0.1
    assert m["score_psi"] > 0.0  # type: ignore[operator]
    html = (project / "out/drift.html").read_text(encoding="utf-8")
    assert "EXT_SOURCE_2" in html and '<script src="http' not in html  # self-contained
    detail = json.loads((project / "out/drift_columns.json").read_text(encoding="utf-8"))
    assert detail["EXT_SOURCE_2"]["drifted"] is True
    assert detail["EXT_SOURCE_2"]["method"].startswith("Wasserstein")


def test_monitor_reference_is_written(project: Path) -> None:
    _run(project, "features/test.parquet", "out2")
    ref = pd.read_parquet(project / "out2/reference/reference.parquet")
    profile = json.loads((project / "out2/reference/profile.json").read_text(encoding="utf-8"))
    assert len(ref) == 1000 and "score" in ref.columns
    assert set(profile["psi_bins"]) == set(profile["columns"]) and "score_bins" in profile
    assert profile["model_version"] == load_bundle(project / "bundle").model_version
    assert 0.0 < profile["approval_rate_reference"] < 1.0


def test_empty_application_test_is_skipped_with_a_note(project: Path) -> None:
    empty = pd.read_parquet(project / "features/test.parquet").iloc[0:0]
    empty.to_parquet(project / "features/empty.parquet")
    m = _run(project, "features/empty.parquet", "out3")
    assert m["n_columns"] == 0 and m["dataset_drift"] is False and m["top_drifted"] == []
    assert m["note"] == "skipped: no application_test"
    assert "no application_test" in (project / "out3/drift.html").read_text(encoding="utf-8")
    assert (project / "out3/reference/profile.json").is_file()


def test_feature_ranking_prefers_explicit_rankings_then_gain(project: Path) -> None:
    bundle = load_bundle(project / "bundle")
    by_gain = rank_features(bundle)
    assert by_gain[0] == "EXT_SOURCE_2" and set(by_gain) == set(FEATURES)
    assert rank_features(bundle, ["DAYS_BIRTH", "UNKNOWN"])[:2] == ["DAYS_BIRTH", "EXT_SOURCE_2"]
    cols = select_columns(by_gain, ["FLAG_EMAIL", "EXT_SOURCE_2"], 2, set(FEATURES))
    assert cols == by_gain[:2]  # duplicates dropped, absent raw columns ignored
