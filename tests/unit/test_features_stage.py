"""The `features` stage end to end on small parquet files: what it writes is what the model
stage, the API and the drift stage read."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from scoring.features import FeatureBuilder
from scoring.features.sample import write_interim
from stages.features import main
from tests.unit.test_features_spec import DEFAULT


def params_file(tmp_path: Path, spec: dict | None = None) -> Path:
    raw = spec if spec is not None else yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"seed": 1, "features": raw}, sort_keys=False), "utf-8")
    return path


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("stage")
    write_interim(tmp / "interim", n_train=60, n_test=25, seed=2)
    code = main(
        [
            "--params",
            str(params_file(tmp)),
            "--interim",
            str(tmp / "interim"),
            "--out",
            str(tmp / "out"),
        ]
    )
    assert code == 0
    return tmp / "out"


def test_outputs_follow_the_contract(outputs: Path) -> None:
    train = pd.read_parquet(outputs / "train.parquet")
    test = pd.read_parquet(outputs / "test.parquet")
    features = json.loads((outputs / "feature_list.json").read_text())["features"]
    names = [f["name"] for f in features]
    assert list(train.columns) == ["SK_ID_CURR", "TARGET", *names]
    assert list(test.columns) == ["SK_ID_CURR", *names]
    assert (len(train), len(test)) == (60, 25)
    assert train["SK_ID_CURR"].is_unique and test["SK_ID_CURR"].is_unique
    for f in features:
        assert set(f) == {"name", "kind", "source_table", "label"}
        assert f["label"].strip()
        if f["kind"] == "categorical":  # strings: the model stage encodes them
            assert train[f["name"]].dropna().map(type).eq(str).all()
        else:
            assert pd.api.types.is_float_dtype(train[f["name"]]), f["name"]
    assert {f["kind"] for f in features} == {"numeric", "categorical"}


def test_the_saved_spec_rebuilds_the_same_features(outputs: Path) -> None:
    """What the bundle ships (features.yaml) gives the API the training features."""
    builder = FeatureBuilder.load(outputs / "features.yaml")
    train = pd.read_parquet(outputs / "train.parquet")
    assert builder.feature_names == list(train.columns[2:])
    raw = pd.read_parquet(outputs.parent / "interim" / "application_train.parquet")
    no_history = train[
        (train["BURO_ALL_SK_ID_BUREAU_COUNT"] == 0) & (train["PREV_ALL_SK_ID_PREV_COUNT"] == 0)
    ]
    assert len(no_history) > 0
    for _, client in no_history.head(5).iterrows():
        row = raw[raw["SK_ID_CURR"] == client["SK_ID_CURR"]].iloc[0]
        app = {
            k: (None if pd.isna(v) else (v.item() if hasattr(v, "item") else v))
            for k, v in row.items()
        }
        values = builder.for_application(app)
        wrong = [
            k
            for k, v in values.items()
            if not ((v is None and pd.isna(client[k])) or v == client[k])
        ]
        assert not wrong, wrong[:5]


def test_empty_application_test_and_missing_history_file(tmp_path: Path) -> None:
    interim = tmp_path / "interim"
    write_interim(interim, n_train=30, n_test=0, seed=4)
    (interim / "credit_card_balance.parquet").unlink()  # "no card history for anyone"
    code = main(
        [
            "--params",
            str(params_file(tmp_path)),
            "--interim",
            str(interim),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 0
    test = pd.read_parquet(tmp_path / "out" / "test.parquet")
    train = pd.read_parquet(tmp_path / "out" / "train.parquet")
    assert len(test) == 0 and len(test.columns) == len(train.columns) - 1
    assert (train["CC_ALL_SK_ID_PREV_COUNT"] == 0).all()
    assert train["CC_ALL_AMT_BALANCE_MEAN"].isna().all()


def test_an_invalid_spec_fails_naming_the_location(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    spec["history"]["BURO"]["subsets"]["ACTIVE"]["where"] = "CREDIT_ACTIVE == 'active'"
    code = main(
        [
            "--params",
            str(params_file(tmp_path, spec)),
            "--interim",
            str(tmp_path),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 1
    assert "features.history.BURO.subsets.ACTIVE.where" in caplog.text
    assert "'active' is not a level of CREDIT_ACTIVE" in caplog.text
    assert not (tmp_path / "o").exists()
