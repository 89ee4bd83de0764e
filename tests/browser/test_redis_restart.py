"""The run page in a real Chromium keeps following a run while Redis is restarted: no reload."""

from __future__ import annotations

import re

import pytest
from django.db.models import Max
from playwright.sync_api import expect

from monitoring.models import MetricPoint
from runs import services
from tests.browser.test_run_page import log_in
from tests.support.outages import stop_embedded_redis
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

EPOCHS = 40


def shown_step(page) -> int:
    match = re.match(r"step (\d+)", page.locator("#run-step").inner_text())
    return int(match.group(1)) if match else -1


def stored_step(run_id: int) -> int:
    return MetricPoint.objects.filter(run_id=run_id).aggregate(m=Max("step"))["m"] or -1


def test_the_run_page_follows_a_run_through_a_redis_restart(
    page, daphne_server, celery_worker, owner
):
    run = services.run_queue(
        owner=owner, trainer="digits", config={"epochs": EPOCHS, "batch_size": 16}
    )
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/{run.pk}/")
    page.evaluate("window.sameDocument = true")  # gone if the page reloads
    expect(page.locator("#live-state")).to_have_text("live")
    wait_for(lambda: shown_step(page) >= 2, timeout=120, what="live progress on the page")

    stopped = stop_embedded_redis()
    try:
        at_stop = stored_step(run.pk)
        wait_for(
            lambda: stored_step(run.pk) >= at_stop + 2,
            timeout=120,
            what="training to go on without Redis",
        )
    finally:
        stopped.start()
    at_restart = shown_step(page)

    wait_for(
        lambda: shown_step(page) > at_restart,
        timeout=120,
        what="the page to show live progress after the restart",
    )
    expect(page.locator("#run-status")).to_have_text("completed", timeout=240_000)
    expect(page.locator("#run-step")).to_have_text(f"step {EPOCHS} / {EPOCHS}")
    expect(page.locator("#timeline")).to_contain_text("status: run completed")
    assert page.evaluate("window.sameDocument === true"), "the page was reloaded"
