"""The app factory: ``create_app(bundle_loader=..., events=...)``.

The bundle is loaded once per worker process in the lifespan (CONVENTIONS 9): the booster, the
feature code (``features.yaml``), the known-client store (``clients.parquet``, pre-scored) and
the path-attribution tables. Any problem with the bundle raises :class:`BundleError` there, so
the server refuses to start with a message naming the file, instead of answering 500s later.
``/ready`` answers 503 until that work is done and again during shutdown.

Run it with ``python -m api`` (uvicorn, one worker per core), or
``uvicorn --factory api.app:create_app``.
"""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

from litestar import Litestar, Request
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig

from api.errors import ApiError, exception_handlers
from api.features import make_feature_computer
from api.observability import Metrics, RequestContextMiddleware
from api.openapi import JsonSchemaPlugin, SwaggerPlugin
from api.routes import Runtime, build_routes
from api.service import (
    BATCH_ROUTE,
    CLIENT_ROUTE,
    SCORE_ROUTE,
    EventSink,
    NullEventSink,
    ScoringService,
)
from api.settings import Settings
from api.store import ClientStore
from scoring.bundle import Bundle, BundleError, load_bundle

log = logging.getLogger(__name__)

#: How long a thread may hold the GIL while another waits (CPython's default: 5 ms); see lifespan
GIL_SWITCH_INTERVAL_S = 0.0005

BundleLoader = Callable[[], Bundle]
EventsArg = EventSink | Callable[[], EventSink] | None
#: Route templates whose failures are recorded as prediction events (the monitor's error rate).
SCORED_ROUTES: dict[str, str] = {
    "/v1/score": SCORE_ROUTE,
    "/v1/score/batch": BATCH_ROUTE,
    "/v1/clients/{sk_id_curr}": CLIENT_ROUTE,
}


def _open_events(settings: Settings) -> EventSink:
    if settings.events_url and settings.events_url.strip().lower() == "none":
        log.warning("EVENTS_URL=none: prediction events are NOT recorded")
        return NullEventSink()
    from scoring.events import EventStore

    return EventStore.open(settings.events_url)


def build_service(
    bundle: Bundle, events: EventSink, metrics: Metrics, settings: Settings
) -> ScoringService:
    """Everything precomputed from a loaded bundle; raises :class:`BundleError` if unusable."""
    features = make_feature_computer(bundle)
    store = ClientStore.load(bundle)
    return ScoringService(bundle, store, features, events, metrics, settings)


def create_app(
    bundle_loader: BundleLoader | None = None,
    events: EventsArg = None,
    settings: Settings | None = None,
) -> Litestar:
    """A Litestar app serving one bundle.

    ``bundle_loader``: returns the :class:`Bundle` (default: ``load_bundle($BUNDLE_DIR)``).
    ``events``: an event sink, or a factory called in the lifespan (default: open
    :class:`scoring.events.EventStore` at ``$EVENTS_URL``); a sink passed in is not closed.
    """
    settings = settings or Settings.from_env()
    loader: BundleLoader = bundle_loader or (lambda: load_bundle(settings.bundle_dir))
    metrics = Metrics()
    rt = Runtime()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        owned: EventSink | None = None
        try:
            bundle = loader()
            if events is None:
                sink = owned = _open_events(settings)
            elif callable(events) and not hasattr(events, "record"):
                sink = owned = events()
            else:
                sink = cast(EventSink, events)
            service = build_service(bundle, sink, metrics, settings)
        except BundleError as exc:
            log.critical("cannot start: the model bundle is unusable: %s", exc)
            if owned is not None:
                owned.close()
            raise
        rt.service = service
        app.state.service = service
        # Everything loaded so far lives as long as the worker: move it out of the cyclic GC's
        # reach, so a collection never walks the bundle and the store during a request (p99).
        gc.collect()
        gc.freeze()
        # The event flusher thread inserts batches of events in Python; with CPython's default
        # 5 ms switch interval the event loop could wait that long for the GIL (the p99 at c=1).
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        metrics.model_info.labels(bundle.model_version, bundle.model_kind).set(1)
        log.info(
            "ready",
            extra={
                "model_version": bundle.model_version,
                "n_features": len(bundle.feature_names),
                "n_clients": len(service.store),
                "features": service.features.name,
                "reason_attribution": service.default_attribution,
                "treeshap_work": service.path.treeshap_work if service.path else None,
            },
        )
        try:
            yield
        finally:
            rt.service = None
            if owned is not None:
                owned.close()

    def on_error(request: Request[Any, Any, Any], err: ApiError) -> None:
        svc = rt.service
        route = request.scope.get("path_template")
        endpoint = SCORED_ROUTES.get(str(route)) if route else None
        if svc is None or endpoint is None or err.status_code == 503:
            return
        sk = request.scope.get("path_params", {}).get("sk_id_curr")
        t0 = request.scope.get("t0")
        svc.record_error(
            endpoint,
            str(request.scope.get("request_id", "")),
            t0 if isinstance(t0, float) else None,
            err.status_code,
            err.detail,
            sk if isinstance(sk, int) else None,
        )

    openapi = OpenAPIConfig(
        title="Prêt à dépenser — scoring API",
        version="1",
        description="Credit scoring of Home Credit applications: calibrated probability of "
        "default, cost-optimal decision, reason codes. See docs/api.md.",
        path="/schema",
        render_plugins=[JsonSchemaPlugin(), SwaggerPlugin(path="/swagger")],
    )
    app = Litestar(
        route_handlers=build_routes(rt, settings, metrics),
        lifespan=[lifespan],
        exception_handlers=exception_handlers(on_error),
        openapi_config=openapi,
        request_max_body_size=settings.max_body_bytes,
        state=State({"runtime": rt, "metrics": metrics}),
        debug=False,
        logging_config=None,
    )
    # Outermost layer, around routing itself: route-level middleware would miss unrouted
    # requests (404/405), which need a request id, a metric and a log line too.
    app.asgi_handler = RequestContextMiddleware(
        app.asgi_handler, metrics=metrics, log_requests=settings.log_requests
    )
    return app
