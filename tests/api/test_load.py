"""A short loopback load test of the real server: ``python -m api`` with 2 workers.

Bounded: 1,200 requests on 8 connections to 127.0.0.1 (a few seconds), mixing raw applications
(approved and refused) and known-client lookups. Every answer must be a 200 with the expected
decision, and after a graceful stop every score must be in the event store — none lost between
two worker processes writing at once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pandas as pd
import pytest

from benchmarks.loadgen import http_request, run_load
from scoring.bundle import Bundle
from scoring.events import EventStore

REPO = Path(__file__).resolve().parents[2]
N_REQUESTS = 1_200
CONCURRENCY = 8


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"server exited with {proc.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"{url} not ready after {timeout:.0f} s")


def test_two_workers_answer_every_request_and_record_every_score(
    bundle_dir: Path,
    bundle: Bundle,
    clients_frame: pd.DataFrame,
    request_for: Callable[[int], dict[str, Any]],
    tmp_path: Path,
) -> None:
    proba = bundle.predict_proba(bundle.encode(clients_frame))
    ids = clients_frame["SK_ID_CURR"].to_numpy()
    approved = int(ids[proba < bundle.threshold][0])
    refused = int(ids[proba >= bundle.threshold][0])

    def body(sk: int) -> bytes:
        return msgspec.json.encode(request_for(sk))

    port = _free_port()
    db = tmp_path / "events.db"
    env = {
        **os.environ,
        "BUNDLE_DIR": str(bundle_dir),
        "EVENTS_URL": f"sqlite:///{db}",
        "LOG_REQUESTS": "false",
    }
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "api", "--port", str(port), "--workers", "2"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_ready(f"http://127.0.0.1:{port}/ready", proc)
        requests = [
            http_request("POST", "/v1/score", body(approved), port=port),
            http_request("POST", "/v1/score", body(refused), port=port),
            http_request("GET", f"/v1/clients/{refused}", port=port),
        ]
        result = run_load(
            "127.0.0.1", port, requests, concurrency=CONCURRENCY, n_requests=N_REQUESTS
        )
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
    assert result.errors == 0, (tmp_path / "server.log").read_text()[-2000:]
    assert result.statuses == {200: result.n}
    assert result.n == N_REQUESTS
    store = EventStore.open(f"sqlite:///{db}")
    try:
        events = store.read_events()
    finally:
        store.close()
    assert len(events) == N_REQUESTS
    assert (events["status_code"] == 200).all()
    by_endpoint = events["endpoint"].value_counts().to_dict()
    assert by_endpoint == {
        "/v1/score": N_REQUESTS * 2 // 3,
        "/v1/clients/{sk_id_curr}": N_REQUESTS // 3,
    }
    assert set(events.loc[events["sk_id_curr"] == approved, "decision"]) == {"approved"}
    assert set(events.loc[events["sk_id_curr"] == refused, "decision"]) == {"refused"}
