"""Property-based tests of the whole API from its own OpenAPI document (schemathesis).

Schemathesis generates requests from ``/schema/openapi.json`` — valid ones and, for the
bodies, every corner of the generated JSON Schema (bounds, enums, nulls, huge numbers) — and
checks each answer: never a 5xx, status codes and bodies as documented, content types as
declared. At least 500 examples run (counted below, asserted by the last test).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.app import create_app
from api.service import NullEventSink
from api.settings import Settings

MIN_EXAMPLES = 500
PER_OPERATION = 45
CALLS: list[int] = []


@pytest.fixture(scope="module")
def api_schema(bundle_dir: Path) -> Iterator[schemathesis.schemas.BaseSchema]:
    app = create_app(
        events=NullEventSink(), settings=Settings(bundle_dir=bundle_dir, log_requests=False)
    )
    yield schemathesis.openapi.from_asgi("/schema/openapi.json", app)
    shutdown_lifespans()


#: Operations with inputs get valid and invalid data; the others only valid requests.
WITH_INPUTS: list[tuple[str, str]] = [
    ("POST", "/v1/score"),
    ("POST", "/v1/score/batch"),
    ("GET", "/v1/clients"),
    ("GET", "/v1/clients/{sk_id_curr}"),
    ("GET", "/v1/clients/{sk_id_curr}/explanation"),
    ("GET", "/v1/clients/{sk_id_curr}/similar"),
    ("GET", "/v1/population/{feature}"),
]
WITHOUT_INPUTS: list[tuple[str, str]] = [
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/v1/features"),
    ("GET", "/v1/model"),
    ("GET", "/metrics"),
]
OPERATIONS = WITH_INPUTS + WITHOUT_INPUTS
CASES = [
    *((m, p, GenerationMode.POSITIVE) for m, p in OPERATIONS),
    *((m, p, GenerationMode.NEGATIVE) for m, p in WITH_INPUTS),
]


def test_every_operation_is_covered(api_schema: schemathesis.schemas.BaseSchema) -> None:
    documented = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert documented == set(OPERATIONS)


@pytest.mark.parametrize(
    ("method", "path", "mode"), CASES, ids=[f"{m} {p} {g.value}" for m, p, g in CASES]
)
def test_api_answers_as_documented(
    api_schema: schemathesis.schemas.BaseSchema, method: str, path: str, mode: GenerationMode
) -> None:
    """No 5xx; documented status codes, bodies and content types; invalid data gets a 4xx."""
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],
        derandomize=True,
        database=None,
    )
    def run(case: schemathesis.Case) -> None:
        CALLS.append(1)
        # A cross-parameter rule the schema cannot express (group=similar needs sk_id_curr) is
        # answered 422 with the field named; every other check still applies to that route.
        cross_rule = (
            path.startswith("/v1/population")
            and case.query
            and (case.query.get("group") == "similar" and case.query.get("sk_id_curr") is None)
        )
        excluded = [positive_data_acceptance] if cross_rule else []
        case.call_and_validate(excluded_checks=excluded)

    run()


def test_enough_examples_ran() -> None:
    if not CALLS:
        pytest.skip("the schemathesis tests did not run (deselected or skipped)")
    print(f"schemathesis examples run: {len(CALLS)}")
    assert len(CALLS) >= MIN_EXAMPLES
