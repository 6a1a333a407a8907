"""HTTP handlers: parse and validate, call :class:`api.service.ScoringService`, return structs.

Handlers are closures over a :class:`Runtime` rather than dependency-injected: Litestar's DI
resolves providers on every request, which costs measurable microseconds on the hot path for
no benefit here (one service per process). Handlers that take well under a millisecond run
inline on the event loop (STACK_NOTES: ``sync_to_thread`` halves throughput); those that can
take milliseconds (batches, exact explanations, histograms, applications with history) run in
a worker thread so they never stall the loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import anyio.to_thread
import msgspec
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter, QueryParameter

from api import bands
from api.errors import ApiError, decode_body
from api.observability import Metrics
from api.openapi import body_operation, errors
from api.schemas import (
    MAX_BATCH,
    BatchScoreResponse,
    ClientPage,
    ClientResponse,
    ExplanationResponse,
    FeatureList,
    Health,
    ModelResponse,
    PopulationResponse,
    Readiness,
    ScoreResponse,
    SimilarResponse,
    request_types,
)
from api.service import ReasonsMode, ScoringService
from api.settings import Settings
from scoring.schema import APPLICATION_TEST, table_schema

ReasonsParam = Annotated[
    ReasonsMode,
    QueryParameter(
        description="auto: reason codes for refusals only; always: also for approvals (top risk "
        "factors); never: none",
    ),
]
AttributionParam = Annotated[
    Literal["path", "treeshap"] | None,
    QueryParameter(
        description="How reason codes are attributed: path (fast path attribution, the "
        "server default) or treeshap (exact, slower); ignored for linear models",
    ),
]
ClientId = Annotated[int, PathParameter(description="SK_ID_CURR of a known client", ge=0)]

_CONTRACTS = table_schema(APPLICATION_TEST).column("NAME_CONTRACT_TYPE").levels or ()
_GENDERS = table_schema(APPLICATION_TEST).column("CODE_GENDER").levels or ()
ContractType = Literal[_CONTRACTS]  # type: ignore[valid-type]
Gender = Literal[_GENDERS]  # type: ignore[valid-type]
IncomeBand = Literal[bands.INCOME_BAND_IDS]  # type: ignore[valid-type]
AgeBand = Literal[bands.AGE_BAND_IDS]  # type: ignore[valid-type]


@dataclass
class Runtime:
    """What the lifespan hands to the handlers: the service once the bundle is loaded."""

    service: ScoringService | None = None

    def require(self) -> ScoringService:
        svc = self.service
        if svc is None:
            raise ApiError(503, "the model is not loaded yet; retry when GET /ready says true")
        return svc


def _rid(request: Request[Any, Any, Any]) -> str:
    return str(request.scope["request_id"])  # type: ignore[typeddict-item]


def _t0(request: Request[Any, Any, Any]) -> float:
    return float(request.scope["t0"])  # type: ignore[typeddict-item]


def build_routes(rt: Runtime, settings: Settings, metrics: Metrics) -> list[HTTPRouteHandler]:
    """Every route of the API, bound to ``rt``."""
    types = request_types()
    score_decoder = msgspec.json.Decoder(types.score_request)
    batch_decoder = msgspec.json.Decoder(types.batch_request)

    @get("/health", tags=["service"], summary="Liveness: the process answers")
    async def health() -> Health:
        return Health(status="ok")

    @get(
        "/ready",
        tags=["service"],
        summary="Readiness: the bundle is loaded (503 until then)",
        responses={503: errors(503)[503]},
    )
    async def ready() -> Response[Readiness]:
        svc = rt.service
        if svc is None:
            return Response(
                Readiness(ready=False, model_version=None, n_clients=None), status_code=503
            )
        return Response(
            Readiness(ready=True, model_version=svc.model_version, n_clients=len(svc.store))
        )

    @post(
        "/v1/score",
        status_code=200,
        tags=["scoring"],
        summary="Score one raw application (+ optional history records)",
        operation_class=body_operation(
            "ScoreRequest",
            "One raw application (Kaggle application columns, SK_ID_CURR optional) and, "
            "optionally, its history records per Kaggle table.",
        ),
        request_max_body_size=settings.max_body_bytes,
        responses=errors(400, 413, 422, 503),
    )
    async def score(
        request: Request[Any, Any, Any],
        reasons: ReasonsParam = "auto",
        attribution: AttributionParam = None,
    ) -> ScoreResponse:
        svc = rt.require()
        req = decode_body(await request.body(), score_decoder)
        args = (req, _rid(request), _t0(request), reasons, attribution)
        if svc.slow_reasons(reasons, attribution) or getattr(req, "history", None) is not None:
            # exact TreeSHAP of a large model or history aggregation take milliseconds: off the
            # event loop (LightGBM and Polars release the GIL), which keeps serving
            return await anyio.to_thread.run_sync(svc.score_application, *args)
        return svc.score_application(*args)

    @post(
        "/v1/score/batch",
        status_code=200,
        tags=["scoring"],
        summary=f"Score up to {MAX_BATCH} raw applications in one call",
        operation_class=body_operation(
            "BatchScoreRequest", "`applications`: a list of ScoreRequest objects."
        ),
        request_max_body_size=settings.max_batch_body_bytes,
        responses=errors(400, 413, 422, 503),
    )
    async def score_batch(
        request: Request[Any, Any, Any],
        reasons: ReasonsParam = "auto",
        attribution: AttributionParam = None,
    ) -> BatchScoreResponse:
        svc = rt.require()
        body = await request.body()
        req = await anyio.to_thread.run_sync(decode_body, body, batch_decoder)
        return await anyio.to_thread.run_sync(
            svc.score_batch, req, _rid(request), _t0(request), reasons, attribution
        )

    @get(
        "/v1/clients",
        tags=["clients"],
        summary="Filter and page the known clients (sorted by SK_ID_CURR)",
        responses=errors(422, 503),
    )
    async def list_clients(
        contract_type: Annotated[ContractType | None, QueryParameter()] = None,
        income_band: Annotated[IncomeBand | None, QueryParameter()] = None,
        age_band: Annotated[AgeBand | None, QueryParameter()] = None,
        decision: Annotated[Literal["approved", "refused"] | None, QueryParameter()] = None,
        gender: Annotated[Gender | None, QueryParameter()] = None,
        page: Annotated[int, QueryParameter(ge=1, le=1_000_000)] = 1,
        page_size: Annotated[int, QueryParameter(ge=1, le=200)] = 20,
    ) -> ClientPage:
        return rt.require().list_clients(
            contract_type=contract_type,
            income_band=income_band,
            age_band=age_band,
            decision=decision,
            gender=gender,
            page=page,
            page_size=page_size,
        )

    @get(
        "/v1/clients/{sk_id_curr:int}",
        tags=["clients"],
        summary="A known client: score, reason codes, descriptive info, feature summary",
        responses=errors(404, 422, 503),
    )
    async def client(
        request: Request[Any, Any, Any],
        sk_id_curr: ClientId,
        reasons: ReasonsParam = "auto",
        attribution: AttributionParam = None,
    ) -> ClientResponse:
        svc = rt.require()
        args = (sk_id_curr, _rid(request), _t0(request), reasons, attribution)
        # known-client reasons are exact by default: off the loop when that is slow
        if svc.slow_reasons(reasons, attribution or "treeshap"):
            return await anyio.to_thread.run_sync(svc.client, *args)
        return svc.client(*args)

    @get(
        "/v1/clients/{sk_id_curr:int}/explanation",
        tags=["clients"],
        summary="Every feature's contribution to a known client's score (log-odds)",
        responses=errors(404, 422, 503),
        sync_to_thread=True,
    )
    def explanation(
        request: Request[Any, Any, Any],
        sk_id_curr: ClientId,
        top: Annotated[
            int | None,
            QueryParameter(ge=1, le=10_000, description="top-N by |contribution|; all when absent"),
        ] = None,
        method: Annotated[
            Literal["treeshap", "path"],
            QueryParameter(description="treeshap (exact, default) or path (fast approximation)"),
        ] = "treeshap",
    ) -> ExplanationResponse:
        return rt.require().explanation(sk_id_curr, _rid(request), top, method)

    @get(
        "/v1/clients/{sk_id_curr:int}/similar",
        tags=["clients"],
        summary="A client's comparable group: same age band, income band and contract type",
        responses=errors(404, 422, 503),
        sync_to_thread=True,
    )
    def similar(
        sk_id_curr: ClientId,
        size: Annotated[
            int, QueryParameter(ge=0, le=100, description="members listed (closest scores)")
        ] = 10,
    ) -> SimilarResponse:
        return rt.require().similar(sk_id_curr, size)

    @get(
        "/v1/population/{feature:str}",
        tags=["clients"],
        summary="Distribution of a feature over all known clients or a client's group",
        responses=errors(404, 422, 503),
        sync_to_thread=True,
    )
    def population(
        feature: Annotated[str, PathParameter(description="a model feature, see /v1/features")],
        group: Annotated[Literal["all", "similar"], QueryParameter()] = "all",
        sk_id_curr: Annotated[
            int | None,
            QueryParameter(description="a known client: adds its own value and percentile"),
        ] = None,
        bins: Annotated[int, QueryParameter(ge=2, le=100)] = 20,
    ) -> PopulationResponse:
        return rt.require().population(feature, group, sk_id_curr, bins)

    @get(
        "/v1/features",
        tags=["model"],
        summary="The model features (name, label, kind) that can be compared",
        responses=errors(503),
    )
    async def features() -> FeatureList:
        return rt.require().feature_list()

    @get(
        "/v1/model",
        tags=["model"],
        summary="The served model: version, kind, threshold, calibration, metrics",
        responses=errors(503),
    )
    async def model() -> ModelResponse:
        return rt.require().model_info()

    @get(
        "/metrics",
        tags=["service"],
        summary="Prometheus metrics (text exposition format 0.0.4)",
        media_type="text/plain; version=0.0.4",
    )
    async def prometheus() -> Response[bytes]:
        body, _ = metrics.render()
        return Response(body, media_type="text/plain; version=0.0.4")

    return [
        health,
        ready,
        score,
        score_batch,
        list_clients,
        client,
        explanation,
        similar,
        population,
        features,
        model,
        prometheus,
    ]
