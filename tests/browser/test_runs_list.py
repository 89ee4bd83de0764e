"""The runs list in a real Chromium follows runs live: one queued elsewhere appears, and its
status and progress change in place, with no reload."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from runs import services
from tests.browser.test_run_page import log_in
from tests.support.browser_waits import wait_for_js

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_run_queued_from_elsewhere_appears_and_finishes_live(
    page, daphne_server, celery_worker, owner
):
    log_in(page, daphne_server, "olivia")
    expect(page.locator(".empty")).to_contain_text("No runs yet")
    page.evaluate("window.sameDocument = true")  # gone if the page reloads
    wait_for_js(page, "document.getElementById('live-state').textContent === ''")

    run = services.run_queue(  # as the API or the CLI would
        owner=owner, trainer="digits", config={"epochs": 4, "batch_size": 32}, name="from afar"
    )
    row = page.locator(f'#runs-table tr[data-run="{run.pk}"]')
    expect(row).to_contain_text("from afar", timeout=30_000)
    expect(row.locator(".status")).to_have_text("completed", timeout=240_000)
    expect(row.locator("progress")).to_have_js_property("value", 1)
    assert page.evaluate("window.sameDocument === true"), "the page was reloaded"
