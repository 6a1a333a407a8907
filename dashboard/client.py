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
class ClientDetail:
    sk_id_curr: int
    score: Score
    info: dict[str, Any]
    summary: dict[str, Any] = field(default_factory=dict)


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
    items: list[ClientRow]


@dataclass(frozen=True)
class Population:
    feature: str
    label: str
    group: str
    n: int
    edges: list[float]
    counts: list[int]
    quantiles: dict[str, float]
    client_value: Any


@dataclass(frozen=True)
class FeatureInfo:
    name: str
    label: str
    kind: str


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


def parse_client_detail(body: Mapping[str, Any]) -> ClientDetail:
    score_body = body.get("score", body)
    info = body.get("info", body.get("application", body.get("features", {}))) or {}
    return ClientDetail(
        sk_id_curr=int(_require(body, "sk_id_curr", "the client")),
        score=parse_score(score_body),
        info=dict(info),
        summary=dict(body.get("summary") or {}),
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
    return SimilarGroup(criteria=dict(body.get("criteria") or {}), items=items)


def parse_population(body: Mapping[str, Any]) -> Population:
    hist = _require(body, "histogram", "the population")
    edges = [float(e) for e in _require(hist, "edges", "the population histogram")]
    counts = [int(c) for c in _require(hist, "counts", "the population histogram")]
    if len(edges) != len(counts) + 1:
        raise ApiError("The scoring service sent a malformed histogram (edges and counts differ).")
    raw_quantiles = body.get("quantiles") or {}
    quantiles = {str(k): float(v) for k, v in raw_quantiles.items() if v is not None}
    feature = str(_require(body, "feature", "the population"))
    return Population(
        feature=feature,
        label=str(body.get("label") or feature),
        group=str(body.get("group", "all")),
        n=int(body.get("n", sum(counts))),
        edges=edges,
        counts=counts,
        quantiles=quantiles,
        client_value=body.get("client_value"),
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
        )
        for i in items
    ]


# --------------------------------------------------------------------------------------------
# Transport
# --------------------------------------------------------------------------------------------
def _detail(response: httpx.Response) -> str:
    """The API's own explanation of a 4xx (Litestar puts it in ``detail``), if any."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, Mapping):
        detail = body.get("detail") or body.get("message") or ""
        extra = body.get("extra")
        if extra and isinstance(extra, list | dict):
            return f"{detail} ({extra})" if detail else str(extra)
        return str(detail)
    return ""


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
        body = self._request("GET", f"/v1/clients/{sk_id_curr}", what=f"client {sk_id_curr}")
        return parse_client_detail(body)

    def explanation(self, sk_id_curr: int) -> Explanation:
        body = self._request(
            "GET",
            f"/v1/clients/{sk_id_curr}/explanation",
            what=f"the explanation of client {sk_id_curr}",
        )
        return parse_explanation(body)

    def similar(self, sk_id_curr: int, limit: int = 200) -> SimilarGroup:
        body = self._request(
            "GET",
            f"/v1/clients/{sk_id_curr}/similar",
            params={"limit": limit},
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
        body = self._request("POST", "/v1/score", json=dict(application), what="the new score")
        return parse_score(body)
