"""Service endpoints and behaviour around the scores: health, readiness, start-up refusal,
request ids, Prometheus metrics, failures that must not leak, the OpenAPI document."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api.app import create_app
from api.service import NullEventSink, ScoringService
from api.settings import Settings
from scoring.bundle import BundleError
from scoring.events import PredictionEvent

REPO = Path(__file__).resolve().parents[2]
APP = {
    "NAME_CONTRACT_TYPE": "Cash loans",
    "CODE_GENDER": "M",
    "AMT_INCOME_TOTAL": 180000.0,
    "AMT_CREDIT": 900000.0,
    "DAYS_BIRTH": -9000,
}


def test_health_and_ready(client: TestClient[Litestar], bundle_dir: Path) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["ready"] is True and ready.json()["n_clients"] == 300


def test_not_ready_before_the_bundle_is_loaded(bundle_dir: Path) -> None:
    app = create_app(events=NullEventSink(), settings=Settings(bundle_dir=bundle_dir))
    c = TestClient(app)  # not entered: the lifespan (bundle loading) has not run
    r = c.get("/ready")
    assert r.status_code == 503 and r.json()["ready"] is False
    score = c.post("/v1/score", json={"application": APP})
    assert score.status_code == 503 and score.json()["error"] == "not_ready"
    assert c.get("/health").status_code == 200


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: shutil.rmtree(p), "bundle.json not found"),
        (lambda p: (p / "model.txt").write_text("garbage"), "not a valid LightGBM model"),
        (lambda p: (p / "clients.parquet").write_bytes(b"not parquet"), "clients.parquet"),
        (lambda p: (p / "features.yaml").write_text("format_version: 99\n"), "features.yaml"),
    ],
)
def test_broken_bundle_refuses_to_start(
    bundle_dir: Path, tmp_path: Path, damage: Any, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "bundle"
    shutil.copytree(bundle_dir, broken)
    damage(broken)
    app = create_app(events=NullEventSink(), settings=Settings(bundle_dir=broken))
    with caplog.at_level(logging.CRITICAL), pytest.raises(BaseException) as info:  # noqa: SIM117
        with TestClient(app):
            pass
    error = _find(info.value, BundleError)
    assert error is not None and message in str(error)
    assert any("cannot start" in r.getMessage() for r in caplog.records)


def _find(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The first ``kind`` inside ``exc`` (the test client wraps start-up errors in groups)."""
    if isinstance(exc, kind):
        return exc
    for inner in getattr(exc, "exceptions", ()):
        if (hit := _find(inner, kind)) is not None:
            return hit
    cause = exc.__cause__ or exc.__context__
    return _find(cause, kind) if cause is not None else None


def test_python_m_api_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    env = {"BUNDLE_DIR": str(tmp_path / "nowhere"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "api", "--port", "1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "cannot start the API" in proc.stderr and "bundle.json not found" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_request_id_is_generated_or_echoed(client: TestClient[Litestar]) -> None:
    r = client.post("/v1/score", json={"application": APP})
    assert r.headers["x-request-id"] == r.json()["request_id"]
    mine = client.post("/v1/score", json={"application": APP}, headers={"X-Request-ID": "abc-123"})
    assert mine.headers["x-request-id"] == "abc-123" == mine.json()["request_id"]
    hostile = client.get("/health", headers={"X-Request-ID": "x" * 200})
    assert hostile.headers["x-request-id"] != "x" * 200
    lost = client.get("/no/such/route")
    assert lost.status_code == 404 and lost.json()["request_id"] == lost.headers["x-request-id"]


def test_wrong_method_is_405(client: TestClient[Litestar]) -> None:
    r = client.get("/v1/score")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"


def _metric(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{"):
            got = ",".join(sorted(line[line.index("{") + 1 : line.rindex("}")].split(",")))
            if got == want:
                total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_count_requests_decisions_and_latency(client: TestClient[Litestar]) -> None:
    before = client.get("/metrics").text
    r = client.post("/v1/score", json={"application": APP})
    decision = r.json()["decision"]
    client.get("/v1/clients/3")  # a 404 on a templated route
    after = client.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text

    def delta(name: str, **labels: str) -> float:
        return _metric(text, name, **labels) - _metric(before, name, **labels)

    assert delta("api_requests_total", method="POST", route="/v1/score", status="200") == 1
    assert delta("api_decisions_total", endpoint="/v1/score", decision=decision) == 1
    assert delta("api_request_duration_seconds_count", route="/v1/score") == 1
    assert (
        delta("api_requests_total", method="GET", route="/v1/clients/{sk_id_curr}", status="404")
        == 1
    )
    assert "/v1/clients/3" not in text  # raw paths never become labels
    assert 'api_model_info{model_kind="lightgbm"' in text


def test_internal_error_is_500_without_details(
    client: TestClient[Litestar], app: Litestar, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc: ScoringService = app.state.service

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(svc, "score_application", boom)
    r = client.post("/v1/score", json={"application": APP})
    assert r.status_code == 500
    body = r.json()
    assert body["error"] == "internal_error" and body["request_id"] == r.headers["x-request-id"]
    assert "secret" not in r.text and "Traceback" not in r.text


def test_event_store_failure_does_not_fail_the_score(bundle_dir: Path) -> None:
    class Broken(NullEventSink):
        def record(self, event: PredictionEvent) -> None:
            raise OSError("disk full")

    app = create_app(events=Broken(), settings=Settings(bundle_dir=bundle_dir, log_requests=False))
    with TestClient(app) as c:
        r = c.post("/v1/score", json={"application": APP})
        assert r.status_code == 200
        assert "api_events_failed_total 1.0" in c.get("/metrics").text


def test_access_log_line_carries_the_request_id(
    bundle_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(events=NullEventSink(), settings=Settings(bundle_dir=bundle_dir))
    with TestClient(app) as c, caplog.at_level(logging.INFO, logger="api.access"):
        r = c.get("/health")
    lines = [rec for rec in caplog.records if rec.name == "api.access"]
    assert lines and lines[-1].__dict__["request_id"] == r.headers["x-request-id"]
    assert lines[-1].__dict__["status"] == 200 and lines[-1].__dict__["route"] == "/health"


def test_openapi_documents_bodies_and_errors(client: TestClient[Litestar]) -> None:
    doc = client.get("/schema/openapi.json").json()
    score = doc["paths"]["/v1/score"]["post"]
    ref = score["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/ScoreRequest"
    app_schema = doc["components"]["schemas"]["Application"]
    assert app_schema["additionalProperties"] is False
    assert set(app_schema["required"]) >= {"AMT_CREDIT", "DAYS_BIRTH"}
    assert {"400", "413", "422"} <= set(score["responses"])
    assert "/v1/population/{feature}" in doc["paths"]
