"""Each pathology injected into a real shogi-ppo run on a real worker fires its alert once,
with its evidence: an ``alert`` event in the timeline (and the API), an Alert row, the owner's
notification; one rule also pauses the run, through the same command a person sends."""

from __future__ import annotations

import asyncio
import time

import pytest
from django.db import transaction

from alerts import services as alert_services
from alerts.models import Alert, Notification
from monitoring.models import EventType, MetricPoint
from runs import services
from runs.models import Command, Run, RunStatus
from tests.support.sockets import connect, receive_type, token_for
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

BATCH = 4 * 8
SMALL = {
    "num_envs": 4,
    "num_steps": 8,
    "max_plies": 40,
    "blocks": 1,
    "channels": 8,
    "value_hidden": 8,
    "minibatch_size": 16,
    "total_steps": BATCH * 100_000,  # far more than the test lets it run
    "precision": "fp32",
    "threads": 1,
    "spectate": False,
    "record_selfplay_every": 0,
    "checkpoint_every": 0,
    "seed": 5,
}

# pathology -> (the rule it must fire, inject from update, the run's own rule settings)
CASES = {
    "entropy_collapse": ("entropy_collapse", 3, {}),
    "value_loss_blowup": ("value_loss_blowup", 8, {}),
    "kl_spike": ("kl_spike", 3, {}),
    "clip_stuck": ("clip_stuck", 3, {"clip_stuck": {"updates": 4}}),
    "nan_loss": ("nonfinite_loss", 3, {}),
    "throughput_drop": ("throughput_drop", 8, {}),
    "win_rate_drop": ("win_rate_drop", 4, {}),
}
LATER_UPDATES = 6  # the pathology goes on this long after the alert: still one alert


def queue(owner, config, rules=None) -> Run:
    """Queue a run with its own rule settings, stored before any worker can claim it."""
    with transaction.atomic():
        run = services.run_queue(owner=owner, trainer="shogi-ppo", config=config)
        if rules:
            alert_services.rules_set_for_run(run=run, rules=rules)
    return run


def alert_events(run: Run, rule: str) -> list:
    return [
        e for e in run.events.filter(type=EventType.ALERT).order_by("seq") if e.data["rule"] == rule
    ]


def last_step(run: Run) -> int:
    point = MetricPoint.objects.filter(run=run).order_by("-step").first()
    return point.step if point else 0


def stop_and_wait(run: Run, owner) -> None:
    run.refresh_from_db()
    if run.status in (RunStatus.RUNNING, RunStatus.PAUSED):
        services.command_request(run=run, user=owner, kind="stop")

    def ended():
        run.refresh_from_db()
        return run.status not in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.PAUSED)

    wait_for(ended, timeout=120, what="the run to end")


def check_alert(run: Run, rule: str, at_update: int):
    """The one alert of ``rule``: its event, row and notification agree."""
    events = alert_events(run, rule)
    assert len(events) == 1, [(e.seq, e.message) for e in events]
    event = events[0]
    data = event.data
    assert set(data) >= {"rule", "key", "step", "value", "threshold", "evidence", "paused"}
    assert data["step"] >= at_update * BATCH, (data["step"], at_update)
    alert = Alert.objects.get(run=run, rule=rule)
    assert data["alert"] == alert.pk
    assert (alert.key, alert.step, alert.evidence) == (data["key"], data["step"], data["evidence"])
    assert Notification.objects.filter(alert=alert, user=run.owner, read_at=None).exists()
    return event


@pytest.mark.parametrize("pathology", sorted(CASES))
def test_an_injected_pathology_fires_its_alert_once_with_its_evidence(
    celery_worker, owner, pathology
):
    rule, at_update, overrides = CASES[pathology]
    config = {**SMALL, "inject_pathology": pathology, "inject_at_update": at_update}
    run = queue(owner, config, overrides)
    try:
        wait_for(
            lambda: alert_events(run, rule), timeout=180, what=f"the {rule} alert on {pathology}"
        )
        fired_step = alert_events(run, rule)[0].data["step"]
        wait_for(
            lambda: last_step(run) >= fired_step + LATER_UPDATES * BATCH,
            timeout=120,
            what="more updates with the pathology",
        )
    finally:
        stop_and_wait(run, owner)
    event = check_alert(run, rule, at_update)
    evidence = event.data["evidence"]
    if rule == "entropy_collapse":
        assert event.data["value"] < evidence["fraction"] * evidence["reference"]
    elif rule == "nonfinite_loss":
        assert event.data["key"] == "losses/value_loss" and event.data["value"] is None
        assert evidence["values"]["losses/value_loss"] == "nan"
    elif rule in ("value_loss_blowup",):
        assert event.data["value"] > evidence["ratio"] * evidence["median"]
    elif rule == "throughput_drop":
        assert event.data["value"] < evidence["fraction"] * evidence["median"]
    elif rule in ("kl_spike", "clip_stuck"):
        assert evidence["updates"] >= 3 and event.data["value"] > event.data["threshold"]
    elif rule == "win_rate_drop":
        assert (evidence["peak"], event.data["value"]) == (0.95, 0.1)
    assert event.data["paused"] is False


def test_a_stalled_run_fires_no_progress_once_though_it_reports_nothing(celery_worker, owner):
    config = {**SMALL, "inject_pathology": "stall", "inject_at_update": 3}
    run = queue(owner, config, {"no_progress": {"minutes": 0.05}})
    try:
        wait_for(lambda: alert_events(run, "no_progress"), timeout=180, what="no_progress")
        # Stalled on for twice the limit: the clock goes on ticking and says nothing more.
        quiet_until = time.monotonic() + 6
        wait_for(
            lambda: time.monotonic() > quiet_until or len(alert_events(run, "no_progress")) > 1,
            timeout=30,
            what="a second no_progress alert, or 6 s without one",
        )
    finally:
        stop_and_wait(run, owner)
    event = check_alert(run, "no_progress", 0)
    assert event.data["evidence"]["idle_seconds"] >= 3.0
    assert event.data["step"] == 2 * BATCH  # the last step it reported


def test_an_alert_can_pause_the_run_as_its_owner_would(celery_worker, owner):
    config = {**SMALL, "inject_pathology": "kl_spike", "inject_at_update": 3}
    run = queue(owner, config, {"kl_spike": {"pause": True}})
    try:

        def paused():
            run.refresh_from_db()
            return run.status == RunStatus.PAUSED

        wait_for(paused, timeout=180, what="the alert to pause the run")
    finally:
        stop_and_wait(run, owner)
    event = check_alert(run, "kl_spike", 3)
    assert event.data["paused"] is True
    pause = Command.objects.get(run=run, kind="pause")
    assert (pause.state, pause.requested_by) == ("done", owner)
    # The pause came after the alert in the timeline.
    command_seq = run.events.filter(type=EventType.COMMAND, data__kind="pause").first().seq
    assert command_seq > event.seq


def test_a_watcher_sees_the_alert_live_on_the_runs_socket(daphne_server, celery_worker, owner):
    """Over a real Daphne: the alert is pushed live to a subscribed socket, with the fields the
    chart markers are drawn from, after the socket joined (not replayed)."""
    config = {**SMALL, "inject_pathology": "entropy_collapse", "inject_at_update": 10}
    token = token_for(owner)
    run = queue(owner, config)

    async def watch() -> tuple[int, dict]:
        async with connect(daphne_server, f"/ws/runs/{run.pk}/?after_seq=0", token) as ws:
            connected = await receive_type(ws, "connected", timeout=60)
            alert = await receive_type(ws, "alert", timeout=180)
            return connected["data"]["last_seq"], alert

    try:
        joined_at_seq, alert = asyncio.run(watch())
    finally:
        stop_and_wait(run, owner)
    assert alert["seq"] > joined_at_seq  # live, not a replay of what was stored before
    data = alert["data"]
    assert (data["rule"], data["key"], data["paused"]) == (
        "entropy_collapse",
        "losses/entropy",
        False,
    )
    assert data["step"] >= 10 * BATCH and data["value"] < data["threshold"]
    assert set(data["evidence"]) >= {"reference", "reference_step", "fraction"}
    event = check_alert(run, "entropy_collapse", 10)
    assert event.seq == alert["seq"] and event.data["evidence"] == data["evidence"]
