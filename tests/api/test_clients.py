"""Known clients: lookup, explanation, list, similar group, population, features, model."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api import bands
from scoring.bundle import Bundle
from scoring.events import EventStore


@pytest.fixture(scope="module")
def known(bundle: Bundle, clients_frame: pd.DataFrame) -> pd.DataFrame:
    """Known clients with what the API should say about them, computed independently."""
    proba = bundle.predict_proba(bundle.encode(clients_frame))
    return pd.DataFrame(
        {
            "SK_ID_CURR": clients_frame["SK_ID_CURR"].to_numpy(),
            "proba": proba,
            "decision": np.where(proba >= bundle.threshold, "refused", "approved"),
            "age_band": bands.age_band(clients_frame["DAYS_BIRTH"].to_numpy()),
            "income_band": bands.income_band(clients_frame["AMT_INCOME_TOTAL"].to_numpy()),
            "contract_type": clients_frame["NAME_CONTRACT_TYPE"].astype(str).to_numpy(),
            "gender": clients_frame["CODE_GENDER"].astype(str).to_numpy(),
        }
    ).sort_values("SK_ID_CURR", ignore_index=True)


@pytest.fixture(scope="module")
def refused_id(known: pd.DataFrame) -> int:
    return int(known.loc[known["decision"] == "refused", "SK_ID_CURR"].iloc[0])


@pytest.fixture(scope="module")
def approved_id(known: pd.DataFrame) -> int:
    return int(known.loc[known["decision"] == "approved", "SK_ID_CURR"].iloc[0])


def test_known_client_score_info_and_summary(
    client: TestClient[Litestar],
    known: pd.DataFrame,
    clients_frame: pd.DataFrame,
    bundle: Bundle,
    refused_id: int,
) -> None:
    r = client.get(f"/v1/clients/{refused_id}")
    assert r.status_code == 200, r.text
    body = r.json()
    want = known[known["SK_ID_CURR"] == refused_id].iloc[0]
    assert body["sk_id_curr"] == refused_id
    assert body["score"]["probability"] == pytest.approx(want["proba"], rel=1e-12)
    assert body["score"]["decision"] == "refused"
    reasons = body["score"]["reason_codes"]
    assert 1 <= len(reasons) <= 4 and all(x["contribution"] > 0 for x in reasons)
    raw = clients_frame[clients_frame["SK_ID_CURR"] == refused_id].iloc[0]
    info = body["info"]
    assert info["age_band"] == want["age_band"]
    assert info["income_band"] == want["income_band"]
    assert info["income"] == pytest.approx(float(raw["AMT_INCOME_TOTAL"]))
    assert info["age_years"] == pytest.approx(-float(raw["DAYS_BIRTH"]) / 365.25)
    assert info["contract_type"] == raw["NAME_CONTRACT_TYPE"]
    names = [f["feature"] for f in body["features"]]
    assert names == bundle.meta["top_features"][: len(names)] and names
    for f in body["features"]:
        assert f["label"] == bundle.labels[f["feature"]]
        if f["kind"] == "numeric" and f["value"] is not None:
            assert 0.0 <= f["population_percentile"] <= 100.0


def test_client_reasons_are_the_explanations_top_risk_factors(
    client: TestClient[Litestar], refused_id: int
) -> None:
    """What the officer reads as reasons matches the explanation chart, feature for feature."""
    score = client.get(f"/v1/clients/{refused_id}").json()["score"]
    assert score["attribution"] == "treeshap"
    explanation = client.get(f"/v1/clients/{refused_id}/explanation").json()["contributions"]
    risk = sorted(
        (c for c in explanation if c["contribution"] > 0), key=lambda c: -c["contribution"]
    )[:4]
    assert [r["feature"] for r in score["reason_codes"]] == [c["feature"] for c in risk]
    fast = client.get(f"/v1/clients/{refused_id}?attribution=path").json()["score"]
    assert fast["attribution"] == "path" and fast["reason_codes"]


def test_approved_client_has_no_reasons_unless_asked(
    client: TestClient[Litestar], approved_id: int
) -> None:
    assert client.get(f"/v1/clients/{approved_id}").json()["score"]["reason_codes"] == []
    risk = client.get(f"/v1/clients/{approved_id}?reasons=always").json()["score"]
    assert risk["reason_codes"] and risk["decision"] == "approved"


def test_client_lookup_is_an_event(
    client: TestClient[Litestar], events: EventStore, refused_id: int, bundle: Bundle
) -> None:
    body = client.get(f"/v1/clients/{refused_id}").json()
    ev = events.read_events()
    row = ev[ev["request_id"] == body["request_id"]].iloc[0]
    assert row["endpoint"] == "/v1/clients/{sk_id_curr}"
    assert row["sk_id_curr"] == refused_id
    assert row["probability"] == pytest.approx(body["score"]["probability"])
    assert 0 < len(row["features"]) <= len(bundle.feature_names)
    assert set(row["features"]) <= set(bundle.feature_names)


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/v1/clients/1", 404, "sk_id_curr"),
        ("/v1/clients/-5", 422, "sk_id_curr"),
        ("/v1/clients/abc", 404, None),
        ("/v1/clients/1/explanation", 404, "sk_id_curr"),
        ("/v1/clients/1/similar", 404, "sk_id_curr"),
    ],
)
def test_unknown_or_malformed_client_ids(
    client: TestClient[Litestar], path: str, status: int, field: str | None
) -> None:
    r = client.get(path)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status_code"] == status
    if field:
        assert body["errors"][0]["field"] == field


def test_unknown_client_lookup_is_an_error_event(
    client: TestClient[Litestar], events: EventStore
) -> None:
    r = client.get("/v1/clients/2")
    ev = events.read_events()
    row = ev[ev["request_id"] == r.json()["request_id"]].iloc[0]
    assert row["status_code"] == 404 and row["sk_id_curr"] == 2


# -- explanation --------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["treeshap", "path"])
def test_explanation_adds_up_to_the_raw_score(
    client: TestClient[Litestar], bundle: Bundle, refused_id: int, method: str
) -> None:
    body = client.get(f"/v1/clients/{refused_id}/explanation?method={method}").json()
    assert body["method"] == method and body["units"] == "log-odds"
    contrib = [c["contribution"] for c in body["contributions"]]
    assert len(contrib) == body["n_features"] == len(bundle.feature_names)
    assert body["base_value"] + sum(contrib) == pytest.approx(body["raw_score"], abs=1e-9)
    raw_p = 1.0 / (1.0 + math.exp(-body["raw_score"]))
    calibrated = float(bundle.calibration.apply(np.array([raw_p]))[0])
    assert calibrated == pytest.approx(body["probability"], rel=1e-9)
    magnitudes = [abs(c) for c in contrib]
    assert magnitudes == sorted(magnitudes, reverse=True)
    for c in body["contributions"]:
        assert c["direction"] == ("increases_risk" if c["contribution"] > 0 else "decreases_risk")


def test_explanation_top_n(client: TestClient[Litestar], refused_id: int) -> None:
    full = client.get(f"/v1/clients/{refused_id}/explanation").json()
    top = client.get(f"/v1/clients/{refused_id}/explanation?top=3").json()
    assert top["contributions"] == full["contributions"][:3]
    assert client.get(f"/v1/clients/{refused_id}/explanation?top=0").status_code == 422


# -- list -----------------------------------------------------------------------------------------
def test_list_filters_and_pages(client: TestClient[Litestar], known: pd.DataFrame) -> None:
    band = str(known["income_band"].mode().iloc[0])
    want = known[(known["income_band"] == band) & (known["contract_type"] == "Cash loans")]
    first = client.get(
        f"/v1/clients?income_band={band}&contract_type=Cash loans&page_size=7"
    ).json()
    assert first["total"] == len(want)
    assert first["pages"] == math.ceil(len(want) / 7)
    second = client.get(
        f"/v1/clients?income_band={band}&contract_type=Cash loans&page_size=7&page=2"
    ).json()
    ids = [x["sk_id_curr"] for x in first["items"] + second["items"]]
    assert ids == [int(i) for i in want["SK_ID_CURR"].iloc[:14]]
    for item in first["items"]:
        assert item["income_band"] == band and item["contract_type"] == "Cash loans"


@pytest.mark.parametrize(
    ("query", "column", "value"),
    [
        ("decision=refused", "decision", "refused"),
        ("decision=approved", "decision", "approved"),
        ("gender=F", "gender", "F"),
        ("age_band=30_39", "age_band", "30_39"),
    ],
)
def test_list_single_filters_count_like_the_data(
    client: TestClient[Litestar], known: pd.DataFrame, query: str, column: str, value: str
) -> None:
    body = client.get(f"/v1/clients?{query}&page_size=200").json()
    assert body["total"] == int((known[column] == value).sum())
    assert all(item[column] == value for item in body["items"])


@pytest.mark.parametrize(
    "query",
    ["page=0", "page_size=201", "income_band=rich", "age_band=young", "decision=maybe", "gender=Q"],
)
def test_list_rejects_bad_filters(client: TestClient[Litestar], query: str) -> None:
    r = client.get(f"/v1/clients?{query}")
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == query.split("=")[0]


# -- similar ----------------------------------------------------------------------------------
def test_similar_group_is_same_bands_and_contract(
    client: TestClient[Litestar], known: pd.DataFrame, refused_id: int
) -> None:
    me = known[known["SK_ID_CURR"] == refused_id].iloc[0]
    same = known[
        (known["age_band"] == me["age_band"])
        & (known["income_band"] == me["income_band"])
        & (known["contract_type"] == me["contract_type"])
        & (known["SK_ID_CURR"] != refused_id)
    ]
    body = client.get(f"/v1/clients/{refused_id}/similar?size=5").json()
    assert body["criteria"]["age_band"] == me["age_band"]
    assert body["criteria"]["income_band"] == me["income_band"]
    assert body["criteria"]["contract_type"] == me["contract_type"]
    assert body["count"] == len(same)
    if len(same):
        assert body["approval_rate"] == pytest.approx((same["decision"] == "approved").mean())
    assert len(body["items"]) == min(5, len(same))
    member_ids = set(same["SK_ID_CURR"].astype(int))
    assert all(item["sk_id_curr"] in member_ids for item in body["items"])
    gaps = [abs(item["probability"] - me["proba"]) for item in body["items"]]
    assert gaps == sorted(gaps)
    assert body["features"] and all("group_median" in f for f in body["features"])


def test_similar_size_bounds(client: TestClient[Litestar], refused_id: int) -> None:
    assert client.get(f"/v1/clients/{refused_id}/similar?size=0").json()["items"] == []
    assert client.get(f"/v1/clients/{refused_id}/similar?size=101").status_code == 422


# -- population -------------------------------------------------------------------------------
def test_population_of_a_numeric_feature(
    client: TestClient[Litestar], clients_frame: pd.DataFrame, bundle: Bundle, refused_id: int
) -> None:
    feature = next(f for f in bundle.meta["top_features"] if f not in bundle.categorical_levels)
    r = client.get(f"/v1/population/{feature}?bins=10&sk_id_curr={refused_id}")
    assert r.status_code == 200, r.text
    body = r.json()
    col = pd.to_numeric(clients_frame[feature], errors="coerce")
    assert body["n"] == int(col.notna().sum()) and body["n_missing"] == int(col.isna().sum())
    assert sum(body["histogram"]["counts"]) == body["n"]
    assert len(body["histogram"]["edges"]) == 11
    q = body["quantiles"]
    assert q["p05"] <= q["p25"] <= q["p50"] <= q["p75"] <= q["p95"]
    assert q["p50"] == pytest.approx(float(col.median()))
    mine = float(clients_frame.loc[clients_frame["SK_ID_CURR"] == refused_id, feature].iloc[0])
    assert body["client_value"] == pytest.approx(mine)
    assert body["client_percentile"] == pytest.approx(
        100 * ((col < mine).sum() + 0.5 * (col == mine).sum()) / col.notna().sum()
    )


def test_population_of_a_categorical_feature(
    client: TestClient[Litestar], clients_frame: pd.DataFrame, bundle: Bundle
) -> None:
    feature = "NAME_CONTRACT_TYPE"
    body = client.get(f"/v1/population/{feature}").json()
    assert body["kind"] == "categorical"
    assert body["levels"] == bundle.categorical_levels[feature]
    counts = dict(zip(body["levels"], body["histogram"]["counts"], strict=True))
    assert counts == {
        lvl: int((clients_frame[feature] == lvl).sum())
        for lvl in bundle.categorical_levels[feature]
    }
    assert len(body["histogram"]["edges"]) == len(body["levels"]) + 1


def test_population_of_the_similar_group(
    client: TestClient[Litestar], refused_id: int, bundle: Bundle
) -> None:
    feature = bundle.meta["top_features"][0]
    group = client.get(f"/v1/population/{feature}?group=similar&sk_id_curr={refused_id}").json()
    similar = client.get(f"/v1/clients/{refused_id}/similar").json()
    assert group["group"] == "similar"
    assert group["n"] + group["n_missing"] == similar["count"]
    assert group["criteria"] == similar["criteria"]


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("/v1/population/NOT_A_FEATURE", 404, "feature"),
        ("/v1/population/EXT_SOURCE_MEAN?group=similar", 422, "sk_id_curr"),
        ("/v1/population/EXT_SOURCE_MEAN?bins=1", 422, "bins"),
        ("/v1/population/EXT_SOURCE_MEAN?group=everyone", 422, "group"),
        ("/v1/population/EXT_SOURCE_MEAN?sk_id_curr=3", 404, "sk_id_curr"),
    ],
)
def test_population_errors(
    client: TestClient[Litestar], query: str, status: int, field: str
) -> None:
    r = client.get(query)
    assert r.status_code == status, r.text
    assert r.json()["errors"][0]["field"] == field


# -- model and features -------------------------------------------------------------------------
def test_features_list_every_model_feature(client: TestClient[Litestar], bundle: Bundle) -> None:
    body = client.get("/v1/features").json()
    assert [f["name"] for f in body["features"]] == bundle.feature_names
    for f in body["features"]:
        assert f["label"] == bundle.labels[f["name"]]
        assert f["kind"] == ("categorical" if f["name"] in bundle.categorical_levels else "numeric")
    ranked = sorted(
        (f for f in body["features"] if f["importance_rank"]), key=lambda f: f["importance_rank"]
    )
    assert [f["name"] for f in ranked] == bundle.meta["top_features"]


def test_model_describes_the_bundle(client: TestClient[Litestar], bundle: Bundle) -> None:
    body = client.get("/v1/model").json()
    assert body["model_version"] == bundle.model_version
    assert body["model_kind"] == "lightgbm"
    assert body["threshold"] == bundle.threshold
    assert body["calibration_method"] == bundle.calibration.method
    assert body["n_features"] == len(bundle.feature_names)
    assert body["metrics"] == bundle.meta["metrics"]
    assert body["reason_attribution"] == "treeshap"
