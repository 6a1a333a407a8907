"""The bundle round-trips without pickle, and what the API computes equals what training saw."""

from __future__ import annotations

import json
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from scoring.bundle import (
    BundleError,
    Calibration,
    LinearModel,
    encode_frame,
    fit_categorical_levels,
    load_bundle,
    write_bundle,
)

FEATURES = ["AMT_CREDIT", "EXT_SOURCE_2", "NAME_CONTRACT_TYPE"]


def _frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "AMT_CREDIT": rng.normal(5e5, 1e5, n),
            "EXT_SOURCE_2": rng.uniform(0, 1, n),
            "NAME_CONTRACT_TYPE": rng.choice(["Cash loans", "Revolving loans"], n),
        }
    )
    df.loc[::17, "EXT_SOURCE_2"] = np.nan
    logit = -2.5 + 3 * (0.5 - df["EXT_SOURCE_2"].fillna(0.5))
    df["TARGET"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    return df


@pytest.fixture()
def lgb_bundle(tmp_path: Path):
    df = _frame()
    levels = fit_categorical_levels(df, ["NAME_CONTRACT_TYPE"])
    X = encode_frame(df, FEATURES, levels)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 7, "deterministic": True, "seed": 1},
        lgb.Dataset(X, df["TARGET"], categorical_feature=[2], free_raw_data=False),
        num_boost_round=20,
    )
    labels = {f: f.lower() for f in FEATURES}
    write_bundle(
        tmp_path / "b",
        feature_names=FEATURES,
        categorical_levels=levels,
        threshold=0.2,
        calibration=Calibration("platt", a=1.1, b=-0.1),
        labels=labels,
        booster=booster,
    )
    return tmp_path / "b", df, booster


def test_lightgbm_round_trip_scores_equal_training_booster(lgb_bundle) -> None:
    path, df, booster = lgb_bundle
    b = load_bundle(path)
    X = b.encode(df)
    np.testing.assert_allclose(b.raw_score(X), booster.predict(X, raw_score=True))
    contrib = b.contributions(X)
    np.testing.assert_allclose(contrib.sum(axis=1), b.raw_score(X), rtol=1e-9, atol=1e-9)


def test_record_fast_path_equals_frame_path(lgb_bundle) -> None:
    path, df, _ = lgb_bundle
    b = load_bundle(path)
    X = b.encode(df)
    for i in range(0, len(df), 37):
        rec = {k: (None if pd.isna(v) else v) for k, v in df.iloc[i][FEATURES].items()}
        np.testing.assert_array_equal(b.encode_record(rec), X[i : i + 1])


def test_unknown_category_is_missing_not_an_error(lgb_bundle) -> None:
    b = load_bundle(lgb_bundle[0])
    row = b.encode_record({"AMT_CREDIT": 1e5, "EXT_SOURCE_2": 0.3, "NAME_CONTRACT_TYPE": "Boat"})
    assert np.isnan(row[0, 2])


def test_reason_codes_only_push_toward_refusal(lgb_bundle) -> None:
    b = load_bundle(lgb_bundle[0])
    X = b.encode(lgb_bundle[1])
    contrib = b.contributions(X)
    for i in range(len(X)):
        reasons = b.reason_codes(X[i], contrib[i])
        assert len(reasons) <= 4
        assert all(r.contribution > 0 for r in reasons)
        assert [r.contribution for r in reasons] == sorted(
            (r.contribution for r in reasons), reverse=True
        )


def test_same_inputs_give_same_version(tmp_path: Path, lgb_bundle) -> None:
    path, _, booster = lgb_bundle
    meta = json.loads((path / "bundle.json").read_text())
    write_bundle(
        tmp_path / "again",
        feature_names=FEATURES,
        categorical_levels=meta["categorical_levels"],
        threshold=0.2,
        calibration=Calibration("platt", a=1.1, b=-0.1),
        labels={f: f.lower() for f in FEATURES},
        booster=booster,
    )
    assert load_bundle(tmp_path / "again").model_version == meta["model_version"]


def test_linear_contributions_sum_to_raw_score(tmp_path: Path) -> None:
    lin = LinearModel(
        intercept=-2.0,
        numeric={
            "AMT_CREDIT": {"median": 5e5, "mean": 5e5, "scale": 1e5, "coef": 0.3},
            "EXT_SOURCE_2": {"median": 0.5, "mean": 0.5, "scale": 0.2, "coef": -1.0},
        },
        cat_coef={"NAME_CONTRACT_TYPE": [0.1, -0.2]},
    )
    write_bundle(
        tmp_path / "lin",
        feature_names=FEATURES,
        categorical_levels={"NAME_CONTRACT_TYPE": ["Cash loans", "Revolving loans"]},
        threshold=0.1,
        calibration=Calibration(),
        labels={f: f for f in FEATURES},
        linear=lin,
    )
    b = load_bundle(tmp_path / "lin")
    X = b.encode(_frame(50))
    c = b.contributions(X)
    np.testing.assert_allclose(c.sum(axis=1), b.raw_score(X))
    # a missing EXT_SOURCE_2 is imputed by the median, which is also the mean: no contribution
    assert np.all(c[np.isnan(X[:, 1]), 1] == 0)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: (p / "bundle.json").unlink(), "bundle.json not found"),
        (lambda p: (p / "bundle.json").write_text("{not json"), "not valid JSON"),
        (lambda p: (p / "model.txt").write_text("garbage"), "not a valid LightGBM model"),
        (lambda p: (p / "model.txt").unlink(), "model file not found"),
    ],
)
def test_corrupt_bundle_fails_with_a_clear_message(lgb_bundle, mutate, message) -> None:
    path = lgb_bundle[0]
    mutate(path)
    with pytest.raises(BundleError, match=message):
        load_bundle(path)


def test_isotonic_calibration_is_monotone() -> None:
    cal = Calibration("isotonic", x=(0.0, 0.2, 1.0), y=(0.0, 0.1, 0.9))
    p = np.linspace(0, 1, 11)
    out = cal.apply(p)
    assert np.all(np.diff(out) >= 0)
    assert out[0] == 0.0 and out[-1] == pytest.approx(0.9)
    with pytest.raises(BundleError):
        Calibration.from_dict({"method": "isotonic", "x": [0.5, 0.1], "y": [0, 1]})


def test_single_thread_predict_params_give_the_same_scores(lgb_bundle) -> None:
    """A server sets num_threads=1 per worker; scores and contributions must not move."""
    path, df, _ = lgb_bundle
    b = load_bundle(path)
    X = b.encode(df)
    proba, contrib = b.predict_proba(X), b.contributions(X)
    b.predict_params = {"num_threads": 1}
    np.testing.assert_array_equal(b.predict_proba(X), proba)
    np.testing.assert_array_equal(b.contributions(X), contrib)


def test_record_fast_path_handles_missing_and_unknown_values(lgb_bundle) -> None:
    """None, NaN, unseen levels and absent keys encode exactly as the frame path does."""
    from scoring.bundle import encode_record

    b = load_bundle(lgb_bundle[0])
    records = [
        {"AMT_CREDIT": None, "EXT_SOURCE_2": float("nan"), "NAME_CONTRACT_TYPE": None},
        {"AMT_CREDIT": 12, "EXT_SOURCE_2": 0.5, "NAME_CONTRACT_TYPE": "Boat"},
        {"EXT_SOURCE_2": 0.25, "NAME_CONTRACT_TYPE": "Revolving loans"},
        {"AMT_CREDIT": 3.5e5, "EXT_SOURCE_2": None, "NAME_CONTRACT_TYPE": "Cash loans"},
    ]
    frame = pd.DataFrame([{f: r.get(f) for f in FEATURES} for r in records])
    want = b.encode(frame)
    for i, rec in enumerate(records):
        np.testing.assert_array_equal(b.encode_record(rec), want[i : i + 1])
        np.testing.assert_array_equal(
            encode_record(rec, b.feature_names, b.level_index), want[i : i + 1]
        )
