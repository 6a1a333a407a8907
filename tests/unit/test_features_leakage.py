"""Leakage guards: no feature depends on TARGET, and application_test rows never change what
the training rows get (the only fitted encodings are learnt from application_train)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from scoring.features import load_spec
from scoring.features.sample import random_applications, write_interim
from stages.features import FeaturesParams, run
from tests.unit.test_features_spec import DEFAULT


@pytest.fixture(scope="module")
def params() -> FeaturesParams:
    return FeaturesParams(spec=load_spec(DEFAULT))


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory, params: FeaturesParams) -> Path:
    interim = tmp_path_factory.mktemp("interim")
    write_interim(interim, n_train=120, n_test=40, seed=11)
    out = tmp_path_factory.mktemp("out")
    run(params, interim, out)
    return out


def rerun(tmp_path: Path, params: FeaturesParams, change: str) -> Path:
    interim = tmp_path / "interim"
    write_interim(interim, n_train=120, n_test=40, seed=11)
    if change == "permute target":
        train = pd.read_parquet(interim / "application_train.parquet")
        train["TARGET"] = np.random.default_rng(0).permutation(train["TARGET"].to_numpy())
        train.to_parquet(interim / "application_train.parquet", index=False)
    else:  # other test clients, with other category levels
        other = random_applications(
            np.arange(900_001, 900_061), np.random.default_rng(5), train=False
        )
        other["ORGANIZATION_TYPE"] = "Bank"
        other.to_parquet(interim / "application_test.parquet", index=False)
    out = tmp_path / "out"
    run(params, interim, out)
    return out


def test_permuting_target_leaves_every_feature_unchanged(
    tmp_path: Path, params: FeaturesParams, baseline: Path
) -> None:
    out = rerun(tmp_path, params, "permute target")
    before = pd.read_parquet(baseline / "train.parquet")
    after = pd.read_parquet(out / "train.parquet")
    assert not before["TARGET"].equals(after["TARGET"])  # the permutation did something
    pd.testing.assert_frame_equal(before.drop(columns="TARGET"), after.drop(columns="TARGET"))
    pd.testing.assert_frame_equal(
        pd.read_parquet(baseline / "test.parquet"), pd.read_parquet(out / "test.parquet")
    )


def test_test_rows_do_not_change_training_features_or_encodings(
    tmp_path: Path, params: FeaturesParams, baseline: Path
) -> None:
    out = rerun(tmp_path, params, "other test rows")
    pd.testing.assert_frame_equal(
        pd.read_parquet(baseline / "train.parquet"), pd.read_parquet(out / "train.parquet")
    )
    fitted_before = yaml.safe_load((baseline / "features.yaml").read_text())["fitted"]
    fitted_after = yaml.safe_load((out / "features.yaml").read_text())["fitted"]
    assert fitted_before == fitted_after


def test_frequency_encoding_is_the_training_share(baseline: Path) -> None:
    train = pd.read_parquet(baseline / "train.parquet")
    share = train["ORGANIZATION_TYPE"].value_counts() / len(train)
    for level, expected in share.items():
        got = train.loc[train["ORGANIZATION_TYPE"] == level, "ORGANIZATION_TYPE_FREQ"]
        assert np.allclose(got, expected)
    assert train.loc[train["ORGANIZATION_TYPE"].isna(), "ORGANIZATION_TYPE_FREQ"].isna().all()
