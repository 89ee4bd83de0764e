"""Browser tests: Debian's Chromium driven by Playwright against a real Daphne."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = os.environ.get("KEISEI_CHROMIUM", "/usr/bin/chromium")
# Without these, Chromium keeps trying to reach Google's hosts through a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class CspWatchingBrowser:
    """Chromium whose every context reports Content-Security-Policy violations (Chromium logs
    each as a console error) into ``violations``, for ``no_csp_violation`` to fail the test."""

    def __init__(self, chromium) -> None:
        self._chromium = chromium
        self.violations: list[str] = []

    def _watch(self, message) -> None:
        if "Content Security Policy" in message.text:
            self.violations.append(f"{message.location.get('url', '?')}: {message.text}")

    def new_context(self, **options):
        context = self._chromium.new_context(**options)
        context.on("console", self._watch)
        return context

    def __getattr__(self, name: str):
        return getattr(self._chromium, name)


@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: `make test` installs it")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread while it lives; the
    # tests' own ORM calls (personas) are plain synchronous calls, which Django would refuse.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "1"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield CspWatchingBrowser(chromium)
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(autouse=True)
def no_csp_violation(request):
    """Every browser test fails on a Content-Security-Policy violation its pages caused."""
    if "browser" not in request.fixturenames:
        yield
        return
    browser = request.getfixturevalue("browser")
    browser.violations.clear()
    yield
    assert not browser.violations, "CSP violations:\n" + "\n".join(browser.violations)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()
