"""Fixtures of the browser tier: the real API on a small real bundle, the dashboard on top of
it, and the system Chromium driven by Playwright.

Why real servers and not Streamlit's AppTest: the promises under test (the page title, what a
screen reader gets, layout at 200 % zoom, charts actually drawn) only exist in a browser, and the
dashboard's only data source is the API over HTTP.

Every process started here runs in its own process group and is stopped by the fixture that
started it (SIGTERM, then SIGKILL after a grace period), whatever the test outcome.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.servers import Server, base_env, free_port, start_dashboard, start_server

#: The system Chromium (Playwright's own browser download is not used); ``CHROMIUM_PATH``
#: points elsewhere on machines that install it under another name.
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Desktop viewport of the journey; 200 % zoom halves it in CSS pixels (see the zoom test).
VIEWPORT = {"width": 1280, "height": 900}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is a browser test (``-m "not browser"`` skips the tier)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The system Chromium; missing means FAIL under CI (never a silent skip), skip locally."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return str(CHROMIUM)
    message = (
        f"{CHROMIUM} not found: the browser tests need the system Chromium "
        "(`make browser-deps`, i.e. `apt-get install -y chromium`)"
    )
    if in_ci():
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


def build_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real bundle (LightGBM on real application rows, 300 known clients)."""
    from tests.support.bundle_factory import TestDataUnavailable, cached_test_bundle

    try:
        source = cached_test_bundle(n_clients=300)
    except TestDataUnavailable as exc:
        if in_ci():
            pytest.fail(f"no data to build the test bundle: {exc}", pytrace=False)
        pytest.skip(f"no data to build the test bundle: {exc}")
    target = tmp_path_factory.mktemp("browser") / "bundle"
    shutil.copytree(source, target)
    return target


@pytest.fixture(scope="session")
def servers(
    chromium_path: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    """(API, dashboard), stopped at the end of the session.

    The dashboard starts first (it needs only the API's future address), so its start-up
    overlaps the test bundle's training and the API's; together they take most of the tier's
    set-up time on two cores.
    """
    logs = tmp_path_factory.mktemp("server-logs")
    api_port = free_port()
    dashboard = start_dashboard(f"http://127.0.0.1:{api_port}", logs)
    api: Server | None = None
    try:
        bundle = build_bundle(tmp_path_factory)
        env = base_env()
        env.update({"BUNDLE_DIR": str(bundle), "EVENTS_URL": f"sqlite:///{logs / 'events.db'}"})
        api = start_server(
            "API",
            [sys.executable, "-m", "api", "--port", str(api_port), "--workers", "1", "--text-logs"],
            env,
            api_port,
            logs / "api.log",
        )
        api.wait_ready("/ready")
        dashboard.wait_ready("/_stcore/health")
        yield api, dashboard
    finally:
        dashboard.stop()
        if api is not None:
            api.stop()


@pytest.fixture(scope="session")
def api_url(servers: tuple[Server, Server]) -> str:
    return servers[0].url


@pytest.fixture(scope="session")
def dashboard_url(servers: tuple[Server, Server]) -> str:
    return servers[1].url


@pytest.fixture(scope="session")
def refused_client(api_url: str) -> dict[str, Any]:
    """A known refused client as the API describes it (score, reasons, profile)."""
    page = httpx.get(
        f"{api_url}/v1/clients", params={"decision": "refused", "page_size": 1}, timeout=10
    ).json()
    assert page["items"], "the test bundle has no refused client"
    sk_id = page["items"][0]["sk_id_curr"]
    body: dict[str, Any] = httpx.get(
        f"{api_url}/v1/clients/{sk_id}", params={"reasons": "always"}, timeout=10
    ).json()
    return body


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context per test (no shared session state), desktop size."""
    context = browser.new_context(viewport=VIEWPORT, locale="en-GB")
    context.set_default_timeout(30_000)
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()
