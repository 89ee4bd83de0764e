"""The summary card at the top of the run page, in a real Chromium over a real Daphne: hidden
while the run trains, filled and shown without a reload when it ends, as the page renders it
after a reload, and accessible."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from monitoring.models import MetricPoint
from runs import services
from runs.models import Run, RunStatus, UserQuota
from tests.browser.test_every_page import audit
from tests.browser.test_run_page import log_in
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_summary_appears_without_a_reload_when_the_run_completes(
    page, daphne_server, celery_worker, owner
):
    # Small batches and several epochs: the page is open and live well before the end.
    run = services.run_queue(
        owner=owner,
        trainer="digits",
        config={"epochs": 12, "batch_size": 8, "checkpoint_every": 4},
        name="summarised",
    )
    wait_for(
        lambda: Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING).exists(),
        timeout=180,
        what="the run to start",
    )
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/{run.pk}/")
    expect(page.locator("#live-state")).to_have_text("live")
    card = page.locator("#run-summary")
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING, "the run ended before the page watched it"
    expect(card).to_be_hidden()

    expect(page.locator("#run-status")).to_have_text("completed", timeout=240_000)
    expect(card).to_be_visible()
    run.refresh_from_db()
    summary = run.summary
    best = summary["best"]
    expect(card.locator("[data-field=status]")).to_have_text("completed")
    expect(card.locator("[data-field=reason]")).to_have_text(
        "the budget was spent: 12 of 12 epochs"
    )
    expect(card.locator("[data-field=steps]")).to_have_text("12 / 12")
    expect(card.locator("[data-field=best]")).to_have_text(
        f"charts/val_accuracy {best['value']:.4f} at step {best['step']}"
    )
    assert MetricPoint.objects.filter(run=run, key="charts/val_accuracy").count() == 12
    # The best step's metrics are folded until asked for.
    metrics = card.locator("[data-field=best-metrics]")
    expect(metrics.locator("table")).to_be_hidden()
    metrics.locator("summary").click()
    expect(metrics.locator("tr")).to_have_count(len(best["metrics"]))
    expect(metrics.locator("tr", has_text="losses/val_loss")).to_contain_text(
        f"{best['metrics']['losses/val_loss']:.4f}"
    )
    checkpoint = summary["checkpoint"]
    download = card.locator("a.summary-download")
    expect(download).to_have_attribute("href", checkpoint["url"])
    expect(download).to_contain_text(f"step {checkpoint['step']}")
    expect(card.locator("a.summary-fork")).to_have_attribute(
        "href", f"/runs/new/?from={run.pk}&checkpoint={checkpoint['id']}"
    )
    live_text = card.inner_text()
    assert not audit(page), audit(page)

    # A reload renders the same card from the stored summary (the duration as the JS says it).
    page.reload()
    expect(card).to_be_visible()
    # "42s" or "1m 3s" as run_summary.js says it, not the server's "42.3 s"
    expect(card.locator("[data-field=duration]")).to_have_text(re.compile(r"^(\d+m )?[\d.]+s$"))
    card.locator("[data-field=best-metrics] summary").click()
    assert card.inner_text() == live_text
    # Readable in the dark theme, and on a phone without scrolling sideways.
    page.emulate_media(color_scheme="dark")
    assert not audit(page), audit(page)
    page.set_viewport_size({"width": 390, "height": 900})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    # The fork link opens the new-run form from that checkpoint.
    card.locator("a.summary-fork").click()
    expect(page.locator(".source-note")).to_contain_text(
        f"starts from its {checkpoint['kind']} checkpoint at step {checkpoint['step']}"
    )


def test_summary_appears_live_after_a_stop_and_after_a_failure(
    page, daphne_server, celery_worker, owner
):
    # One training slot: the broken run waits behind the long one, so both pages are open
    # and live before either ends.
    UserQuota.objects.create(user=owner, max_running=1, max_queued=5)
    long = services.run_queue(
        owner=owner, trainer="digits", config={"epochs": 200, "batch_size": 8}, name="long"
    )
    wait_for(
        lambda: Run.objects.filter(pk=long.pk, status=RunStatus.RUNNING).exists(),
        timeout=180,
        what="the long run to start",
    )
    broken = services.run_queue(owner=owner, trainer="broken", config={"fail_at": 3})
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/{long.pk}/")
    expect(page.locator("#live-state")).to_have_text("live")
    failing = page.context.new_page()
    failing.goto(f"{daphne_server}/runs/{broken.pk}/")
    expect(failing.locator("#live-state")).to_have_text("live")
    expect(failing.locator("#run-status")).to_have_text("queued")
    expect(failing.locator("#run-summary")).to_be_hidden()

    page.get_by_role("button", name="Stop").click()
    page.click("#confirm-yes")
    card = page.locator("#run-summary")
    expect(card.locator("[data-field=status]")).to_have_text("stopped", timeout=120_000)
    expect(card).to_be_visible()
    expect(card.locator("[data-field=reason]")).to_have_text("stopped by olivia")

    # The slot is free: the broken run trains, fails, and its open page shows why.
    card = failing.locator("#run-summary")
    expect(card.locator("[data-field=status]")).to_have_text("failed", timeout=120_000)
    expect(card).to_be_visible()
    expect(card.locator("[data-field=reason]")).to_contain_text("the model diverged at step 3")
    failing.close()
