"""The dashboard's API client: what the officer reads when the API is down or says no."""

from __future__ import annotations

import socket
from collections.abc import Callable

import httpx
import msgspec
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


# --------------------------------------------------------------------------------------------
# Contract: what the API's own response schemas produce, the dashboard reads correctly.
# --------------------------------------------------------------------------------------------
def serving(routes: dict[str, object]) -> ApiClient:
    """An API client whose transport answers each path with a msgspec-encoded API struct."""

    def handler(request: httpx.Request) -> httpx.Response:
        body = routes.get(request.url.path)
        if body is None:
            return httpx.Response(404, json={"detail": "no route"})
        return httpx.Response(
            200, content=msgspec.json.encode(body), headers={"content-type": "application/json"}
        )

    return client_answering(handler)


def test_client_response_of_the_api_is_read_in_full() -> None:
    from api import schemas as s

    row = s.ReasonCode(feature="EXT_SOURCE_3", label="Ext", value=0.21, contribution=0.4)
    body = s.ClientResponse(
        request_id="r",
        sk_id_curr=100001,
        score=s.ClientScore(
            probability=0.23,
            threshold=0.095,
            decision="refused",
            reason_codes=[row],
            attribution="path",
            model_version="abc",
        ),
        info=s.ClientInfo(
            contract_type="Cash loans",
            gender="F",
            age_years=41.0,
            age_band="40_49",
            income=180000.0,
            income_band="150k_225k",
            credit=500000.0,
            annuity=25000.0,
            goods_price=450000.0,
            income_type="Working",
            education="Higher education",
            family_status="Married",
            housing_type="House / apartment",
            occupation=None,
            organization="Self-employed",
            children=1,
            years_employed=3.5,
            owns_car="N",
            owns_realty="Y",
        ),
        features=[
            s.FeatureSummary(
                feature="EXT_SOURCE_3",
                label="Ext",
                kind="numeric",
                value=0.21,
                population_median=0.5,
                population_percentile=12.5,
            )
        ],
    )
    detail = serving({"/v1/clients/100001": body}).client(100001)
    assert detail.score.decision == "refused"
    assert detail.score.reasons[0].feature == "EXT_SOURCE_3"
    assert detail.info["income_band"] == "150k_225k"
    assert detail.features[0].population_percentile == pytest.approx(0.125)  # 0–100 → share


def test_population_and_similar_responses_of_the_api() -> None:
    from api import schemas as s

    criteria = s.GroupCriteria(
        age_band="40_49", income_band="150k_225k", contract_type="Cash loans", description="same"
    )
    population = s.PopulationResponse(
        feature="AMT_CREDIT",
        label="Credit",
        kind="numeric",
        group="similar",
        criteria=criteria,
        n=10,
        n_missing=1,
        histogram=s.Histogram(edges=[0.0, 1.0, 2.0], counts=[4, 6]),
        levels=None,
        quantiles={"p50": 1.2},
        mean=1.1,
        sk_id_curr=100001,
        client_value=1.5,
        client_percentile=70.0,
    )
    item = s.ClientRow(
        sk_id_curr=100002,
        contract_type="Cash loans",
        gender="M",
        age_years=44.0,
        age_band="40_49",
        income=200000.0,
        income_band="150k_225k",
        credit=300000.0,
        probability=0.05,
        decision="approved",
    )
    similar = s.SimilarResponse(
        sk_id_curr=100001,
        criteria=criteria,
        count=1,
        approval_rate=1.0,
        mean_probability=0.05,
        features=[],
        items=[item],
    )
    api = serving({"/v1/population/AMT_CREDIT": population, "/v1/clients/100001/similar": similar})
    pop = api.population("AMT_CREDIT", group="similar", sk_id_curr=100001)
    assert pop.counts == [4, 6] and pop.client_value == 1.5
    assert pop.client_percentile == pytest.approx(0.7)
    assert pop.quantiles["p50"] == 1.2
    group = api.similar(100001)
    assert group.description == "same"
    assert group.criteria == {
        "age_band": "40_49",
        "income_band": "150k_225k",
        "contract_type": "Cash loans",
    }
    assert group.items[0].decision == "approved"


def test_api_error_body_names_the_field() -> None:
    from api import schemas as s

    body = s.ErrorBody(
        status_code=422,
        error="invalid_field",
        detail="The request has an invalid field.",
        errors=[s.FieldError(field="application.AMT_CREDIT", reason="must be >= 0", source="body")],
        request_id="r",
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, content=msgspec.json.encode(body))

    with pytest.raises(ApiError) as err:
        client_answering(handler).score({"AMT_CREDIT": -1})
    assert "application.AMT_CREDIT: must be >= 0" in err.value.message
