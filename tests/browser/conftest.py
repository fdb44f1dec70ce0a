"""Browser tests: Debian's Chromium driven by Playwright's sync API against ``live_server``.

Playwright's sync API runs an event loop in this thread, so Django's "no sync DB calls from async
context" guard must be relaxed for the test process. Tests are skipped when Chromium is missing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOTS = Path("/tmp/shots")


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, settings):
    """A fresh browser tab at desktop width. Media files are answered from the test's MEDIA_ROOT."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    media_root = Path(settings.MEDIA_ROOT)

    def serve_media(route):
        name = route.request.url.split("/media/", 1)[1].split("?", 1)[0]
        path = (media_root / name).resolve()
        if media_root.resolve() in path.parents and path.is_file():
            route.fulfill(path=str(path))
        else:
            route.fulfill(status=404, body="not found")

    tab.route("**/media/**", serve_media)
    yield tab
    context.close()


@pytest.fixture
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


@pytest.fixture
def new_tab(browser):
    """Tabs in browser contexts of their own (another person: their own cookies), closed afterwards."""
    contexts = []

    def make():
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
        contexts.append(context)
        tab = context.new_page()
        tab.set_default_timeout(10_000)
        return tab

    yield make
    for context in contexts:
        context.close()
