"""Thin HTTP client of the scoring API: the dashboard's only way to reach data and the model.

Why a separate module: the dashboard must stay a pure HTTP client (CONVENTIONS point 10), so
every call, timeout and error message lives here, typed, and testable without Streamlit. Errors
become :class:`ApiError` with a message an officer can act on ("the scoring service cannot be
reached at ..."), never a stack trace on the page.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

DEFAULT_API_URL = "http://127.0.0.1:8000"
#: Connect fast (a stopped API should not freeze the page), read a little longer (explanations).
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)


def api_url_from_env() -> str:
    """The API base URL from ``API_URL`` (without a trailing slash), defaulting to local :8000."""
    return os.environ.get("API_URL", DEFAULT_API_URL).rstrip("/")


class ApiError(RuntimeError):
    """A failed API call, with a message meant for the officer reading the page."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class ClientNotFoundError(ApiError):
    """The API answered 404 for a client id: the id is unknown, not a technical failure."""


# --------------------------------------------------------------------------------------------
# Typed answers
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelInfo:
    version: str
    threshold: float
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ClientRow:
    """One known client in a list (search results, similar clients, scatter points)."""

    sk_id_curr: int
    contract_type: str | None
    gender: str | None
    age_years: float | None
    age_band: str | None
    income: float | None
    income_band: str | None
    credit: float | None
    probability: float
    decision: str


@dataclass(frozen=True)
class ClientPage:
    items: list[ClientRow]
    total: int
    page: int
    page_size: int


@dataclass(frozen=True)
class Reason:
    feature: str
    label: str
    value: Any
    contribution: float


@dataclass(frozen=True)
class Score:
    probability: float
    threshold: float
    decision: str
    reasons: list[Reason]
    model_version: str


@dataclass(frozen=True)
class FeatureValue:
    """One model feature of a known client, next to the known-client population."""

    feature: str
    label: str
    kind: str
    value: Any
    population_median: Any
    population_percentile: float | None  # share of known clients below (0–1)


@dataclass(frozen=True)
class ClientDetail:
    """A known client: score, readable descriptive facts (``info``) and model features."""

    sk_id_curr: int
    score: Score
    info: dict[str, Any]
    features: list[FeatureValue] = field(default_factory=list)


@dataclass(frozen=True)
class Contribution:
    feature: str
    label: str
    value: Any
    contribution: float
    direction: str


@dataclass(frozen=True)
class Explanation:
    sk_id_curr: int
    contributions: list[Contribution]


@dataclass(frozen=True)
class SimilarGroup:
    criteria: dict[str, Any]
    description: str
    count: int
    approval_rate: float | None
    items: list[ClientRow]


@dataclass(frozen=True)
class Population:
    feature: str
    label: str
    kind: str
    group: str
    n: int
    n_missing: int
    edges: list[float]
    counts: list[int]
    levels: list[str] | None
    quantiles: dict[str, float]
    client_value: Any
    client_percentile: float | None  # share of the group below the client (0–1)


@dataclass(frozen=True)
class FeatureInfo:
    name: str
    label: str
    kind: str
    levels: list[str] | None = None
    importance_rank: int | None = None


# --------------------------------------------------------------------------------------------
# Parsing (kept apart from transport so it is unit-testable on plain dicts)
# --------------------------------------------------------------------------------------------
def _require(body: Mapping[str, Any], key: str, what: str) -> Any:
    if key not in body:
        raise ApiError(f"The scoring service sent an unexpected answer for {what} (no '{key}').")
    return body[key]


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def parse_model_info(body: Mapping[str, Any]) -> ModelInfo:
    version = body.get("model_version", body.get("version"))
    if version is None:
        raise ApiError("The scoring service sent an unexpected answer for the model (no version).")
    return ModelInfo(
        version=str(version),
        threshold=float(_require(body, "threshold", "the model")),
        metrics=dict(body.get("metrics") or {}),
    )


def parse_client_row(item: Mapping[str, Any]) -> ClientRow:
    return ClientRow(
        sk_id_curr=int(_require(item, "sk_id_curr", "a client")),
        contract_type=item.get("contract_type"),
        gender=item.get("gender"),
        age_years=_opt_float(item.get("age_years")),
        age_band=item.get("age_band"),
        income=_opt_float(item.get("income")),
        income_band=item.get("income_band"),
        credit=_opt_float(item.get("credit")),
        probability=float(_require(item, "probability", "a client")),
        decision=str(_require(item, "decision", "a client")),
    )


def parse_client_page(body: Mapping[str, Any]) -> ClientPage:
    items = [parse_client_row(i) for i in _require(body, "items", "the client list")]
    return ClientPage(
        items=items,
        total=int(body.get("total", len(items))),
        page=int(body.get("page", 1)),
        page_size=int(body.get("page_size", len(items))),
    )


def parse_reason(item: Mapping[str, Any]) -> Reason:
    feature = str(_require(item, "feature", "a reason code"))
    return Reason(
        feature=feature,
        label=str(item.get("label") or feature),
        value=item.get("value"),
        contribution=float(item.get("contribution", 0.0)),
    )


def parse_score(body: Mapping[str, Any]) -> Score:
    reasons = body.get("reasons", body.get("reason_codes", [])) or []
    return Score(
        probability=float(_require(body, "probability", "the score")),
        threshold=float(_require(body, "threshold", "the score")),
        decision=str(_require(body, "decision", "the score")),
        reasons=[parse_reason(r) for r in reasons],
        model_version=str(body.get("model_version", "")),
    )


def _share(percentile: Any) -> float | None:
    """The API's percentiles are 0–100 (share below + half the ties); the dashboard uses 0–1."""
    return None if percentile is None else float(percentile) / 100.0


def parse_feature_value(item: Mapping[str, Any]) -> FeatureValue:
    feature = str(_require(item, "feature", "a client feature"))
    return FeatureValue(
        feature=feature,
        label=str(item.get("label") or feature),
        kind=str(item.get("kind", "numeric")),
        value=item.get("value"),
        population_median=item.get("population_median"),
        population_percentile=_share(item.get("population_percentile")),
    )


def parse_client_detail(body: Mapping[str, Any]) -> ClientDetail:
    return ClientDetail(
        sk_id_curr=int(_require(body, "sk_id_curr", "the client")),
        score=parse_score(_require(body, "score", "the client")),
        info=dict(body.get("info") or {}),
        features=[parse_feature_value(f) for f in body.get("features") or []],
    )


def parse_explanation(body: Mapping[str, Any]) -> Explanation:
    rows = []
    for item in _require(body, "contributions", "the explanation"):
        contribution = float(_require(item, "contribution", "a contribution"))
        feature = str(_require(item, "feature", "a contribution"))
        rows.append(
            Contribution(
                feature=feature,
                label=str(item.get("label") or feature),
                value=item.get("value"),
                contribution=contribution,
                direction=str(item.get("direction") or ("up" if contribution > 0 else "down")),
            )
        )
    return Explanation(sk_id_curr=int(body.get("sk_id_curr", 0)), contributions=rows)


def parse_similar(body: Mapping[str, Any]) -> SimilarGroup:
    items = [parse_client_row(i) for i in _require(body, "items", "the similar clients")]
    criteria = dict(body.get("criteria") or {})
    description = str(criteria.pop("description", "") or "")
    rate = body.get("approval_rate")
    return SimilarGroup(
        criteria={k: v for k, v in criteria.items() if v is not None},
        description=description,
        count=int(body.get("count", len(items))),
        approval_rate=None if rate is None else float(rate),
        items=items,
    )


def parse_population(body: Mapping[str, Any]) -> Population:
    hist = _require(body, "histogram", "the population")
    edges = [float(e) for e in _require(hist, "edges", "the population histogram")]
    counts = [int(c) for c in _require(hist, "counts", "the population histogram")]
    if len(edges) != len(counts) + 1:
        raise ApiError("The scoring service sent a malformed histogram (edges and counts differ).")
    raw_quantiles = body.get("quantiles") or {}
    quantiles = {str(k): float(v) for k, v in raw_quantiles.items() if v is not None}
    feature = str(_require(body, "feature", "the population"))
    levels = body.get("levels")
    return Population(
        feature=feature,
        label=str(body.get("label") or feature),
        kind=str(body.get("kind", "numeric")),
        group=str(body.get("group", "all")),
        n=int(body.get("n", sum(counts))),
        n_missing=int(body.get("n_missing", 0)),
        edges=edges,
        counts=counts,
        levels=None if levels is None else [str(v) for v in levels],
        quantiles=quantiles,
        client_value=body.get("client_value"),
        client_percentile=_share(body.get("client_percentile")),
    )


def parse_features(body: Any) -> list[FeatureInfo]:
    items = body.get("features", body.get("items")) if isinstance(body, Mapping) else body
    if not isinstance(items, list):
        raise ApiError("The scoring service sent an unexpected answer for the feature list.")
    return [
        FeatureInfo(
            name=str(i["name"]),
            label=str(i.get("label") or i["name"]),
            kind=str(i.get("kind", "numeric")),
            levels=None if i.get("levels") is None else [str(v) for v in i["levels"]],
            importance_rank=None if i.get("importance_rank") is None else int(i["importance_rank"]),
        )
        for i in items
    ]


def _json_type(spec: Mapping[str, Any]) -> str:
    """``integer``, ``number``, ``string`` (enums included) or ``unknown`` for one property."""
    options = spec.get("anyOf") or spec.get("oneOf") or [spec]
    for option in options:
        kind = option.get("type")
        if kind in {"integer", "number", "string"}:
            return str(kind)
        if "enum" in option:
            return "string"
    return "unknown"


# --------------------------------------------------------------------------------------------
# Transport
# --------------------------------------------------------------------------------------------
def _detail(response: httpx.Response) -> str:
    """The API's own explanation of a 4xx: its sentence and the faulty fields, if any.

    The API answers ``{"detail": ..., "errors": [{"field", "reason", "source"}]}``; Litestar's
    default error body uses ``extra`` instead, also understood here.
    """
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, Mapping):
        return ""
    detail = str(body.get("detail") or body.get("message") or "")
    fields = body.get("errors") or body.get("extra") or []
    parts = []
    if isinstance(fields, list):
        for item in fields:
            if isinstance(item, Mapping):
                name = item.get("field") or item.get("key") or ""
                reason = item.get("reason") or item.get("message") or ""
                parts.append(f"{name}: {reason}" if name else str(reason))
    if parts:
        return f"{detail} ({'; '.join(parts)})" if detail else "; ".join(parts)
    return detail


class ApiClient:
    """Typed access to the scoring API. One instance per base URL, reused across reruns."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        what: str,
    ) -> Any:
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            response = self._http.request(method, path, params=clean, json=json)
        except httpx.TimeoutException as exc:
            raise ApiError(
                f"The scoring service at {self.base_url} took too long to answer for {what}. "
                "Please try again in a moment."
            ) from exc
        except httpx.HTTPError as exc:
            raise ApiError(
                f"The scoring service cannot be reached at {self.base_url}. Check that it is "
                "running (`make api`) and that API_URL points to it, then reload the page."
            ) from exc
        status = response.status_code
        if status == 404:
            detail = _detail(response)
            raise ClientNotFoundError(
                f"Not found: {what}." + (f" {detail}" if detail else ""), status
            )
        if status == 503:
            raise ApiError(
                "The scoring service is starting or has no model loaded yet. "
                "Please try again in a moment.",
                status,
            )
        if 400 <= status < 500:
            detail = _detail(response) or response.reason_phrase
            raise ApiError(f"The scoring service refused the request for {what}: {detail}", status)
        if status >= 500:
            raise ApiError(
                f"The scoring service failed while answering for {what} (error {status}). "
                "The team has been notified through the service logs.",
                status,
            )
        try:
            return response.json()
        except ValueError as exc:
            raise ApiError(
                f"The scoring service sent an answer that is not JSON for {what}."
            ) from exc

    # -- endpoints ------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        body = self._request("GET", "/health", what="the health check")
        return dict(body) if isinstance(body, Mapping) else {"status": body}

    def model(self) -> ModelInfo:
        return parse_model_info(self._request("GET", "/v1/model", what="the model"))

    def clients(self, filters: Mapping[str, Any], page: int = 1, page_size: int = 50) -> ClientPage:
        params = {**filters, "page": page, "page_size": page_size}
        body = self._request("GET", "/v1/clients", params=params, what="the client list")
        return parse_client_page(body)

    def iter_clients(
        self, filters: Mapping[str, Any], limit: int, page_size: int = 200
    ) -> Iterator[ClientRow]:
        """Up to ``limit`` clients across pages (the scatter needs more than one page).

        The page size stays constant across pages (the API pages by offset = (page-1)·size);
        the last page is cut at ``limit`` here.
        """
        page, seen = 1, 0
        size = min(page_size, limit)
        while seen < limit:
            result = self.clients(filters, page=page, page_size=size)
            for row in result.items:
                yield row
                seen += 1
                if seen >= limit:
                    return
            if not result.items or page * result.page_size >= result.total:
                return
            page += 1

    def client(self, sk_id_curr: int) -> ClientDetail:
        """A known client. ``reasons=always``: an approved client's top risk factors are shown
        too (the API gives reason codes only for refusals by default)."""
        body = self._request(
            "GET",
            f"/v1/clients/{sk_id_curr}",
            params={"reasons": "always"},
            what=f"client {sk_id_curr}",
        )
        return parse_client_detail(body)

    def explanation(self, sk_id_curr: int) -> Explanation:
        body = self._request(
            "GET",
            f"/v1/clients/{sk_id_curr}/explanation",
            what=f"the explanation of client {sk_id_curr}",
        )
        return parse_explanation(body)

    def similar(self, sk_id_curr: int, size: int = 10) -> SimilarGroup:
        """The client's comparable group: criteria, size, approval rate and the ``size``
        members with the closest scores (the API lists at most 100)."""
        body = self._request(
            "GET",
            f"/v1/clients/{sk_id_curr}/similar",
            params={"size": size},
            what=f"the clients similar to {sk_id_curr}",
        )
        return parse_similar(body)

    def population(
        self, feature: str, group: str = "all", sk_id_curr: int | None = None
    ) -> Population:
        body = self._request(
            "GET",
            f"/v1/population/{feature}",
            params={"group": group, "sk_id_curr": sk_id_curr},
            what=f"the distribution of {feature}",
        )
        return parse_population(body)

    def features(self) -> list[FeatureInfo]:
        return parse_features(self._request("GET", "/v1/features", what="the feature list"))

    def score(self, application: Mapping[str, Any]) -> Score:
        """Score one raw application (Kaggle column names) without any credit history."""
        body = self._request(
            "POST", "/v1/score", json={"application": dict(application)}, what="the new score"
        )
        return parse_score(body)

    def application_fields(self) -> dict[str, str]:
        """Raw application fields ``POST /v1/score`` accepts, with their JSON type.

        Read from the API's own OpenAPI document (``Application`` component), so the what-if
        request is built from the contract the API enforces (unknown fields are refused, integer
        fields refuse ``2.0``) rather than from a copy of it in the dashboard.
        """
        doc = self._request("GET", "/schema/openapi.json", what="the API description")
        try:
            props = doc["components"]["schemas"]["Application"]["properties"]
        except (KeyError, TypeError) as exc:
            raise ApiError(
                "The scoring service's description has no 'Application' schema, so the "
                "what-if panel cannot build a request."
            ) from exc
        return {str(name): _json_type(spec) for name, spec in props.items()}
