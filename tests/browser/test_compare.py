"""Comparing runs in a real Chromium: tick runs on the list, compare, switch the metric."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from monitoring.services import metrics_record
from runs.models import Run
from tests.browser.test_run_page import log_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_tick_two_runs_compare_them_and_switch_the_metric(page, daphne_server, owner):
    wall = dt.datetime.now(dt.UTC)
    runs = []
    for name, scale in (("slow learner", 1.0), ("fast learner", 0.5)):
        run = Run.objects.create(
            owner=owner, trainer="digits", config={}, name=name, status="completed"
        )
        metrics_record(
            run_id=run.pk,
            points=[("losses/train_loss", s, scale / (s + 1), wall) for s in range(50)]
            + [("charts/val_accuracy", s, 1 - scale / (s + 1), wall) for s in range(50)],
        )
        runs.append(run)
    log_in(page, daphne_server, "olivia")
    for run in runs:
        page.check(f'input[name=runs][value="{run.pk}"]')
    page.click("#compare-selected")
    expect(page.locator("h1")).to_have_text("Compare runs")
    expect(page.locator("#compare-chart canvas")).to_be_visible()
    legend = page.locator("#compare-chart .u-legend")
    expect(legend).to_contain_text("slow learner")
    expect(legend).to_contain_text("fast learner")

    page.select_option("#compare-key", "losses/train_loss")
    expect(page).to_have_url(re.compile(r"key=losses%2Ftrain_loss"))  # shareable as it is
    expect(page.locator("#compare-chart .u-legend")).to_contain_text("fast learner")
