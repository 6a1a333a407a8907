"""Prometheus metrics, the request id, and structured (JSON) logs.

Metrics (``GET /metrics``):

- ``api_requests_total{method,route,status}`` and ``api_request_duration_seconds{route}``
  (histogram, buckets from 0.25 ms: a score takes well under a millisecond);
- ``api_decisions_total{endpoint,decision}`` and ``api_score_probability{endpoint}`` (the score
  distribution, for drift alerts);
- ``api_events_failed_total`` (a score answered but not recorded), ``api_model_info``.

``route`` is the route *template* (``/v1/clients/{sk_id_curr}``), never the raw path, so
the label set stays bounded whatever clients send.

Several uvicorn workers are several processes: with ``PROMETHEUS_MULTIPROC_DIR`` set (``python
-m api`` sets it before the workers start), values live in shared files and ``/metrics``
aggregates every worker; without it (tests, one process) a per-app registry is used. Nothing is
registered at import: each app builds its own :class:`Metrics`.

The request id comes from the ``X-Request-ID`` header when it is a sane token (≤ 64 of
``[A-Za-z0-9._-]``), else a fresh UUID4; it is echoed in the ``X-Request-ID`` response header,
every JSON body that has a ``request_id`` field, the access log line and the prediction event.
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from typing import Any

import msgspec
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prom_mp
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

access_log = logging.getLogger("api.access")
_RID = re.compile(rb"^[A-Za-z0-9._-]{1,64}$")
LATENCY_BUCKETS = (
    0.00025,
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
PROBABILITY_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 20))


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    """The app's Prometheus metrics (one instance per app; children cached per label set)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "api_requests_total",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "api_request_duration_seconds",
            "Time from request start to the end of the response",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.decisions = Counter(
            "api_decisions_total", "Scores given, by decision", ["endpoint", "decision"], registry=r
        )
        self.probability = Histogram(
            "api_score_probability",
            "Calibrated probability of default of the scores given",
            ["endpoint"],
            buckets=PROBABILITY_BUCKETS,
            registry=r,
        )
        self.events_failed = Counter(
            "api_events_failed_total",
            "Scores answered whose event could not be recorded",
            registry=r,
        )
        self.model_info = Gauge(
            "api_model_info",
            "The model this worker serves (value 1)",
            ["model_version", "model_kind"],
            registry=r,
            multiprocess_mode="max",
        )
        self._req_children: dict[tuple[str, str, int], Any] = {}
        self._lat_children: dict[str, Any] = {}
        self._dec_children: dict[tuple[str, str], Any] = {}
        self._prob_children: dict[str, Any] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        c = self._req_children.get(key)
        if c is None:
            c = self._req_children[key] = self.requests.labels(method, route, str(status))
        c.inc()
        h = self._lat_children.get(route)
        if h is None:
            h = self._lat_children[route] = self.latency.labels(route)
        h.observe(seconds)

    def observe_decision(self, endpoint: str, decision: str, probability: float) -> None:
        key = (endpoint, decision)
        c = self._dec_children.get(key)
        if c is None:
            c = self._dec_children[key] = self.decisions.labels(endpoint, decision)
        c.inc()
        h = self._prob_children.get(endpoint)
        if h is None:
            h = self._prob_children[endpoint] = self.probability.labels(endpoint)
        h.observe(probability)

    def render(self) -> tuple[bytes, str]:
        """The exposition text: every worker's values in multiprocess mode, else this app's."""
        if multiprocess_dir():
            registry = CollectorRegistry()
            prom_mp.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_PLAIN_0_0_4
        return generate_latest(self.registry), CONTENT_TYPE_PLAIN_0_0_4


def new_request_id(header: bytes | None) -> str:
    if header is not None and _RID.match(header):
        return header.decode("ascii")
    return uuid.uuid4().hex


class RequestContextMiddleware:
    """Pure ASGI middleware: request id, timing, metrics and one access-log line per request.

    Pure ASGI (no BaseHTTPMiddleware) because it runs on every request: it only wraps ``send``
    to read the status and append the ``X-Request-ID`` header. Handlers read
    ``scope["request_id"]`` and ``scope["t0"]`` (``perf_counter`` at arrival).
    """

    def __init__(self, app: Any, metrics: Metrics, log_requests: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.log_requests = log_requests

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        header = None
        for k, v in scope["headers"]:
            if k == b"x-request-id":
                header = v
                break
        rid = new_request_id(header)
        scope["request_id"] = rid
        scope["t0"] = t0
        rid_header = (b"x-request-id", rid.encode("ascii"))
        status = 500

        async def send_with_id(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), rid_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - t0
            route = scope.get("path_template") or "unmatched"
            self.metrics.observe_request(scope["method"], route, status, elapsed)
            if self.log_requests:
                access_log.info(
                    "request",
                    extra={
                        "request_id": rid,
                        "method": scope["method"],
                        "path": scope["path"],
                        "route": route,
                        "status": status,
                        "latency_ms": round(elapsed * 1e3, 3),
                    },
                )


# --------------------------------------------------------------------------------------------
# Structured logs
# --------------------------------------------------------------------------------------------
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "color_message"}  # uvicorn's ANSI-coloured copy of the message
)
_encoder = msgspec.json.Encoder(enc_hook=str)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, any ``extra`` fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for k, v in record.__dict__.items():
            if k not in _STANDARD and not k.startswith("_"):
                out[k] = v
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return _encoder.encode(out).decode("utf-8")


def logging_config(level: str = "INFO", json_logs: bool = True) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the server (uvicorn applies it in every worker)."""
    fmt: dict[str, Any] = (
        {"()": "api.observability.JsonFormatter"}
        if json_logs
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": fmt},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"level": level},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"level": "WARNING", "propagate": True},
        },
    }
