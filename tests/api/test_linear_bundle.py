"""A linear bundle on raw application columns (no features.yaml) is served too.

It exercises the two other paths of the API: raw application columns passed through as the
model features, and a linear model whose contributions are exact by construction.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api.app import create_app
from api.service import NullEventSink
from api.settings import Settings
from scoring.bundle import BundleError, Calibration, LinearModel, load_bundle, write_bundle
from tests.support.payloads import application_json

FEATURES = ["EXT_SOURCE_2", "AMT_CREDIT", "DAYS_BIRTH", "NAME_CONTRACT_TYPE"]


@pytest.fixture(scope="module")
def linear_dir(raw_test_rows: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = raw_test_rows.head(120)
    numeric = {
        f: {
            "median": float(rows[f].median()),
            "mean": float(rows[f].mean()),
            "scale": float(rows[f].std()),
            "coef": coef,
        }
        for f, coef in (("EXT_SOURCE_2", -0.9), ("AMT_CREDIT", 0.2), ("DAYS_BIRTH", 0.3))
    }
    out = tmp_path_factory.mktemp("linear") / "bundle"
    write_bundle(
        out,
        feature_names=FEATURES,
        categorical_levels={"NAME_CONTRACT_TYPE": ["Cash loans", "Revolving loans"]},
        threshold=0.08,
        calibration=Calibration(),
        labels={f: f.replace("_", " ").lower() for f in FEATURES},
        linear=LinearModel(
            intercept=-2.5, numeric=numeric, cat_coef={"NAME_CONTRACT_TYPE": [0.1, -0.3]}
        ),
        top_features=["EXT_SOURCE_2", "AMT_CREDIT"],
    )
    rows.to_parquet(out / "clients.parquet", index=False)
    return out


@pytest.fixture(scope="module")
def linear_client(linear_dir: Path) -> Iterator[TestClient[Litestar]]:
    app = create_app(events=NullEventSink(), settings=Settings(bundle_dir=linear_dir))
    with TestClient(app) as c:
        yield c


def test_raw_columns_are_the_features_and_reasons_are_exact(
    linear_client: TestClient[Litestar], linear_dir: Path, raw_test_rows: pd.DataFrame
) -> None:
    b = load_bundle(linear_dir)
    for _, row in raw_test_rows.head(30).iterrows():
        body = linear_client.post(
            "/v1/score?reasons=always", json={"application": application_json(row)}
        ).json()
        X = b.encode(row.to_frame().T)
        assert body["probability"] == pytest.approx(float(b.predict_proba(X)[0]), rel=1e-12)
        assert body["attribution"] == "linear"
        want = b.reason_codes(X[0], b.contributions(X)[0])
        assert [r["feature"] for r in body["reason_codes"]] == [w.feature for w in want]


def test_known_client_explanation_sums(
    linear_client: TestClient[Litestar], raw_test_rows: pd.DataFrame
) -> None:
    sk = int(raw_test_rows["SK_ID_CURR"].iloc[0])
    body = linear_client.get(f"/v1/clients/{sk}/explanation").json()
    assert body["method"] == "linear" and body["n_features"] == len(FEATURES)
    total = body["base_value"] + sum(c["contribution"] for c in body["contributions"])
    assert total == pytest.approx(body["raw_score"], abs=1e-12)
    assert 1 / (1 + math.exp(-body["raw_score"])) == pytest.approx(body["probability"])


def test_engineered_features_without_their_spec_refuse_to_start(
    linear_dir: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "bundle"
    b = load_bundle(linear_dir)
    write_bundle(
        broken,
        feature_names=[*FEATURES, "CREDIT_TERM_MONTHS"],
        categorical_levels=b.categorical_levels,
        threshold=0.08,
        calibration=Calibration(),
        labels={f: f for f in [*FEATURES, "CREDIT_TERM_MONTHS"]},
        linear=LinearModel(intercept=0.0, numeric={}, cat_coef={}),
    )
    app = create_app(events=NullEventSink(), settings=Settings(bundle_dir=broken))
    with pytest.raises(BaseException) as info, TestClient(app):
        pass
    assert "the API cannot compute them" in str(_find_bundle_error(info.value))


def _find_bundle_error(exc: BaseException) -> BaseException | None:
    if isinstance(exc, BundleError):
        return exc
    for inner in getattr(exc, "exceptions", ()):
        if (hit := _find_bundle_error(inner)) is not None:
            return hit
    nxt = exc.__cause__ or exc.__context__
    return _find_bundle_error(nxt) if nxt is not None else None
