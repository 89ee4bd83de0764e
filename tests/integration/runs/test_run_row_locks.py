"""A run's row lock orders the writers that change the run, and leaves alone those that only
add rows for it: a worker's event written while a command request or the worker's own result
holds the run. CI once saw a deadlock: the request held the run FOR UPDATE, a worker's event
had bumped the run's event counter and waited on its foreign-key check of the run, and the
request's own event then waited on the counter. Seen to fail (the event times out on its
lock) with FOR UPDATE in ``command_request`` and in ``lease_hold``."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection, connections, transaction

from monitoring.models import EventType, RunEvent
from monitoring.services import event_record
from runs import services
from runs.leases import lease_hold
from runs.models import RUN_LEASE, Command
from runs.services import commands
from tests.support.runs import running_run

pytestmark = pytest.mark.django_db(transaction=True)


def record_event_meanwhile(run_id: int) -> None:
    """What a worker's reporter does, giving up after 5 s of waiting on a lock."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '5s'")
        event_record(run_id=run_id, type=EventType.LOG, message="written by the worker")


def while_held(hold: Callable[[threading.Event, threading.Event], None], run_id: int) -> None:
    """Run ``hold`` on its own thread (its own connection) until it holds the run, record an
    event meanwhile, then let it finish; any error on either side fails the test."""
    locked, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            hold(locked, release)
        except BaseException as exc:  # reported on the test's thread
            errors.append(exc)
        finally:
            locked.set()
            connections.close_all()  # this thread's connection

    thread = threading.Thread(target=target)
    thread.start()
    try:
        assert locked.wait(30)
        record_event_meanwhile(run_id)
    finally:
        release.set()
        thread.join(30)
    assert not errors, errors


def test_an_event_goes_through_while_a_command_request_holds_the_run(owner, monkeypatch):
    run = running_run(owner)
    event_record(run_id=run.pk, type=EventType.LOG, message="the run's first event")
    checked = commands._rejection

    def hold(locked: threading.Event, release: threading.Event) -> None:
        def held_while_checking(*args, **kwargs):
            locked.set()  # the run's row is locked by now
            assert release.wait(30)
            return checked(*args, **kwargs)

        monkeypatch.setattr(commands, "_rejection", held_while_checking)
        services.command_request(run=run, user=owner, kind="save")

    while_held(hold, run.pk)
    assert Command.objects.get(run=run).state == "pending"
    messages = list(RunEvent.objects.filter(run=run).order_by("seq").values_list("message"))
    assert [m for (m,) in messages] == [
        "the run's first event",
        "written by the worker",
        "save requested",
    ]


def test_an_event_goes_through_while_the_worker_holds_its_lease(owner):
    run = running_run(owner, worker="host:1")

    def hold(locked: threading.Event, release: threading.Event) -> None:
        with transaction.atomic():
            lease_hold(RUN_LEASE, pk=run.pk, worker="host:1")
            locked.set()
            assert release.wait(30)

    while_held(hold, run.pk)
    assert RunEvent.objects.filter(run=run, message="written by the worker").exists()
