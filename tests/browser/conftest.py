"""Browser tests: Playwright driving Debian's Chromium (never `playwright install`), against live_server.

Needs /usr/bin/chromium (or KESU_CHROMIUM), a CJK font (fonts-noto-cjk or fonts-wqy-microhei) for
readable screenshots, and the `playwright` Python package. Tests are skipped when Chromium is absent.
Screenshots (1366×768) go to tests/browser/screenshots/ (git-ignored).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.core.cache import cache

# Playwright's sync API runs an event loop in this thread; the ORM calls of the test body are still
# synchronous and safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("KESU_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).parent / "screenshots"
PASSWORD = "kesu-test-pass-1"
VIEWPORT = {"width": 1366, "height": 768}
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def borg(transactional_db):
    from tests import factories

    cache.clear()
    yield factories.org()
    cache.clear()


class Session:
    """One person's browser context, logged in through the login page."""

    def __init__(self, browser, base_url: str):
        self.context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", base_url=base_url)
        self.context.set_default_timeout(15000)
        self.page = self.context.new_page()

    def login(self, username: str) -> Session:
        p = self.page
        p.goto("/login/")
        p.fill("#id_username", username)
        p.fill("#id_password", PASSWORD)
        p.click("button[type=submit]")
        p.wait_for_url(re.compile(r".*/$"))
        return self

    def act(self, number: str, action: str, **fields) -> None:
        """Open the case page, fill one action form (fields by name) and submit it."""
        p = self.page
        p.goto(f"/cases/{number}/")  # fresh: others may have acted since this page was loaded
        details = p.locator(f"#action-{action}")
        if details.get_attribute("open") is None:
            details.locator("summary").click()
        for name, value in fields.items():
            sel = f"#{action}-{name}"
            el = p.locator(sel)
            tag = el.evaluate("e => e.tagName.toLowerCase() + ':' + (e.type || '')")
            if tag.startswith("select"):
                el.select_option(value)
            elif tag.endswith("checkbox"):
                details.locator(f"input[name={name}]").check()
            else:
                el.fill(str(value))
        with p.expect_navigation():
            details.locator(f"button[data-action={action}]").click()

    def shot(self, name: str, full_page: bool = False) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="session")
def live_server(request):
    """pytest-django's live server, with a MEDIA_URL it can parse.

    The project never serves media from a URL (MEDIA_URL = None); the live server's media handler needs a
    string, so it gets an unused prefix for the tests' lifetime.
    """
    from django.conf import settings
    from pytest_django import live_server_helper

    old = settings.MEDIA_URL
    settings.MEDIA_URL = "/__test_media__/"
    addr = (
        request.config.getvalue("liveserver") or os.getenv("DJANGO_LIVE_TEST_SERVER_ADDRESS") or "localhost"
    )
    server = live_server_helper.LiveServer(addr)
    yield server
    server.stop()
    settings.MEDIA_URL = old


@pytest.fixture
def session(browser, live_server):
    opened: list[Session] = []

    def make(username: str | None = None) -> Session:
        s = Session(browser, live_server.url)
        opened.append(s)
        return s.login(username) if username else s

    yield make
    for s in opened:
        s.close()
