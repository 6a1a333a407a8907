"""The monitor on small synthetic event windows: clean traffic stays quiet, drift raises alerts."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from scoring.drift import PsiBins
from scoring.events import EVENT_COLUMNS, EventStore, PredictionEvent
from scoring.monitor import (
    EXIT_ALERT,
    ExitCodeNotifier,
    LogNotifier,
    MonitorConfig,
    MonitorReport,
    Reference,
    Threshold,
    WebhookNotifier,
    auc_score,
    business_cost,
    evaluate,
    grade,
    main,
    parse_duration,
)

THRESHOLD = 0.3
CONF = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "conf/monitor/default.yaml").read_text()
)


def _params(**monitor: Any) -> dict[str, Any]:
    return {"seed": 1, "cost": {"fn": 10.0, "fp": 1.0}, "monitor": {**CONF, **monitor}}


CFG = MonitorConfig.from_params(_params())


def _population(n: int, rng: np.random.Generator, shift: float = 0.0) -> pd.DataFrame:
    """Applicants: EXT_SOURCE_2 drives the score; a drifted population has lower external scores
    and more revolving loans."""
    ext = np.clip(rng.normal(0.55 - shift, 0.18, n), 0, 1)
    p_rev = min(0.1 + shift, 0.9)
    kind = rng.choice(["Cash loans", "Revolving loans"], n, p=[1 - p_rev, p_rev])
    score = 1 / (1 + np.exp(-(-1.0 - 4.0 * (ext - 0.5))))
    return pd.DataFrame(
        {"EXT_SOURCE_2": ext, "NAME_CONTRACT_TYPE": kind, "AMT_CREDIT": rng.lognormal(13, 0.4, n)}
    ).assign(score=score)


@pytest.fixture(scope="module")
def reference() -> Reference:
    sample = _population(5000, np.random.default_rng(0))
    cols = ("EXT_SOURCE_2", "NAME_CONTRACT_TYPE", "AMT_CREDIT")
    return Reference(
        sample=sample,
        columns=cols,
        psi_bins={c: PsiBins.fit(sample[c]) for c in cols},
        score_bins=PsiBins.fit(sample["score"]),
        approval_rate=float((sample["score"] < THRESHOLD).mean()),
        threshold=THRESHOLD,
        model_version="v1",
        metrics={"cost_per_client": 0.5},
    )


def _events(
    n: int,
    seed: int,
    shift: float = 0.0,
    *,
    status: list[int] | None = None,
    latency: float = 5.0,
    version: str = "v1",
) -> pd.DataFrame:
    pop = _population(n, np.random.default_rng(seed), shift)
    codes = status or [200] * n
    rows = []
    for i, (rec, code) in enumerate(zip(pop.to_dict(orient="records"), codes, strict=True)):
        ok = code < 400
        p = float(rec.pop("score"))
        rows.append(
            {
                "id": f"e{seed}-{i}",
                "request_id": f"r{seed}-{i}",
                "ts": f"2026-11-20T{10 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}+00:00",
                "model_version": version,
                "endpoint": "/v1/score",
                "sk_id_curr": 100000 + i,
                "features": rec if ok else {},
                "probability": p if ok else None,
                "decision": ("refused" if p >= THRESHOLD else "approved") if ok else None,
                "threshold": THRESHOLD if ok else None,
                "latency_ms": latency,
                "status_code": code,
                "error": None if ok else "boom",
            }
        )
    return pd.DataFrame(rows, columns=list(EVENT_COLUMNS)).astype({"sk_id_curr": "Int64"})


NO_LABELS = pd.DataFrame(columns=["sk_id_curr", "request_id", "label", "ts"])


def _levels(report: MonitorReport) -> dict[str, str]:
    return {c.name: c.level for c in report.checks}


def test_clean_window_raises_nothing(reference: Reference) -> None:
    report = evaluate(_events(1200, seed=1), NO_LABELS, reference, CFG)
    levels = _levels(report)
    assert report.status == "ok", [c for c in report.checks if c.level != "ok"]
    assert levels["score_psi"] == "ok" and levels["drift_share"] == "ok"
    assert report.metrics["score_psi"] < 0.1
    assert levels["auc"] == "skipped"  # no labels yet


def test_drifted_window_fires_alerts(reference: Reference) -> None:
    report = evaluate(_events(1200, seed=2, shift=0.25), NO_LABELS, reference, CFG)
    levels = _levels(report)
    assert report.status == "alert"
    assert levels["score_psi"] == "alert" and report.metrics["score_psi"] >= 0.25
    assert levels["approval_shift"] == "alert" and report.metrics["approval_shift"] < -0.10
    assert levels["drift_share"] == "alert"
    assert {"EXT_SOURCE_2", "NAME_CONTRACT_TYPE"} <= set(report.metrics["top_drifted"])
    assert "AMT_CREDIT" not in report.metrics["top_drifted"]
    assert next(iter(report.feature_psi)) in {"EXT_SOURCE_2", "NAME_CONTRACT_TYPE"}


def test_small_window_is_not_judged(reference: Reference) -> None:
    report = evaluate(_events(300, seed=3, shift=0.4), NO_LABELS, reference, CFG)
    levels = _levels(report)
    assert levels["score_psi"] == levels["drift_share"] == levels["approval_shift"] == "skipped"
    assert "300 scored events < min_events 500" in next(
        c.message for c in report.checks if c.name == "score_psi"
    )
    assert report.status == "ok"


def test_mid_window_judges_the_score_but_not_each_column(reference: Reference) -> None:
    report = evaluate(_events(700, seed=3, shift=0.4), NO_LABELS, reference, CFG)
    levels = _levels(report)
    assert levels["score_psi"] == "alert" and levels["drift_share"] == "skipped"


def test_empty_window(reference: Reference) -> None:
    report = evaluate(_events(0, seed=4), NO_LABELS, reference, CFG, run_evidently=False)
    assert report.status == "ok" and all(c.level == "skipped" for c in report.checks)


def test_errors_and_latency(reference: Reference) -> None:
    status = [500] * 30 + [422] * 10 + [200] * 260
    report = evaluate(
        _events(300, seed=5, status=status, latency=250.0),
        NO_LABELS,
        reference,
        CFG,
        run_evidently=False,
    )
    assert report.metrics["error_rate"] == pytest.approx(0.1)
    assert report.metrics["invalid_rate"] == pytest.approx(10 / 300)
    levels = _levels(report)
    assert levels["error_rate"] == "alert" and levels["invalid_rate"] == "ok"
    assert levels["latency_p95_ms"] == "warn"
    assert report.metrics["n_scored"] == 260  # failed requests are not scores


def test_auc_and_cost_once_labels_exist(reference: Reference) -> None:
    events = _events(400, seed=6)
    # labels that agree with the decisions, except 20 defaulters the model approved
    labels = pd.DataFrame(
        {
            "sk_id_curr": events["sk_id_curr"].astype(int),
            "request_id": None,
            "label": (events["decision"] == "refused").astype(int),
            "ts": "2026-11-21T00:00:00+00:00",
        }
    )
    approved = events.index[events["decision"] == "approved"][:20]
    labels.loc[approved, "label"] = 1
    report = evaluate(events, labels, reference, CFG, run_evidently=False)
    assert report.metrics["n_labelled"] == 400
    assert report.metrics["business_cost"] == 20 * 10.0  # 20 FN, 0 FP
    assert report.metrics["cost_per_client"] == pytest.approx(200 / 400)
    assert 0.9 < report.metrics["auc"] < 1.0
    levels = _levels(report)
    assert levels["auc"] == "ok" and levels["cost_ratio"] == "ok"  # 0.5 / 0.5 = 1.0


def test_other_model_version_is_flagged(reference: Reference) -> None:
    report = evaluate(_events(300, 7, version="v2"), NO_LABELS, reference, CFG, run_evidently=False)
    check = next(c for c in report.checks if c.name == "reference_model")
    assert check.level == "warn" and "v2" in check.message


@pytest.mark.parametrize(
    ("name", "value", "level"),
    [
        ("score_psi", 0.0999, "ok"),
        ("score_psi", 0.10, "warn"),
        ("score_psi", 0.2499, "warn"),
        ("score_psi", 0.25, "alert"),
        ("auc", 0.75, "ok"),
        ("auc", 0.70, "warn"),
        ("auc", 0.65, "alert"),
        ("latency_p95_ms", float("nan"), "skipped"),
    ],
)
def test_alert_thresholds(name: str, value: float, level: str) -> None:
    assert grade(name, value, CFG.thresholds[name]).level == level


def test_config_refuses_inverted_or_missing_thresholds() -> None:
    with pytest.raises(ValueError, match="milder"):
        MonitorConfig.from_params(
            _params(thresholds={**CONF["thresholds"], "score_psi": {"warn": 0.3, "alert": 0.1}})
        )
    with pytest.raises(KeyError, match="auc"):
        MonitorConfig.from_params(
            _params(thresholds={k: v for k, v in CONF["thresholds"].items() if k != "auc"})
        )


def test_helpers() -> None:
    assert parse_duration("90m").total_seconds() == 5400
    with pytest.raises(ValueError, match="unit"):
        parse_duration("yesterday")
    assert auc_score(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == 0.75
    assert business_cost(np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0]), 10, 1) == 11


# -- notifiers -----------------------------------------------------------------------------------
def _report(status: str) -> MonitorReport:
    t = Threshold(0.1, 0.25)
    value = {"ok": 0.01, "warn": 0.2, "alert": 0.4}[status]
    return MonitorReport(
        status=status,  # type: ignore[arg-type]
        window={"since": "a"},
        checks=[grade("score_psi", value, t)],
        metrics={"score_psi": value},
        feature_psi={},
        drift_columns={},
    )


def test_log_notifier_writes_one_greppable_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        LogNotifier().notify(_report("alert"))
    assert "MONITOR ALERT score_psi=0.4 (threshold 0.25)" in caplog.text


def test_exit_notifier() -> None:
    for status, fail_on, code in [
        ("alert", "alert", EXIT_ALERT),
        ("warn", "alert", 0),
        ("warn", "warn", EXIT_ALERT),
        ("alert", "never", 0),
    ]:
        n = ExitCodeNotifier(fail_on)  # type: ignore[arg-type]
        n.notify(_report(status))
        assert n.exit_code == code, (status, fail_on)


@pytest.fixture()
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


def test_webhook_posts_problems_only(webhook: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = webhook
    WebhookNotifier(url).notify(_report("ok"))
    assert received == []
    WebhookNotifier(url).notify(_report("alert"))
    assert received[0]["status"] == "alert"
    assert received[0]["problems"][0]["name"] == "score_psi"
    with pytest.raises(ValueError, match="http"):
        WebhookNotifier("file:///etc/passwd")


# -- CLI end to end ------------------------------------------------------------------------------
def _write_reference(ref: Reference, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    ref.sample.to_parquet(directory / "reference.parquet")
    profile = {
        "model_version": ref.model_version,
        "threshold": ref.threshold,
        "columns": list(ref.columns),
        "psi_bins": {c: b.to_dict() for c, b in ref.psi_bins.items()},
        "score_bins": ref.score_bins.to_dict(),
        "approval_rate_reference": ref.approval_rate,
        "reference_metrics": ref.metrics,
    }
    (directory / "profile.json").write_text(json.dumps(profile), encoding="utf-8")


def _store(url: str, events: pd.DataFrame) -> None:
    with EventStore.open(url, None) as store:
        store.record_many([PredictionEvent(**_plain(r)) for r in events.to_dict("records")])


def _plain(rec: dict[Any, Any]) -> dict[str, Any]:
    return {k: v if k == "features" or not pd.isna(v) else None for k, v in rec.items()}


@pytest.mark.parametrize(("shift", "code", "status"), [(0.0, 0, "ok"), (0.25, EXIT_ALERT, "alert")])
def test_cli_writes_reports_and_exit_status(
    tmp_path: Path,
    reference: Reference,
    webhook: tuple[str, list[dict[str, Any]]],
    shift: float,
    code: int,
    status: str,
) -> None:
    hook, received = webhook
    _write_reference(reference, tmp_path / "ref")
    params = _params(notifiers=["log", "webhook", "exit"], webhook_url=hook)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'events.db'}"
    _store(url, _events(1200, seed=8, shift=shift))
    args = [
        "--params", str(tmp_path / "params.yaml"), "--url", url,
        "--reference", str(tmp_path / "ref"), "--all",
        "--html", str(tmp_path / "out/monitor.html"), "--json", str(tmp_path / "out/monitor.json"),
    ]  # fmt: skip
    assert main(args) == code
    out = json.loads((tmp_path / "out/monitor.json").read_text(encoding="utf-8"))
    assert out["status"] == status and out["window"]["n_events"] == 1200
    page = (tmp_path / "out/monitor.html").read_text(encoding="utf-8")
    assert "Scoring monitor:\n<span" in page and status.upper() in page
    assert (tmp_path / "out/monitor_drift.html").is_file()
    assert [r["status"] for r in received] == ([] if status == "ok" else [status])
