"""Browser tests: Playwright (sync API) driving Debian's chromium against pytest-django's live_server.

Mark browser tests with @pytest.mark.e2e. Without /usr/bin/chromium they are skipped,
unless REQUIRE_SERVICES=1, where a missing browser fails the run. Screenshots go to
tests/e2e/screenshots/ (git-ignored).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings
from playwright.sync_api import sync_playwright

# Playwright's sync API runs an event loop in this thread; Django's async-unsafe guard would
# then refuse ORM calls made by the test itself (fixtures, force_login).
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).parent / "screenshots"
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        message = f"needs chromium at {CHROMIUM} (apt-get install -y chromium)"
        if REQUIRE_SERVICES:
            pytest.fail(f"required service missing: {message}")
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    """A fresh browser context (no cookies) with its base URL at the live server."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def login(live_server, client):
    """login(page, user): put a real Django session for `user` into the page's browser context."""

    def do_login(page, user) -> None:
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        page.context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url, "httpOnly": True}]
        )

    return do_login


@pytest.fixture
def screenshot():
    """screenshot(page, name): full-page PNG under tests/e2e/screenshots/; returns its path."""

    def take(page, name: str) -> Path:
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


# axe-core impacts that fail a page (docs/frontend.md): "minor" and "moderate" are reported, not failed.
AXE_FAILING_IMPACTS = ("serious", "critical")


@pytest.fixture(scope="session")
def _axe():
    return Axe()


@pytest.fixture
def axe_check(_axe):
    """axe_check(page, name=None): run axe-core (axe-playwright-python) on the page as it is now.

    Fails on any serious or critical violation, listing rule, impact, help and the first offending elements.
    With a `name`, the full result (every violation, any impact) is written to
    tests/e2e/screenshots/axe-<name>.json. Returns the violations (all impacts).
    """

    def check(page, name: str | None = None) -> list[dict]:
        results = _axe.run(page, options={"resultTypes": ["violations"]})
        violations = results.response["violations"]
        if name:
            SCREENSHOTS.mkdir(exist_ok=True)
            summary = [
                {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]]}
                for v in violations
            ]
            (SCREENSHOTS / f"axe-{name}.json").write_text(
                json.dumps({"url": page.url, "violations": summary}, indent=1)
            )
        failing = [v for v in violations if v["impact"] in AXE_FAILING_IMPACTS]
        report = "\n".join(
            f"- {v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes'][:3]]}" for v in failing
        )
        assert not failing, f"axe: {len(failing)} serious/critical violation(s) on {page.url}:\n{report}"
        return violations

    return check
