"""Waiting on a condition in the page under the site's Content-Security-Policy.

Playwright's ``wait_for_function`` builds its polling predicate with ``eval`` inside the page,
which a policy without 'unsafe-eval' refuses once it has to poll (microsoft/playwright#7395).
``page.evaluate`` goes through the DevTools protocol, which the policy does not govern: this
polls it from here, with a deadline.
"""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import TimeoutError as PlaywrightTimeout

POLL_MS = 50


def wait_for_js(page: Any, expression: str, *, timeout: float = 30_000) -> Any:
    """The first truthy value of ``expression`` (a JS expression or function) in ``page``;
    Playwright's ``TimeoutError`` after ``timeout`` milliseconds."""
    deadline = time.monotonic() + timeout / 1000
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() >= deadline:
            raise PlaywrightTimeout(f"timed out after {timeout:.0f} ms waiting for {expression}")
        page.wait_for_timeout(POLL_MS)
