"""The run page in a real Chromium keeps following a run while Redis is restarted, with no
reload: its timeline shows the checkpoint events written while Redis was down (stored in
PostgreSQL, their live messages lost), in order, once."""

from __future__ import annotations

import re

import pytest
from django.db.models import Max
from playwright.sync_api import expect

from monitoring.models import MetricPoint, RunEvent
from runs import services
from tests.browser.test_run_page import log_in
from tests.support.outages import embedded_redis_pid, stop_embedded_redis
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

EPOCHS = 40


def shown_step(page) -> int:
    match = re.match(r"step (\d+)", page.locator("#run-step").inner_text())
    return int(match.group(1)) if match else -1


def stored_step(run_id: int) -> int:
    return MetricPoint.objects.filter(run_id=run_id).aggregate(m=Max("step"))["m"] or -1


def checkpoint_seqs_after(run_id: int, seq: int) -> list[int]:
    events = RunEvent.objects.filter(run_id=run_id, type="checkpoint", seq__gt=seq)
    return list(events.order_by("seq").values_list("seq", flat=True))


def two_checkpoints_after(run_id: int, seq: int) -> list[int] | None:
    seqs = checkpoint_seqs_after(run_id, seq)
    return seqs[:2] if len(seqs) >= 2 else None


def last_stored_seq(run_id: int) -> int:
    return RunEvent.objects.filter(run_id=run_id).aggregate(m=Max("seq"))["m"] or 0


def timeline_seqs(page) -> list[int]:
    """The seqs the timeline shows, oldest first (it prepends: newest on top)."""
    rows = page.locator("#timeline li").all_inner_texts()
    return [int(re.match(r"#(\d+) ", row).group(1)) for row in reversed(rows)]


def test_the_run_page_follows_a_run_through_a_redis_restart(
    page, daphne_server, celery_worker, owner
):
    embedded_redis_pid()  # skips first, before training, against the machine's own Redis
    run = services.run_queue(
        owner=owner,
        trainer="digits",
        config={"epochs": EPOCHS, "batch_size": 16, "checkpoint_every": 1},
    )
    log_in(page, daphne_server, "olivia")
    page.goto(f"{daphne_server}/runs/{run.pk}/")
    page.evaluate("window.sameDocument = true")  # gone if the page reloads
    expect(page.locator("#live-state")).to_have_text("live")
    wait_for(lambda: shown_step(page) >= 2, timeout=120, what="live progress on the page")

    stopped = stop_embedded_redis()
    try:
        at_stop, seq_at_stop = stored_step(run.pk), last_stored_seq(run.pk)
        wait_for(
            lambda: stored_step(run.pk) >= at_stop + 2,
            timeout=120,
            what="training to go on without Redis",
        )
        during_outage = wait_for(
            lambda: two_checkpoints_after(run.pk, seq_at_stop),
            timeout=120,
            what="two checkpoint events stored while Redis is down",
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
    expect(page.locator("#timeline")).to_contain_text("summary: completed")  # the last event
    for seq in during_outage:
        expect(page.locator("#timeline")).to_contain_text(re.compile(rf"#{seq} .* checkpoint"))
    shown = timeline_seqs(page)
    assert shown == list(range(shown[0], last_stored_seq(run.pk) + 1)), shown  # once, in order
    assert page.evaluate("window.sameDocument === true"), "the page was reloaded"
