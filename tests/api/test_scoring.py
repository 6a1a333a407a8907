"""POST /v1/score and /v1/score/batch: the numbers, the reasons, the events, every error."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api.schemas import MAX_BATCH, request_types
from scoring.bundle import Bundle
from scoring.events import EventStore
from scoring.schema import HISTORY_TABLES
from tests.support.payloads import application_json, history_json


@pytest.fixture(scope="module")
def scored(bundle: Bundle, clients_frame: pd.DataFrame) -> pd.DataFrame:
    """Known clients with the probability the bundle gives their batch-built features."""
    proba = bundle.predict_proba(bundle.encode(clients_frame))
    return pd.DataFrame({"SK_ID_CURR": clients_frame["SK_ID_CURR"], "proba": proba})


def _raw(raw_test_rows: pd.DataFrame, sk_id: int) -> dict[str, Any]:
    return application_json(raw_test_rows[raw_test_rows["SK_ID_CURR"] == sk_id].iloc[0])


@pytest.fixture(scope="module")
def approved_id(scored: pd.DataFrame, bundle: Bundle) -> int:
    return int(scored.loc[scored["proba"] < bundle.threshold, "SK_ID_CURR"].iloc[0])


@pytest.fixture(scope="module")
def refused_id(scored: pd.DataFrame, bundle: Bundle) -> int:
    return int(scored.loc[scored["proba"] >= bundle.threshold, "SK_ID_CURR"].iloc[0])


def _same(want: Any, got: Any) -> bool:
    if want is None or (isinstance(want, float) and math.isnan(want)):
        return got is None
    if isinstance(want, str):
        return bool(got == want)
    return got is not None and math.isclose(float(got), float(want), rel_tol=1e-12, abs_tol=1e-12)


def test_raw_application_features_equal_the_batch_features(
    app: Litestar,
    client: TestClient[Litestar],
    events: EventStore,
    request_for: Callable[[int], dict[str, Any]],
    clients_frame: pd.DataFrame,
    bundle: Bundle,
) -> None:
    """The API computes features with the training code: the very values of clients.parquet
    (the batch features of application_test) for every feature, and it logs them."""
    svc = app.state.service
    decoder = msgspec.json.Decoder(request_types().score_request)
    for sk_id in clients_frame["SK_ID_CURR"].iloc[:25]:
        body = request_for(int(sk_id))
        req = decoder.decode(msgspec.json.encode(body))
        history = {
            t: msgspec.to_builtins(getattr(req.history, t))
            for t in HISTORY_TABLES
            if req.history is not None and getattr(req.history, t)
        }
        computed = svc.features.compute(msgspec.structs.asdict(req.application), history or None)
        batch = clients_frame.loc[clients_frame["SK_ID_CURR"] == sk_id].iloc[0]
        assert set(computed) >= set(bundle.feature_names)
        wrong = [f for f in bundle.feature_names if not _same(batch[f], computed[f])]
        assert not wrong, f"{sk_id}: {wrong[:5]}"
        r = client.post("/v1/score", json=body)
        assert r.status_code == 200, r.text
        ev = events.read_events()
        logged = ev.loc[ev["request_id"] == r.json()["request_id"], "features"].iloc[0]
        assert list(logged) == list(svc.event_features)
        assert all(_same(batch[f], logged[f]) for f in logged)


def test_the_no_history_model_row_is_the_bundle_encoding_of_the_features(
    app: Litestar,
    client: TestClient[Litestar],
    raw_test_rows: pd.DataFrame,
    clients_frame: pd.DataFrame,
    bundle: Bundle,
) -> None:
    """Without history the API writes the application's own features over a precomputed
    no-history row instead of encoding all features: the row must be Bundle.encode_record's,
    bit for bit (categorical codes, missing values, unknown levels included)."""
    svc = app.state.service
    decoder = msgspec.json.Decoder(request_types().score_request)
    checked = 0
    for sk_id in clients_frame["SK_ID_CURR"].iloc[:40]:
        body = {"application": _raw(raw_test_rows, int(sk_id))}
        req = decoder.decode(msgspec.json.encode(body))
        feats = svc.features.compute(msgspec.structs.asdict(req.application), None)
        fast = svc.features.encode(feats, with_history=False)
        assert fast.tobytes() == bundle.encode_record(feats).tobytes(), sk_id
        checked += 1
    assert checked == 40


def test_events_log_the_features_the_model_uses_and_the_raw_columns(
    app: Litestar, bundle: Bundle
) -> None:
    logged = set(app.state.service.event_features)
    splits = bundle.booster.feature_importance(importance_type="split")
    used = {f for f, k in zip(bundle.feature_names, splits, strict=True) if k > 0}
    assert used <= logged
    assert {"AMT_INCOME_TOTAL", "DAYS_BIRTH", "NAME_CONTRACT_TYPE"} <= logged
    assert len(logged) < len(bundle.feature_names)


def test_score_is_the_calibrated_probability_and_decision_of_the_bundle(
    client: TestClient[Litestar],
    request_for: Callable[[int], dict[str, Any]],
    scored: pd.DataFrame,
    bundle: Bundle,
    approved_id: int,
    refused_id: int,
) -> None:
    for sk_id, decision in ((approved_id, "approved"), (refused_id, "refused")):
        body = client.post("/v1/score", json=request_for(sk_id)).json()
        want = float(scored.loc[scored["SK_ID_CURR"] == sk_id, "proba"].iloc[0])
        assert body["probability"] == pytest.approx(want, rel=1e-12)
        assert body["decision"] == decision
        assert body["threshold"] == bundle.threshold
        assert body["model_version"] == bundle.model_version
        assert body["sk_id_curr"] == sk_id
        assert len(body["request_id"]) >= 8


def test_refusal_carries_up_to_four_reasons_toward_refusal(
    client: TestClient[Litestar],
    request_for: Callable[[int], dict[str, Any]],
    bundle: Bundle,
    refused_id: int,
) -> None:
    body = client.post("/v1/score", json=request_for(refused_id)).json()
    reasons = body["reason_codes"]
    assert 1 <= len(reasons) <= 4
    assert body["attribution"] == "treeshap"  # auto: this small model's TreeSHAP is affordable
    contributions = [r["contribution"] for r in reasons]
    assert all(c > 0 for c in contributions)
    assert contributions == sorted(contributions, reverse=True)
    for r in reasons:
        assert r["label"] == bundle.labels[r["feature"]]


def test_exact_attribution_on_request_matches_the_bundle_treeshap(
    client: TestClient[Litestar],
    request_for: Callable[[int], dict[str, Any]],
    clients_frame: pd.DataFrame,
    bundle: Bundle,
    refused_id: int,
) -> None:
    body = client.post("/v1/score?attribution=treeshap", json=request_for(refused_id)).json()
    row = clients_frame[clients_frame["SK_ID_CURR"] == refused_id]
    X = bundle.encode(row)
    want = bundle.reason_codes(X[0], bundle.contributions(X)[0])
    assert body["attribution"] == "treeshap"
    assert [r["feature"] for r in body["reason_codes"]] == [w.feature for w in want]
    got = [r["contribution"] for r in body["reason_codes"]]
    assert got == pytest.approx([w.contribution for w in want], rel=1e-9)


def test_path_attribution_on_request_adds_up_and_leads_with_a_treeshap_reason(
    client: TestClient[Litestar],
    request_for: Callable[[int], dict[str, Any]],
    clients_frame: pd.DataFrame,
    bundle: Bundle,
    refused_id: int,
) -> None:
    body = client.post("/v1/score?attribution=path", json=request_for(refused_id)).json()
    assert body["attribution"] == "path"
    X = bundle.encode(clients_frame[clients_frame["SK_ID_CURR"] == refused_id])
    exact = {r.feature for r in bundle.reason_codes(X[0], bundle.contributions(X)[0])}
    assert body["reason_codes"][0]["feature"] in exact
    assert all(r["contribution"] > 0 for r in body["reason_codes"])


def test_reason_modes(
    client: TestClient[Litestar],
    request_for: Callable[[int], dict[str, Any]],
    approved_id: int,
    refused_id: int,
) -> None:
    approved = request_for(approved_id)
    refused = request_for(refused_id)
    plain = client.post("/v1/score", json=approved).json()
    assert plain["reason_codes"] == [] and plain["attribution"] is None
    risk = client.post("/v1/score?reasons=always", json=approved).json()
    assert risk["decision"] == "approved"
    assert 1 <= len(risk["reason_codes"]) <= 4
    assert all(r["contribution"] > 0 for r in risk["reason_codes"])
    silent = client.post("/v1/score?reasons=never", json=refused).json()
    assert silent["decision"] == "refused" and silent["reason_codes"] == []


def test_minimal_application_is_scored_with_missing_values(client: TestClient[Litestar]) -> None:
    app = {
        "NAME_CONTRACT_TYPE": "Cash loans",
        "CODE_GENDER": "F",
        "AMT_INCOME_TOTAL": 135000.0,
        "AMT_CREDIT": 500000.0,
        "DAYS_BIRTH": -12000,
    }
    r = client.post("/v1/score", json={"application": app})
    assert r.status_code == 200, r.text
    assert 0.0 <= r.json()["probability"] <= 1.0
    assert r.json()["sk_id_curr"] is None


def test_history_records_change_the_history_features(
    app: Litestar, client: TestClient[Litestar], raw_test_rows: pd.DataFrame, approved_id: int
) -> None:
    """History records go through the training code's aggregations and into the score."""
    application = _raw(raw_test_rows, approved_id)
    bureau = [
        {"SK_ID_BUREAU": 1, "CREDIT_ACTIVE": "Active", "CREDIT_CURRENCY": "currency 1",
         "DAYS_CREDIT": -400, "CREDIT_DAY_OVERDUE": 0, "CNT_CREDIT_PROLONG": 0,
         "AMT_CREDIT_SUM": 90000.0, "AMT_CREDIT_SUM_OVERDUE": 0.0, "CREDIT_TYPE": "Consumer credit",
         "DAYS_CREDIT_UPDATE": -10},
        {"SK_ID_BUREAU": 2, "CREDIT_ACTIVE": "Closed", "CREDIT_CURRENCY": "currency 1",
         "DAYS_CREDIT": -1500, "CREDIT_DAY_OVERDUE": 0, "CNT_CREDIT_PROLONG": 0,
         "AMT_CREDIT_SUM": 30000.0, "AMT_CREDIT_SUM_OVERDUE": 0.0, "CREDIT_TYPE": "Credit card",
         "DAYS_CREDIT_UPDATE": -900},
    ]  # fmt: skip
    svc = app.state.service
    req = msgspec.json.decode(
        msgspec.json.encode({"application": application, "history": {"bureau": bureau}}),
        type=request_types().score_request,
    )
    plain = msgspec.structs.asdict(req.application)
    f0 = svc.features.compute(plain, None)
    f1 = svc.features.compute(plain, {"bureau": msgspec.to_builtins(req.history.bureau)})
    changed = {k for k in f0 if not _same(f0[k], f1[k])}
    assert changed and all("BUR" in k for k in changed)
    r = client.post("/v1/score", json={"application": application, "history": {"bureau": bureau}})
    assert r.status_code == 200, r.text
    bundle = svc.bundle
    want = float(bundle.predict_proba(bundle.encode_record(f1))[0])
    assert r.json()["probability"] == pytest.approx(want, rel=1e-12)


def test_real_history_rows_are_accepted(client: TestClient[Litestar]) -> None:
    from tests.support.bundle_factory import real_data_dir

    path = real_data_dir() / "head" / "bureau.csv"
    if not path.is_file():
        pytest.skip(f"real Kaggle rows not found: {path}")
    rows = pd.read_csv(path, nrows=5)
    sk = int(rows["SK_ID_CURR"].iloc[0])
    mine = rows[rows["SK_ID_CURR"] == sk]
    app = {
        "SK_ID_CURR": sk,
        "NAME_CONTRACT_TYPE": "Cash loans",
        "CODE_GENDER": "M",
        "AMT_INCOME_TOTAL": 200000.0,
        "AMT_CREDIT": 300000.0,
        "DAYS_BIRTH": -15000,
    }
    r = client.post(
        "/v1/score", json={"application": app, "history": {"bureau": history_json(mine, "bureau")}}
    )
    assert r.status_code == 200, r.text


# -- errors -------------------------------------------------------------------------------------
def _app(**override: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "NAME_CONTRACT_TYPE": "Cash loans",
        "CODE_GENDER": "F",
        "AMT_INCOME_TOTAL": 135000.0,
        "AMT_CREDIT": 500000.0,
        "DAYS_BIRTH": -12000,
    }
    base.update(override)
    return {k: v for k, v in base.items() if v is not ...}


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"application": _app(AMT_CREDIT="abc")}, "application.AMT_CREDIT", "Expected `float`"),
        ({"application": _app(AMT_CREDIT="5000")}, "application.AMT_CREDIT", "got `str`"),
        ({"application": _app(AMT_CREDIT=-1.0)}, "application.AMT_CREDIT", ">= 0"),
        ({"application": _app(EXT_SOURCE_2=1.5)}, "application.EXT_SOURCE_2", "<= 1"),
        ({"application": _app(CNT_CHILDREN=1.5)}, "application.CNT_CHILDREN", "multiple of 1"),
        ({"application": _app(CODE_GENDER="X")}, "application.CODE_GENDER", "allowed: F, M, XNA"),
        ({"application": _app(AMT_CREDT=1.0)}, "application.AMT_CREDT", "unknown field"),
        ({"application": _app(AMT_CREDIT=...)}, "application.AMT_CREDIT", "required"),
        ({"application": _app(TARGET=1)}, "application.TARGET", "unknown field"),
        ({"application": _app(DAYS_EMPLOYED=100)}, "application.DAYS_EMPLOYED", "365243"),
        ({"application": _app(), "extra": 1}, "extra", "unknown field"),
        ({"applicant": _app()}, "applicant", "unknown field"),
        ({}, "application", "required"),
        (
            {
                "application": _app(),
                "history": {"bureau": [{"SK_ID_BUREAU": 1, "DAYS_CREDIT": "x"}]},
            },
            "history.bureau[0].DAYS_CREDIT",
            "Expected `float",
        ),
        (
            {"application": _app(), "history": {"loans": []}},
            "history.loans",
            "unknown field",
        ),
        (
            {"application": _app(), "history": {"bureau": [{"AMT_CREDIT_SUM": 1.0}]}},
            "history.bureau[0].SK_ID_BUREAU",
            "required",
        ),
        (
            {
                "application": _app(SK_ID_CURR=100001),
                "history": {"bureau": [{"SK_ID_BUREAU": 1, "SK_ID_CURR": 100001}]},
            },
            "history.bureau[0].SK_ID_CURR",
            "unknown field",
        ),
        ({"application": _app(DAYS_BIRTH=-9000.5)}, "application.DAYS_BIRTH", "multiple of 1"),
    ],
)
def test_invalid_application_is_422_naming_the_field(
    client: TestClient[Litestar], body: dict[str, Any], field: str, reason: str
) -> None:
    r = client.post("/v1/score", json=body)
    assert r.status_code == 422, r.text
    err = r.json()
    assert err["error"] == "validation_error"
    assert err["errors"][0]["field"] == field
    assert reason in err["errors"][0]["reason"]
    assert field in err["detail"]
    assert "Traceback" not in r.text


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"", 400, "malformed_request"),
        (b"{not json", 400, "malformed_request"),
        (b"\xff\xfe", 400, "malformed_request"),
        (b"[]", 422, "validation_error"),
        (b'"application"', 422, "validation_error"),
    ],
)
def test_unparseable_bodies_are_4xx(
    client: TestClient[Litestar], content: bytes, status: int, code: str
) -> None:
    r = client.post("/v1/score", content=content, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert r.json()["error"] == code


def test_body_larger_than_the_limit_is_413(client: TestClient[Litestar]) -> None:
    big = b'{"application": {"NAME_CONTRACT_TYPE": "' + b"x" * (1 << 20) + b'"}}'
    r = client.post("/v1/score", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"] == "body_too_large"


def test_unknown_query_value_is_422(client: TestClient[Litestar]) -> None:
    r = client.post("/v1/score?reasons=sometimes", json={"application": _app()})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "reasons"
    assert r.json()["errors"][0]["source"] == "query"


# -- batch --------------------------------------------------------------------------------------
def test_batch_equals_single_scores_in_order(
    client: TestClient[Litestar],
    events: EventStore,
    raw_test_rows: pd.DataFrame,
    request_for: Callable[[int], dict[str, Any]],
) -> None:
    ids = [int(i) for i in raw_test_rows["SK_ID_CURR"].iloc[:6]]
    apps = [request_for(i) for i in ids]
    r = client.post("/v1/score/batch", json={"applications": apps})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [x["index"] for x in body["results"]] == list(range(6))
    assert [x["sk_id_curr"] for x in body["results"]] == ids
    for item, app in zip(body["results"], apps, strict=True):
        single = client.post("/v1/score", json=app).json()
        assert item["probability"] == pytest.approx(single["probability"], rel=1e-12)
        assert item["decision"] == single["decision"]
        assert [c["feature"] for c in item["reason_codes"]] == [
            c["feature"] for c in single["reason_codes"]
        ]
    ev = events.read_events()
    assert (ev["request_id"] == body["request_id"]).sum() == 6


def test_batch_errors_name_the_item(client: TestClient[Litestar]) -> None:
    bad = {"applications": [{"application": _app()}, {"application": _app(AMT_CREDIT=None)}]}
    r = client.post("/v1/score/batch", json=bad)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "applications[1].application.AMT_CREDIT"
    bad_days = {"applications": [{"application": _app(DAYS_EMPLOYED=5)}]}
    r = client.post("/v1/score/batch", json=bad_days)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "applications[0].application.DAYS_EMPLOYED"


@pytest.mark.parametrize("n", [0, MAX_BATCH + 1])
def test_batch_size_limits(client: TestClient[Litestar], n: int) -> None:
    r = client.post("/v1/score/batch", json={"applications": [{"application": _app()}] * n})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "applications"


def test_every_score_is_an_event(
    client: TestClient[Litestar],
    events: EventStore,
    request_for: Callable[[int], dict[str, Any]],
    refused_id: int,
) -> None:
    r = client.post("/v1/score", json=request_for(refused_id))
    body = r.json()
    ev = events.read_events()
    row = ev[ev["request_id"] == body["request_id"]].iloc[0]
    assert row["endpoint"] == "/v1/score"
    assert row["probability"] == pytest.approx(body["probability"])
    assert row["decision"] == "refused"
    assert row["model_version"] == body["model_version"]
    assert row["status_code"] == 200 and row["sk_id_curr"] == refused_id
    assert row["latency_ms"] > 0


def test_failed_scores_are_events_with_their_status(
    client: TestClient[Litestar], events: EventStore
) -> None:
    r = client.post("/v1/score", json={"application": _app(AMT_CREDIT=-5.0)})
    ev = events.read_events()
    row = ev[ev["request_id"] == r.json()["request_id"]].iloc[0]
    assert row["status_code"] == 422
    assert "AMT_CREDIT" in row["error"]
    assert row["probability"] is None or np.isnan(row["probability"])
