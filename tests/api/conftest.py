"""Fixtures of the API tests: one real test bundle per session, one started app per module.

The bundle is trained on the real Kaggle application rows (tests/support/bundle_factory.py);
where those rows are absent the API tests skip, saying so.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api.app import create_app
from api.settings import Settings
from scoring.bundle import Bundle, load_bundle
from scoring.events import EventStore
from tests.support.bundle_factory import TestDataUnavailable, cached_test_bundle, real_data_dir

N_CLIENTS = 300


@pytest.fixture(scope="session")
def bundle_dir() -> Path:
    try:
        return cached_test_bundle(n_clients=N_CLIENTS, seed=0)
    except TestDataUnavailable as exc:
        pytest.skip(f"API tests need the real Kaggle rows: {exc}")


@pytest.fixture(scope="session")
def bundle(bundle_dir: Path) -> Bundle:
    return load_bundle(bundle_dir)


@pytest.fixture(scope="session")
def clients_frame(bundle_dir: Path) -> pd.DataFrame:
    return pd.read_parquet(bundle_dir / "clients.parquet")


@pytest.fixture(scope="session")
def raw_test_rows(clients_frame: pd.DataFrame) -> pd.DataFrame:
    """The real application_test rows of the known clients (raw Kaggle columns)."""
    frame = pd.read_csv(real_data_dir() / "application_test.csv.gz", nrows=5_000)
    rows = frame[frame["SK_ID_CURR"].isin(clients_frame["SK_ID_CURR"])]
    return rows.sort_values("SK_ID_CURR").reset_index(drop=True)


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
