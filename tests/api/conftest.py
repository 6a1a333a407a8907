"""Fixtures of the API tests: one real test bundle per session, one started app per module.

The bundle is trained on data the project's own generator, ingest and feature code produce
(tests/support/bundle_factory.py; the real Kaggle rows when the generator is missing); where
neither is available the API tests skip, saying so.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api.app import create_app
from api.settings import Settings
from scoring.bundle import Bundle, load_bundle
from scoring.events import EventStore
from tests.support.bundle_factory import TestDataUnavailable, cached_test_bundle
from tests.support.payloads import client_request

N_CLIENTS = 300


@pytest.fixture(scope="session")
def bundle_dir() -> Path:
    try:
        return cached_test_bundle(n_clients=N_CLIENTS, seed=0)
    except TestDataUnavailable as exc:
        pytest.skip(f"API tests need a test bundle: {exc}")


@pytest.fixture(scope="session")
def bundle(bundle_dir: Path) -> Bundle:
    return load_bundle(bundle_dir)


@pytest.fixture(scope="session")
def clients_frame(bundle_dir: Path) -> pd.DataFrame:
    return pd.read_parquet(bundle_dir / "clients.parquet")


@pytest.fixture(scope="session")
def raw_test_rows(bundle_dir: Path) -> pd.DataFrame:
    """The raw application rows of the known clients (Kaggle columns), as the bundle saw them."""
    return pd.read_parquet(bundle_dir / "test_inputs" / "application_test.parquet")


@pytest.fixture(scope="session")
def request_for(bundle_dir: Path) -> Callable[[int], dict[str, Any]]:
    """``POST /v1/score`` body of a known client: raw application + all its history records."""
    return functools.partial(client_request, bundle_dir)


@pytest.fixture(scope="module")
def events() -> Iterator[EventStore]:
    """An in-memory event store (synchronous inserts: readable right after each request)."""
    store = EventStore.open("sqlite://")
    yield store
    store.close()


@pytest.fixture(scope="module")
def app(bundle_dir: Path, events: EventStore) -> Litestar:
    return create_app(events=events, settings=Settings(bundle_dir=bundle_dir, log_requests=False))


@pytest.fixture(scope="module")
def client(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app) as c:
        yield c
