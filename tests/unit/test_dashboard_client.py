"""The dashboard's API client: what the officer reads when the API is down or says no."""

from __future__ import annotations

import socket
from collections.abc import Callable

import httpx
import pytest

from dashboard.client import ApiClient, ApiError, ClientNotFoundError, api_url_from_env


def client_answering(handler: Callable[[httpx.Request], httpx.Response]) -> ApiClient:
    return ApiClient("http://api.test", transport=httpx.MockTransport(handler))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_api_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_URL", "http://10.0.0.5:9000/")
    assert api_url_from_env() == "http://10.0.0.5:9000"
    monkeypatch.delenv("API_URL")
    assert api_url_from_env() == "http://127.0.0.1:8000"


def test_api_down_says_where_and_what_to_do() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    api = ApiClient(url)
    with pytest.raises(ApiError) as err:
        api.model()
    assert url in err.value.message
    assert "cannot be reached" in err.value.message
    assert "Traceback" not in err.value.message


def test_timeout_is_reported_as_slow_not_as_down() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(ApiError, match="took too long"):
        client_answering(slow).client(100001)


def test_unknown_client_is_a_not_found_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"status_code": 404, "detail": "unknown client 42"})

    with pytest.raises(ClientNotFoundError) as err:
        client_answering(handler).client(42)
    assert err.value.status_code == 404
    assert "client 42" in err.value.message


def test_rejected_request_shows_the_apis_reason() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400,
            json={
                "status_code": 400,
                "detail": "Validation failed for POST /v1/score",
                "extra": [{"key": "AMT_CREDIT", "message": "Expected `float`, got `str`"}],
            },
        )

    with pytest.raises(ApiError) as err:
        client_answering(handler).score({"AMT_CREDIT": "a lot"})
    assert "AMT_CREDIT" in err.value.message
    assert err.value.status_code == 400


def test_model_not_loaded_asks_to_retry() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"detail": "model not loaded"})

    with pytest.raises(ApiError, match="try again"):
        client_answering(handler).model()


def test_server_error_does_not_leak_the_body() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, text="Traceback (most recent call last): secret")

    with pytest.raises(ApiError) as err:
        client_answering(handler).explanation(1)
    assert "secret" not in err.value.message
    assert "500" in err.value.message


def test_empty_filters_are_not_sent() -> None:
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200, json={"items": [], "total": 0, "page": 1, "page_size": 20})

    client_answering(handler).clients({"decision": "refused", "gender": None, "income_band": ""})
    assert seen[0].params["decision"] == "refused"
    assert "gender" not in seen[0].params
    assert "income_band" not in seen[0].params


def test_iter_clients_walks_pages_until_the_limit() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        size = int(request.url.params["page_size"])
        start = (page - 1) * size
        items = [
            {"sk_id_curr": i, "probability": 0.1, "decision": "approved"}
            for i in range(start, min(start + size, 7))
        ]
        return httpx.Response(
            200, json={"items": items, "total": 7, "page": page, "page_size": size}
        )

    api = client_answering(handler)
    assert [r.sk_id_curr for r in api.iter_clients({}, limit=5, page_size=3)] == [0, 1, 2, 3, 4]
    assert len(list(api.iter_clients({}, limit=100, page_size=3))) == 7


def test_unexpected_answer_is_named() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"threshold": 0.1})

    with pytest.raises(ApiError, match="unexpected answer for the model"):
        client_answering(handler).model()
