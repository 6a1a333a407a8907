"""The officer's journey in a real Chromium, against the real API on a test bundle.

Each test asserts what an officer (or a screen-reader user) would notice: the decision sentence
with the API's numbers, the reasons, the charts actually drawn with a text alternative, the
comparison and what-if answers, the page title, no serious accessibility violation, and a page
that still works at 200 % zoom. Screenshots for docs/dashboard.md are written along the way
(``UPDATE_SCREENSHOTS=1`` also copies them to docs/screenshots/).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from dashboard.formatting import decision_sentence, format_percent
from dashboard.labels import feature_label
from tests.browser.servers import REPO_ROOT, Server, free_port, start_dashboard

PAGE_TITLE = "Credit decision explainer · Prêt à dépenser"
SENTENCE = re.compile(
    r"Loan (approved|refused): estimated risk \d+(\.\d+)?\s%, (above|below|at) our "
    r"\d+(\.\d+)?\s% limit"
)
ARTIFACTS = REPO_ROOT / "tests" / ".artifacts" / "screenshots"
DOCS_SHOTS = REPO_ROOT / "docs" / "screenshots"
MAX_SHOT_BYTES = 300_000
#: Serious and critical axe-core findings fail the audit (moderate/minor are reported only).
BLOCKING_IMPACTS = {"serious", "critical"}
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

pytestmark = pytest.mark.timeout(240)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
def plain(text: str) -> str:
    return text.replace("\u00a0", " ")


def section(page: Page, name: str) -> Locator:
    """A page section by its container key (``st.container(key="section-...")``)."""
    return page.locator(f".st-key-section-{name}")


def charts_in(scope: Locator) -> Locator:
    """Drawn Vega-Lite charts that carry an accessible name (the text alternative)."""
    return scope.locator('[data-testid="stVegaLiteChart"][aria-label] svg.marks')


def open_client(page: Page, base_url: str, sk_id: int) -> None:
    """Type the id in the search box, as an officer would, and press Enter."""
    page.goto(base_url)
    box = page.get_by_role("textbox", name="Client id (SK_ID_CURR)")
    expect(box).to_be_visible(timeout=60_000)
    box.fill(str(sk_id))
    box.press("Enter")
    expect(page.get_by_role("heading", name=f"2. Decision for client {sk_id}")).to_be_visible(
        timeout=60_000
    )
    wait_until_idle(page)


def wait_until_idle(page: Page) -> None:
    """Wait for the script run to finish: the last section is drawn and "Running…" is gone.

    Typing into a widget while a run is still drawing the page can land in an element that the
    run then replaces, and the keystrokes are lost.
    """
    expect(
        section(page, "what-if").get_by_role("button", name="Score again with these amounts")
    ).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=60_000)


def assert_no_app_error(page: Page) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    if exceptions.count():
        pytest.fail(f"the app raised:\n{exceptions.first.inner_text()}", pytrace=False)


def save_shot(target: Page | Locator, name: str) -> Path:
    """Screenshot to tests/.artifacts (and docs/screenshots with UPDATE_SCREENSHOTS=1).

    A section taller than the window is shot in a window made tall enough for it (Streamlit
    scrolls inside its own container, so parts outside the window would come out blank), with
    the fixed top bar hidden. Saved as a 256-colour PNG: charts and text lose nothing visible
    and every file stays well under 300 KB, so the README's images stay light in git.
    """
    from PIL import Image

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    hide_bar = '[data-testid="stHeader"] { display: none !important; }'
    if isinstance(target, Page):
        target.screenshot(path=str(path), animations="disabled")
    else:
        page = target.page
        before = page.viewport_size
        box = target.bounding_box()
        if before is not None and box is not None and box["height"] + 120 > before["height"]:
            page.set_viewport_size(
                {"width": before["width"], "height": int(min(box["height"] + 120, 4000))}
            )
        try:
            target.scroll_into_view_if_needed()
            page.wait_for_timeout(300)  # let Vega redraw after the resize
            target.screenshot(path=str(path), animations="disabled", style=hide_bar)
        finally:
            if before is not None:
                page.set_viewport_size(before)
    with Image.open(path) as img:
        img.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
            path, optimize=True
        )
    size = path.stat().st_size
    assert size < MAX_SHOT_BYTES, f"{name} is {size} bytes"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SHOTS / name)
    return path


def pick(page: Page, label: str, option: str) -> None:
    """Choose ``option`` in the Streamlit select box labelled ``label``."""
    page.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()


# --------------------------------------------------------------------------------------------
# The journey
# --------------------------------------------------------------------------------------------
def test_page_title_names_the_tool(page: Page, dashboard_url: str) -> None:
    page.goto(dashboard_url)
    expect(page.get_by_role("heading", name="Credit decision explainer", level=1)).to_be_visible(
        timeout=60_000
    )
    expect(page).to_have_title(PAGE_TITLE)
    expect(page.get_by_text("Enter a client id above")).to_be_visible()


def test_search_by_id_shows_score_reasons_and_charts(
    page: Page, dashboard_url: str, refused_client: dict[str, Any]
) -> None:
    sk_id = refused_client["sk_id_curr"]
    score = refused_client["score"]
    open_client(page, dashboard_url, sk_id)
    expect(page).to_have_title(PAGE_TITLE)

    # the decision, in words, with the API's own numbers
    decision = section(page, "decision")
    expected = decision_sentence(score["probability"], score["threshold"], score["decision"])
    heading = decision.get_by_role("heading", name=re.compile("Loan refused"))
    expect(heading).to_contain_text(expected)
    assert SENTENCE.search(plain(heading.inner_text()))
    expect(decision.get_by_text(format_percent(score["threshold"]), exact=True)).to_be_visible()
    # the gauge is drawn and its text alternative repeats the decision
    gauge = decision.locator('[data-testid="stVegaLiteChart"][aria-label]')
    expect(charts_in(decision)).to_have_count(1)
    assert expected in (gauge.get_attribute("aria-label") or "")
    save_shot(decision, "02-decision.png")

    # the reasons: one line per reason code, each with its direction in words
    reasons = section(page, "reasons")
    items = reasons.locator("ol li")
    codes = score["reason_codes"]
    assert codes, "a refused client has reason codes"
    expect(items).to_have_count(len(codes))
    for item, code in zip(items.all(), codes, strict=True):
        expect(item).to_contain_text(feature_label(code["feature"], code["label"]))
        expect(item).to_contain_text("raises the risk")
    expect(reasons.get_by_text("What works in the client's favour")).to_be_visible()
    expect(charts_in(reasons)).to_have_count(1)
    save_shot(reasons, "03-reasons.png")

    # the comparison: a distribution with the client marked, a scatter with decisions
    compare = section(page, "compare")
    expect(charts_in(compare)).to_have_count(2)
    expect(compare.locator("svg text", has_text="This client")).to_have_count(2)
    expect(compare.get_by_text(re.compile(r"All clients: \d+ shown, \d+ refused"))).to_be_visible()
    expect(compare.get_by_text(re.compile(r"higher than \d+\s% of all clients"))).to_be_visible()
    assert_no_app_error(page)
    save_shot(compare, "05-compare.png")


def test_client_information_can_be_filtered(
    page: Page, dashboard_url: str, refused_client: dict[str, Any]
) -> None:
    open_client(page, dashboard_url, refused_client["sk_id_curr"])
    info = section(page, "info")
    rows = info.locator('[data-testid="stTable"] tbody tr')
    expect(rows.first).to_be_visible()
    before = rows.count()
    assert before >= 10
    search = info.get_by_role("textbox", name="Filter the information")
    search.fill("income")
    search.press("Enter")
    expect(search).to_have_value("income")
    expect(rows).not_to_have_count(before, timeout=15_000)
    texts = [plain(r.inner_text()).lower() for r in rows.all()]
    assert texts and all("income" in t for t in texts), texts
    income = refused_client["info"]["income"]
    expect(info.locator("tbody")).to_contain_text(f"{income:,.0f}")
    save_shot(info, "04-client-info.png")


def test_search_by_criteria_lists_matching_clients_and_opens_one(
    page: Page, dashboard_url: str, api_url: str
) -> None:
    page.goto(dashboard_url)
    page.get_by_role("tab", name="By criteria").click()
    pick(page, "Decision", "refused")
    pick(page, "Contract type", "Cash loans")
    page.get_by_role("button", name="Search clients").click()
    expected = httpx.get(
        f"{api_url}/v1/clients",
        params={"decision": "refused", "contract_type": "Cash loans", "page_size": 15},
        timeout=10,
    ).json()
    find = section(page, "find")
    expect(find.get_by_text(f"{expected['total']:,} matching clients")).to_be_visible()
    rows = find.locator('[data-testid="stTable"] tbody tr')
    expect(rows).to_have_count(len(expected["items"]))
    for row in rows.all():
        expect(row).to_contain_text("refused")
        expect(row).to_contain_text("Cash loans")
    save_shot(find, "01-find-by-criteria.png")
    first = expected["items"][0]["sk_id_curr"]
    page.get_by_role("button", name="Open this client").click()
    expect(page.get_by_role("heading", name=f"2. Decision for client {first}")).to_be_visible()
    expect(section(page, "decision").get_by_role("heading", name=SENTENCE)).to_be_visible()
    expect(page).to_have_url(re.compile(rf"[?&]client={first}\b"))


def test_comparison_with_similar_clients(
    page: Page, dashboard_url: str, api_url: str, refused_client: dict[str, Any]
) -> None:
    sk_id = refused_client["sk_id_curr"]
    open_client(page, dashboard_url, sk_id)
    compare = section(page, "compare")
    compare.get_by_text("Similar clients", exact=True).click()
    group = httpx.get(f"{api_url}/v1/clients/{sk_id}/similar", timeout=10).json()
    # the group's definition line ("Similar clients: <bands> — N clients."), not the scatter
    # summary that also starts with "Similar clients:"
    definition = compare.locator("p", has_text=re.compile(r"^Similar clients:.* — "))
    expect(definition).to_contain_text(f"{group['count']:,} clients")
    expect(
        compare.get_by_text(re.compile(r"higher than \d+\s% of similar clients"))
    ).to_be_visible()
    # every member of the group is on the scatter (the client itself is the black diamond)
    expect(compare.get_by_text(f"Similar clients: {group['count']:,} shown")).to_be_visible()
    expect(charts_in(compare)).to_have_count(2)
    assert_no_app_error(page)


def test_what_if_rescores_through_the_api(
    page: Page, dashboard_url: str, refused_client: dict[str, Any]
) -> None:
    sk_id = refused_client["sk_id_curr"]
    open_client(page, dashboard_url, sk_id)
    what_if = section(page, "what-if")
    income = refused_client["info"]["income"]
    what_if.get_by_role("spinbutton", name="Annual income").fill(str(round(income * 3)))
    what_if.get_by_role("spinbutton", name="Credit amount").fill("50000")
    what_if.get_by_role("button", name="Score again with these amounts").click()
    result = page.locator(".st-key-what-if-result")
    expect(result.get_by_role("heading", name=SENTENCE)).to_be_visible()
    expect(result).to_contain_text(re.compile(r"Risk (goes from|stays at)"))
    expect(result).to_contain_text(f"annual income of {round(income * 3):,}")
    assert_no_app_error(page)
    save_shot(what_if, "06-what-if.png")


def test_unknown_and_malformed_ids_get_a_clear_message(page: Page, dashboard_url: str) -> None:
    page.goto(dashboard_url)
    box = page.get_by_role("textbox", name="Client id (SK_ID_CURR)")
    expect(box).to_be_visible(timeout=60_000)
    box.fill("999999999")
    box.press("Enter")
    expect(page.get_by_text("No client with id 999999999 in our records")).to_be_visible()
    box.fill("12ab")
    box.press("Enter")
    expect(page.get_by_text("is not a client id")).to_be_visible()
    assert_no_app_error(page)


# --------------------------------------------------------------------------------------------
# Accessibility
# --------------------------------------------------------------------------------------------
def test_axe_finds_no_serious_or_critical_violation(
    page: Page, dashboard_url: str, refused_client: dict[str, Any]
) -> None:
    from axe_playwright_python.sync_playwright import Axe

    open_client(page, dashboard_url, refused_client["sk_id_curr"])
    expect(charts_in(page.locator("body"))).to_have_count(4)
    # the hidden-by-default parts count too: open the criteria tab and the data tables
    page.get_by_role("tab", name="By criteria").click()
    expect(section(page, "find").locator('[data-testid="stTable"]')).to_be_visible()
    for summary in page.locator('[data-testid="stExpander"] summary').all():
        summary.click()
    results = Axe().run(
        page,
        options={"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]},
    )
    blocking = [v for v in results.response["violations"] if v["impact"] in BLOCKING_IMPACTS]
    assert not blocking, results.generate_report()


def test_usable_at_200_percent_zoom(
    browser: Any, dashboard_url: str, refused_client: dict[str, Any]
) -> None:
    """200 % zoom of a 1280×900 window = a 640×450 CSS-pixel viewport at device scale 2."""
    context = browser.new_context(
        viewport={"width": 640, "height": 450}, device_scale_factor=2, locale="en-GB"
    )
    try:
        page = context.new_page()
        sk_id = refused_client["sk_id_curr"]
        page.goto(f"{dashboard_url}/?client={sk_id}")
        heading = section(page, "decision").get_by_role("heading", name=SENTENCE)
        expect(heading).to_be_visible(timeout=60_000)
        heading.scroll_into_view_if_needed()
        box = heading.bounding_box()
        assert box is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= 640, box  # read without h-scroll
        overflow = page.evaluate(
            """() => [document.documentElement, document.querySelector('[data-testid="stMain"]')]
                .filter(Boolean).map(e => e.scrollWidth - e.clientWidth)"""
        )
        assert max(overflow) <= 1, f"horizontal scrolling needed: {overflow}"
        for name in ("find", "decision", "reasons", "info", "compare", "what-if"):
            expect(section(page, name)).to_be_attached()
        gauge = charts_in(section(page, "decision"))
        expect(gauge).to_be_visible()
        gauge_box = gauge.bounding_box()
        assert gauge_box is not None and gauge_box["x"] + gauge_box["width"] <= 640
        expect(page.get_by_role("textbox", name="Client id (SK_ID_CURR)")).to_be_attached()
        section(page, "decision").evaluate("e => e.scrollIntoView({block: 'start'})")
        save_shot(page, "07-zoom-200.png")
    finally:
        context.close()


# --------------------------------------------------------------------------------------------
# The API is down
# --------------------------------------------------------------------------------------------
@pytest.fixture
def dashboard_without_api(chromium_path: str, tmp_path: Path) -> Any:
    """A second dashboard pointed at a port where nothing listens (stopped after the test)."""
    server: Server = start_dashboard(f"http://127.0.0.1:{free_port()}", tmp_path)
    try:
        server.wait_ready("/_stcore/health")
        yield server
    finally:
        server.stop()


def test_api_down_gives_a_message_not_a_traceback(
    page: Page, dashboard_without_api: Server
) -> None:
    page.goto(dashboard_without_api.url)
    alert = page.get_by_text("The scoring service cannot be reached")
    expect(alert).to_be_visible(timeout=60_000)
    expect(alert).to_contain_text("make api")
    assert_no_app_error(page)
    expect(page.get_by_text("Traceback")).to_have_count(0)
