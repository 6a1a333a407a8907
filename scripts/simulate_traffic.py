"""Replay application_test through the running API, then a drifted batch, and run the monitor.

    python scripts/simulate_traffic.py --api http://127.0.0.1:8000 \
        --applications data/interim/application_test.parquet --reference data/drift \
        --params params.yaml --out reports/simulation

1. ``--n-clean`` application_test rows go to ``POST /v1/score`` unchanged (clean traffic);
2. ``--n-drift`` other rows go through after a deliberate shift (:func:`drift_application`):
   external scores halved, credit amounts doubled, many more revolving loans, younger clients;
3. the monitor (:mod:`scoring.monitor`, thresholds from params.yaml) judges each window
   separately, writing ``<out>/clean.{html,json}`` and ``<out>/drifted.{html,json}``.

Exit status 0 when the monitor stayed quiet on clean traffic and alerted on the drifted batch
(what the simulation is meant to show), 1 otherwise. The API must write its events to the same
store the monitor reads (``$EVENTS_URL``, default ``sqlite:///data/events.db``). Only
``127.0.0.1``/``localhost`` API URLs are accepted unless ``--allow-remote`` is given.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import numpy as np
import pandas as pd

from scoring import monitor
from scoring.events import EventStore
from scoring.schema import APPLICATION_TEST, table_schema


def read_applications(path: Path) -> pd.DataFrame:
    """application_test rows from the ingest parquet or a Kaggle CSV (optionally gzipped)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no application_test file (run make pipeline)")
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    if frame.empty:
        raise ValueError(f"{path}: application_test has no rows, nothing to replay")
    return frame


def to_payload(row: Mapping[Any, Any]) -> dict[str, Any]:
    """One row as the API's ``application`` object: Kaggle types, NaN → null."""
    schema = table_schema(APPLICATION_TEST)
    out: dict[str, Any] = {}
    for col in schema.columns:
        if col.name not in row:
            continue
        v = row[col.name]
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
            out[col.name] = None
        elif col.dtype == "int":
            out[col.name] = int(v)
        elif col.dtype == "float":
            out[col.name] = float(v)
        else:
            out[col.name] = str(v)
    return out


def drift_application(app: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """A deliberately different applicant, still valid for the API (same columns, in bounds).

    Halved external scores (the model's strongest inputs), doubled credit and annuity, 60 %
    revolving loans (1 % in application_test), clients 30 % younger but at least 19.
    """
    out = dict(app)
    for c in ("EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3"):
        if out.get(c) is not None:
            out[c] = float(out[c]) * 0.5
    for c in ("AMT_CREDIT", "AMT_ANNUITY", "AMT_GOODS_PRICE"):
        if out.get(c) is not None:
            out[c] = float(out[c]) * 2.0
    if rng.uniform() < 0.6:
        out["NAME_CONTRACT_TYPE"] = "Revolving loans"
    if out.get("DAYS_BIRTH") is not None:
        out["DAYS_BIRTH"] = int(min(int(out["DAYS_BIRTH"]) * 0.7, -19 * 365))
    return out


def send(client: httpx.Client, apps: Iterable[dict[str, Any]], concurrency: int) -> dict[int, int]:
    """POST every application to /v1/score; returns a count per HTTP status."""

    def one(app: dict[str, Any]) -> int:
        return client.post("/v1/score", json={"application": app}).status_code

    counts: dict[int, int] = {}
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for status in pool.map(one, apps):
            counts[status] = counts.get(status, 0) + 1
    return counts


def wait_for_events(url: str | None, since: str, until: str, expected: int, timeout: float) -> int:
    """Poll the store until the API's flusher has written ``expected`` events of the window."""
    deadline = time.monotonic() + timeout
    n = 0
    while time.monotonic() < deadline:
        store = EventStore.open(url, None)
        try:
            n = len(store.read_events(since, until))
        finally:
            store.close()
        if n >= expected:
            return n
        time.sleep(0.5)
    return n


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def run_window(
    name: str,
    client: httpx.Client,
    apps: Sequence[dict[str, Any]],
    args: argparse.Namespace,
) -> tuple[int, dict[str, Any]]:
    """Send one batch, then run the monitor CLI on exactly that window."""
    since = now_iso()
    t0 = time.perf_counter()
    counts = send(client, apps, args.concurrency)
    seconds = time.perf_counter() - t0
    until = now_iso()
    stored = wait_for_events(args.events_url, since, until, len(apps), timeout=30)
    print(
        f"[{name}] sent {len(apps)} in {seconds:.1f} s ({len(apps) / seconds:.0f} req/s), "
        f"statuses {counts}, events stored {stored}"
    )
    out = args.out / name
    argv = [
        "--params", str(args.params), "--reference", str(args.reference),
        "--since", since, "--until", until,
        "--html", f"{out}.html", "--json", f"{out}.json",
    ]  # fmt: skip
    if args.events_url:
        argv += ["--url", args.events_url]
    code = monitor.main(argv)
    report = json.loads(Path(f"{out}.json").read_text(encoding="utf-8"))
    return code, report


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--api", default="http://127.0.0.1:8000")
    ap.add_argument("--allow-remote", action="store_true", help="accept a non-local API URL")
    ap.add_argument(
        "--applications", type=Path, default=Path("data/interim/application_test.parquet")
    )
    ap.add_argument("--reference", type=Path, default=Path("data/drift"))
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--events-url", default=None, help="the API's $EVENTS_URL (default store)")
    ap.add_argument("--out", type=Path, default=Path("reports/simulation"))
    ap.add_argument("--n-clean", type=int, default=1500)
    ap.add_argument("--n-drift", type=int, default=1500)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    host = urlparse(args.api).hostname
    if host not in ("127.0.0.1", "localhost", "::1") and not args.allow_remote:
        print(f"error: {args.api} is not local; pass --allow-remote to mean it", file=sys.stderr)
        return 2
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not one line per request
    frame = read_applications(args.applications)
    need = args.n_clean + args.n_drift
    rng = np.random.default_rng(args.seed)
    rows = frame.sample(n=need, replace=len(frame) < need, random_state=args.seed)
    payloads = [to_payload(r) for r in rows.to_dict(orient="records")]
    clean = payloads[: args.n_clean]
    drifted = [drift_application(a, rng) for a in payloads[args.n_clean :]]
    args.out.mkdir(parents=True, exist_ok=True)
    with httpx.Client(base_url=args.api, timeout=30) as client:
        try:
            ready = client.get("/ready")
        except httpx.HTTPError as exc:
            print(f"error: API not reachable at {args.api} ({exc}); start it: make api")
            return 2
        if ready.status_code != 200:
            print(f"error: API at {args.api} not ready ({ready.status_code}): {ready.text}")
            return 2
        code_clean, clean_report = run_window("clean", client, clean, args)
        code_drift, drift_report = run_window("drifted", client, drifted, args)
    print()
    for name, rep in (("clean", clean_report), ("drifted", drift_report)):
        m = rep["metrics"]
        problems = [f"{c['name']}={c['level']}" for c in rep["checks"] if c["level"] != "ok"]
        print(
            f"{name:8s} status {rep['status'].upper():5s} score_psi {m.get('score_psi')} "
            f"approval {m.get('approval_rate')} (ref {m.get('approval_rate_reference')}) "
            f"drifted columns {m.get('n_drifted_columns')}/{m.get('n_columns')} | {problems}"
        )
    shown = clean_report["status"] != "alert" and drift_report["status"] == "alert"
    print(
        f"monitor exit codes: clean {code_clean}, drifted {code_drift} — "
        + ("alert fired on drift only, as expected" if shown else "UNEXPECTED outcome")
    )
    return 0 if shown else 1


if __name__ == "__main__":
    sys.exit(main())
