"""A worker hears of a command at the commit that records it (PostgreSQL NOTIFY), not at its
next poll of the table; a command it was not told about is still picked up by the fallback
fetch. Shown to fail by removing ``command_notify`` from ``command_request`` (the first test
then waits out its deadline)."""

from __future__ import annotations

import queue
import time

import pytest
from django.db import OperationalError

from runs import command_wakeups, services
from runs.models import Command
from tests.support.runs import running_run
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def next_command(listener: command_wakeups.CommandListener, timeout: float) -> Command:
    return listener.commands.get(timeout=timeout)


def test_a_command_reaches_the_listener_at_commit(owner, monkeypatch):
    # A fallback longer than the deadline: only the notification can deliver in time.
    monkeypatch.setattr(command_wakeups, "FALLBACK_SECONDS", 60.0)
    run = running_run(owner)
    with command_wakeups.CommandListener(run.pk) as listener:
        # Listening first: otherwise its first fetch, not the notification, would find it.
        assert listener.listening.wait(10)
        asked = time.monotonic()
        command = services.command_request(run=run, user=owner, kind="save")
        heard = next_command(listener, timeout=10)
        assert heard.pk == command.pk
        assert time.monotonic() - asked < 5
        with pytest.raises(queue.Empty):  # handed once, though still pending
            next_command(listener, timeout=1.5)


def test_a_command_without_a_notification_is_fetched_anyway(owner, monkeypatch):
    monkeypatch.setattr(command_wakeups, "FALLBACK_SECONDS", 0.5)
    run = running_run(owner)
    with command_wakeups.CommandListener(run.pk) as listener:
        quiet = Command.objects.create(run=run, kind="save")  # no NOTIFY: written by hand
        assert next_command(listener, timeout=10).pk == quiet.pk


def test_a_listener_thread_gone_quiet_is_stood_in_for_by_the_training_thread(owner, monkeypatch):
    # The thread never fetches (blocked, as on a connection that hangs): the caller's
    # fetch_if_stale, called between training steps, finds the command instead.
    monkeypatch.setattr(command_wakeups.CommandListener, "_listen", lambda self: None)
    monkeypatch.setattr(command_wakeups, "STALE_SECONDS", 0.5)
    monkeypatch.setattr(command_wakeups, "RETRY_SECONDS", 0.2)
    run = running_run(owner)
    with command_wakeups.CommandListener(run.pk) as listener:
        command = services.command_request(run=run, user=owner, kind="save")
        wait_for(listener.fetch_if_stale, timeout=10, what="the training thread's fetch")
        assert next_command(listener, timeout=0.1).pk == command.pk
        # Stale again STALE_SECONDS later: fetched again, and handed once, though still pending.
        wait_for(listener.fetch_if_stale, timeout=10, what="a second stand-in fetch")
        with pytest.raises(queue.Empty):
            next_command(listener, timeout=0.1)


def test_a_stand_in_fetch_that_fails_leaves_the_training_alone(owner, monkeypatch):
    # PostgreSQL away: the listener is quiet for that reason, and the training thread's fetch
    # fails too; it says so and training goes on (the reporter buffers meanwhile).
    monkeypatch.setattr(command_wakeups.CommandListener, "_listen", lambda self: None)
    monkeypatch.setattr(command_wakeups, "STALE_SECONDS", 0.0)

    def away(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(command_wakeups.selectors, "commands_pending", away)
    run = running_run(owner)
    with command_wakeups.CommandListener(run.pk) as listener:
        assert listener.fetch_if_stale() is False
        assert listener.fetch_if_stale() is False  # and not again before RETRY_SECONDS
        assert listener.commands.empty()


def test_a_listener_retrying_a_database_that_is_away_is_not_stood_in_for(owner, monkeypatch):
    """Seen in a full run: with PostgreSQL stopped, the training thread's stand-in fetch
    blocked for the pool's 10 s timeout every 11 s, and the run wrote no checkpoint in two
    minutes. The listener that is failing and retrying is not hung: nothing to stand in for."""

    def away(self):
        raise OperationalError("connection refused")

    monkeypatch.setattr(command_wakeups.CommandListener, "_listen_until_stopped", away)
    monkeypatch.setattr(command_wakeups, "STALE_SECONDS", 0.0)
    monkeypatch.setattr(command_wakeups, "RETRY_SECONDS", 0.05)
    asked = []
    monkeypatch.setattr(
        command_wakeups.selectors, "commands_pending", lambda **kw: asked.append(kw) or []
    )
    run = running_run(owner)
    with command_wakeups.CommandListener(run.pk) as listener:
        wait_for(lambda: listener.failed_at > 0, timeout=10, what="the listener's failure")
        assert listener.fetch_if_stale() is False
        assert asked == []
        # Its failures long enough ago (as when it hangs instead): the stand-in fetches.
        monkeypatch.setattr(command_wakeups, "RETRYING_SECONDS", 0.0)
        assert listener.fetch_if_stale() is True
        assert asked == [{"run_id": run.pk}]


def test_failed_stand_in_fetches_wait_from_their_end_and_back_off(owner, monkeypatch):
    monkeypatch.setattr(command_wakeups.CommandListener, "_listen", lambda self: None)
    monkeypatch.setattr(command_wakeups, "STALE_SECONDS", 0.0)
    monkeypatch.setattr(command_wakeups, "RETRY_SECONDS", 0.2)
    tries: list[tuple[float, float]] = []

    def slow_failure(**kwargs):
        started = time.monotonic()
        time.sleep(0.3)  # the pool's timeout, shortened
        tries.append((started, time.monotonic()))
        raise OperationalError("connection refused")

    monkeypatch.setattr(command_wakeups.selectors, "commands_pending", slow_failure)
    run = running_run(owner)
    with command_wakeups.CommandListener(run.pk) as listener:
        assert listener.fetch_if_stale() is False
        assert listener.fetch_if_stale() is False
        assert len(tries) == 1  # not again at once, though RETRY_SECONDS passed during the try
        wait_for(
            lambda: listener.fetch_if_stale() or len(tries) == 3,
            timeout=10,
            what="two more tries",
        )
    gaps = [tries[i + 1][0] - tries[i][1] for i in range(2)]
    assert gaps[0] >= 0.4 and gaps[1] >= 0.8  # 2 and 4 times RETRY_SECONDS after failures
