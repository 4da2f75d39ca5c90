"""The dashboard in a real headless Chromium over a real local server.

Fails, rather than skips, when Chromium is missing: set
``STARPUNK_SKIP_BROWSER=1`` to skip it deliberately.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from metrics_store.store import MetricsStore
from tests.metrics_fixtures import make_app, seed_site

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path):
    store = MetricsStore(tmp_path / "metrics.db")
    seed_site(store, now=time.time(), minutes=300)
    app = make_app(store)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(timeout=10)
    httpd.server_close()
    store.close()


@pytest.fixture
def browser():
    if os.environ.get("STARPUNK_SKIP_BROWSER") == "1":
        pytest.skip("STARPUNK_SKIP_BROWSER=1")
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium package, or set "
            "STARPUNK_SKIP_BROWSER=1 to skip the browser test on purpose."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console {message.type}: {message.text}")
            if message.type == "error"
            else None
        ),
    )
    page.problems = problems
    yield page
    page.close()


def chart_summary(page) -> list[dict]:
    return page.eval_on_selector_all(
        "svg.chart",
        """charts => charts.map(svg => ({
            title: svg.getAttribute('aria-label'),
            empty: svg.hasAttribute('data-empty'),
            points: Array.from(svg.querySelectorAll('g.line'))
                .reduce((n, g) => n + Number(g.dataset.points), 0),
            drawn: Array.from(svg.querySelectorAll('g.line path'))
                .some(p => p.getAttribute('d').includes('L')),
        }))""",
    )


def assert_charts_drawn(page) -> None:
    charts = chart_summary(page)
    assert len(charts) == 8
    for chart in charts:
        assert not chart["empty"], f"chart {chart['title']!r} is empty"
        assert chart["points"] > 0 and chart["drawn"], chart


def test_dashboard_in_a_browser(server, page):
    ARTIFACTS.mkdir(exist_ok=True)

    page.goto(f"{server}/admin/metrics-dashboard")

    assert "/admin/metrics-dashboard" in page.url
    assert page.title() == "Metrics · StarPunk"
    assert_charts_drawn(page)
    page.screenshot(path=str(ARTIFACTS / "dashboard-24h.png"), full_page=True)

    latency = page.locator('[data-chart="latency"] svg.chart')
    box = latency.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] / 2)
    readout = page.locator('[data-chart="latency"] .readout')
    readout.wait_for(state="visible", timeout=5000)
    assert "p95" in readout.inner_text() and "UTC" in readout.inner_text()

    page.click("nav.ranges >> text=1h")
    page.wait_for_url("**range=1h**")
    assert page.locator("nav.ranges a.active").inner_text() == "1h"
    assert_charts_drawn(page)

    names = page.locator("#endpoints tbody td.name")
    busiest_first = names.all_inner_texts()
    page.click("#endpoints th:nth-child(1) button")
    assert names.all_inner_texts() == sorted(busiest_first)
    page.click("#endpoints th:nth-child(1) button")
    assert names.all_inner_texts() == sorted(busiest_first, reverse=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-1h.png"), full_page=True)

    page.click("#endpoints >> text=public.note")
    page.wait_for_url("**name=public.note**")
    assert page.locator("text=Breakdown by labels").is_visible()
    detail = chart_summary(page)
    assert detail and all(not c["empty"] and c["points"] > 0 for c in detail)
    page.screenshot(path=str(ARTIFACTS / "dashboard-endpoint.png"), full_page=True)

    assert page.problems == []


def test_custom_range_form_and_bad_input(server, page):
    page.goto(f"{server}/admin/login?next=/admin/metrics-dashboard?range=6h")
    page.click("details.custom summary")
    page.fill('input[name="from"]', "2001-01-01T00:00")
    page.fill('input[name="to"]', "2000-01-01T00:00")
    page.click("details.custom button[type=submit]")

    assert page.locator(".problem").is_visible()
    assert "from must be before to" in page.locator(".problem").inner_text()
    # The browser reports the page's own 400 status; nothing else may fail.
    unexpected = [p for p in page.problems if "status of 400" not in p]
    assert unexpected == []


def test_auto_refresh_keeps_the_chosen_sort(server, page, monkeypatch):
    from starpunk.monitoring import dashboard

    monkeypatch.setattr(dashboard, "REFRESH_SECONDS", 1)
    page.goto(f"{server}/admin/metrics-dashboard?range=1h")
    names = page.locator("#endpoints tbody td.name")
    page.click("#endpoints th:nth-child(1) button")
    by_name = names.all_inner_texts()
    assert by_name == sorted(by_name)
    updated = page.locator(".range-line .quiet").inner_text()

    page.check("#auto-refresh")
    page.wait_for_function(
        "text => document.querySelector('.range-line .quiet').innerText !== text",
        arg=updated,
        timeout=10_000,
    )

    assert names.all_inner_texts() == by_name
    head = page.locator("#endpoints th:nth-child(1)")
    assert head.get_attribute("aria-sort") == "ascending"
    assert page.problems == []
