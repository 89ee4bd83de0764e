"""A person's path through the portal, in a real Chromium: log in, queue, watch it finish."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def log_in(page, base: str, username: str) -> None:
    page.goto(base + "/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Runs")


def test_queue_a_run_from_the_form_and_watch_it_complete_live(
    page, daphne_server, celery_worker, owner
):
    log_in(page, daphne_server, "olivia")
    page.goto(daphne_server + "/runs/new/?trainer=digits")
    page.fill("#id_epochs", "0")
    page.click("text=Queue run")
    expect(page.locator(".field.has-error .error")).to_contain_text("greater than or equal to 1")

    page.fill("#id_epochs", "6")
    page.fill("#id_batch_size", "32")
    page.fill("#id_name", "from the browser")
    page.click("text=Queue run")
    expect(page.locator("h1")).to_have_text("from the browser")
    # The page follows the run over its WebSocket: no reload.
    expect(page.locator("#live-state")).to_have_text("live")
    expect(page.locator("#run-status")).to_have_text("completed", timeout=240_000)
    expect(page.locator("#run-step")).to_have_text("step 6 / 6")
    expect(page.locator("#latest-metrics tr[data-key='charts/val_accuracy']")).to_be_visible()
    expect(page.locator("#chart canvas")).to_be_visible()
    expect(page.locator("#timeline")).to_contain_text("status: run completed")
    # The checkpoints table was empty when the page loaded; it fills in as they are stored.
    expect(page.locator("#checkpoints")).to_contain_text("final")


def test_another_users_run_page_is_not_found(page, daphne_server, owner, outsider):
    from runs.models import Run

    run = Run.objects.create(owner=owner, trainer="digits", config={}, name="private")
    log_in(page, daphne_server, "oscar")
    response = page.goto(f"{daphne_server}/runs/{run.pk}/")
    assert response.status == 404
    expect(page.locator("body")).not_to_contain_text("private")
