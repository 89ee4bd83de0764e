"""The header's links lead to pages: "System" opens the system page, not the JSON API that
once shared its URL name."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_run_page import log_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_system_link_opens_the_system_page(page, daphne_server, owner):
    log_in(page, daphne_server, "olivia")
    link = page.locator("header nav a", has_text="System")
    expect(link).to_have_attribute("href", "/system/")
    with page.expect_response(lambda r: r.url.endswith("/system/")) as answer:
        link.click()
    assert answer.value.headers["content-type"].startswith("text/html")
    expect(page).to_have_url(f"{daphne_server}/system/")
    expect(page.locator("h1")).to_have_text("System")
    expect(page.locator("#queues")).to_be_visible()
