"""Where a ``POST /v1/score`` spends its CPU: per-stage cost, single-threaded, no network.

    .venv/bin/python benchmarks/api_profile.py [--bundle DIR] [--n 2000]

Throughput on a shared 2-core machine moves with whatever else runs; CPU time per call
(``time.process_time``, best of 3 rounds) much less so. Stages, for the benchmark's approved
and refused applications (benchmarks/api_bench.py picks them):

- ``decode``: strict msgspec decoding of the raw body into the generated request struct;
- ``features``: :meth:`scoring.features.FeatureBuilder.for_application` (no history);
- ``encode``: the API's feature dict → model row (``FeatureComputer.encode``: a precomputed
  no-history row with the application's own positions overwritten);
- ``predict``: :meth:`Bundle.predict_proba` (booster through LightGBM's single-row fast path
  + calibration);
- ``path`` / ``treeshap``: reason-code contributions of the refused row;
- ``event``: picking the recorded features, building and JSON-encoding the prediction event
  (what ``EventStore.record`` writes);
- ``handler (ASGI)``: the whole app — middleware, routing, decoding, scoring, response — called
  directly as an ASGI app (events disabled, access log off), i.e. everything but uvicorn's HTTP
  parsing and the socket.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]


def cpu_us(fn: Callable[[], object], n: int) -> float:
    """Best-of-3 CPU microseconds per call of ``fn``."""
    for _ in range(min(100, n)):
        fn()
    best = float("inf")
    for _ in range(3):
        t0 = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, (time.process_time() - t0) / n * 1e6)
    return best


def asgi_caller(app: Any, path: str, body: bytes) -> Callable[[], None]:
    """A synchronous one-request call of an ASGI app (its lifespan already started)."""
    loop = asyncio.new_event_loop()
    tasks: list[asyncio.Task[None]] = []
    headers = [(b"host", b"bench"), (b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]  # fmt: skip
    scope_base = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
    }  # fmt: skip

    async def one() -> None:
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] != 200:
                raise RuntimeError(f"status {message['status']}")

        await app(dict(scope_base), receive, send)

    async def start() -> None:
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        await inbox.put({"type": "lifespan.startup"})
        lifespan = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        task = loop.create_task(app(lifespan, inbox.get, outbox.put))
        message = await outbox.get()
        if message["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"app did not start: {message}")
        tasks.append(task)  # keep the lifespan task alive

    loop.run_until_complete(start())
    return lambda: loop.run_until_complete(one())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bundle", default=None)
    ap.add_argument("--n", type=int, default=2000, help="calls per round")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import api_bench  # this script's folder is on sys.path
    import msgspec

    from api.app import build_service, create_app
    from api.observability import Metrics
    from api.schemas import request_types
    from api.service import NullEventSink
    from api.settings import Settings
    from scoring.bundle import load_bundle
    from scoring.events import _ENCODER, PredictionEvent

    bundle_dir = api_bench.resolve_bundle(args.bundle)
    payloads = api_bench.build_payloads(bundle_dir)
    b = load_bundle(bundle_dir)
    svc = build_service(b, NullEventSink(), Metrics(), Settings(log_requests=False))
    decoder = msgspec.json.Decoder(request_types().score_request)
    app = create_app(
        bundle_loader=lambda: load_bundle(bundle_dir),
        events=NullEventSink(),
        settings=Settings(bundle_dir=bundle_dir, log_requests=False),
    )
    n = args.n
    print(
        f"bundle {bundle_dir}: {len(b.feature_names)} features, "
        f"{b.booster.num_trees() if b.booster else 0} trees; default reasons by "
        f"{svc.default_attribution}; load average {os.getloadavg()[0]:.1f}"
    )
    gc.collect()
    gc.freeze()
    for mode in ("plain", "reasons"):
        body = payloads.api[mode]
        req = decoder.decode(body)
        application = msgspec.structs.asdict(cast(Any, req).application)
        feats = svc.features.compute(application, None)
        x = svc.features.encode(feats, with_history=False)
        rows = {
            "decode": cpu_us(lambda: decoder.decode(body), n),  # noqa: B023
            "features": cpu_us(lambda: svc.features.compute(application, None), n),  # noqa: B023
            "encode": cpu_us(lambda: svc.features.encode(feats, with_history=False), n),  # noqa: B023
            "predict": cpu_us(lambda: b.predict_proba(x), n),  # noqa: B023
        }
        if mode == "reasons":
            rows["path"] = cpu_us(lambda: svc.contributions(x, "path"), n)  # noqa: B023
            rows["treeshap"] = cpu_us(lambda: svc.contributions(x, "treeshap"), max(50, n // 10))  # noqa: B023
        rows["event"] = cpu_us(
            lambda: _ENCODER.encode(
                PredictionEvent(
                    request_id="r", model_version="v", endpoint="/v1/score",
                    features=svc._logged(feats), probability=0.1, decision="approved",  # noqa: B023
                    threshold=0.1, latency_ms=1.0,
                )
            ),
            n,
        )  # fmt: skip
        rows["handler (ASGI)"] = cpu_us(asgi_caller(app, "/v1/score", body), n)
        print(f"{mode}:")
        for k, v in rows.items():
            print(f"  {k:16s} {v:9.1f} µs CPU")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))  # run as a script: make `api`, `scoring`, `tests` importable
    sys.exit(main())
