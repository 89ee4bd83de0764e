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


def test_the_header_counts_unread_alerts_and_leads_to_play_and_alerts(
    page, daphne_server, owner, outsider
):
    from alerts.models import Alert, Notification
    from runs.models import Run, RunStatus

    run = Run.objects.create(owner=owner, trainer="digits", config={}, status=RunStatus.RUNNING)
    for step in (10, 20):
        alert = Alert.objects.create(run=run, rule="nan_loss", step=step, message="loss is NaN")
        Notification.objects.create(user=owner, alert=alert)
    theirs = Alert.objects.create(run=run, rule="nan_loss", step=30, message="not olivia's")
    Notification.objects.create(user=outsider, alert=theirs)
    log_in(page, daphne_server, "olivia")
    alerts = page.locator("header nav a", has_text="Alerts")
    expect(alerts.locator(".badge")).to_have_text("2")  # hers alone, none read
    expect(alerts).to_have_attribute("title", "alerts of your runs: 2 unread")
    alerts.click()
    expect(page).to_have_url(f"{daphne_server}/alerts/")
    page.locator("header nav a", has_text="Play").click()
    expect(page).to_have_url(f"{daphne_server}/play/")
    Notification.objects.filter(user=owner).update(read_at=run.created_at)
    page.reload()
    expect(page.locator("header nav a", has_text="Alerts").locator(".badge")).to_have_count(0)
