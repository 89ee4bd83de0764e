"""Server fixtures for integration and browser tests: real Celery workers, beat and Daphne
on the pytest test database (loaded by the root conftest as a plugin)."""

from __future__ import annotations

import time

import pytest

from tests.support.servers import (
    ServerProcess,
    purge_queues,
    server_env,
    start_celery_beat,
    start_celery_worker,
    start_daphne,
)


def _deadlocked(exc: BaseException | None) -> bool:
    while exc is not None:
        if "deadlock detected" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def outlasting_a_deadlock(flush):
    """``flush()`` (a TRUNCATE of every table), tried up to three times while PostgreSQL
    aborts it as a deadlock with a worker still writing; any other error is raised at once."""
    for attempt in range(1, 4):
        try:
            return flush()
        except Exception as exc:
            if attempt == 3 or not _deadlocked(exc):
                raise
            time.sleep(0.2 * attempt)  # a back-off before the retry, not a wait for a state


@pytest.fixture(scope="session", autouse=True)
def _flush_outlasts_a_deadlock():
    """A ``transaction=True`` test ends with a TRUNCATE of every table, which takes their
    locks one by one; a worker still writing for a run the test left training can hold one
    and wait for another, and PostgreSQL then aborts one side as a deadlock. When that side
    is the flush, it is tried again (the worker's write was the one that went through)."""
    from django.test import TransactionTestCase

    original = TransactionTestCase._fixture_teardown

    def teardown(self):
        return outlasting_a_deadlock(lambda: original(self))

    TransactionTestCase._fixture_teardown = teardown
    yield
    TransactionTestCase._fixture_teardown = original


# Short leases, so a killed worker's run is reaped in seconds, not a minute.
TEST_LEASE_SECONDS = "6"
TEST_REAPER_SECONDS = "1"


@pytest.fixture(scope="session")
def servers_env(django_db_setup, django_db_blocker):
    from django.db import connection

    with django_db_blocker.unblock():
        name = connection.settings_dict["NAME"]  # the test database pytest-django made
    purge_queues()
    env = server_env(name)
    env["KEISEI_LEASE_SECONDS"] = TEST_LEASE_SECONDS
    env["KEISEI_REAPER_SECONDS"] = TEST_REAPER_SECONDS
    return env


class WorkerSlot:
    """A session-long worker that a test may kill; the next test gets a fresh one."""

    def __init__(self, env: dict[str, str], name: str) -> None:
        self.env, self.name = env, name
        self.worker: ServerProcess | None = None

    def ensure(self) -> ServerProcess:
        if self.worker is None or not self.worker.alive():
            self.worker = start_celery_worker(self.env, self.name)
        return self.worker

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()


@pytest.fixture(scope="session")
def _worker_slots(servers_env):
    slots = {name: WorkerSlot(servers_env, name) for name in ("worker-a", "worker-b")}
    yield slots
    for slot in slots.values():
        slot.stop()


@pytest.fixture
def celery_worker(_worker_slots):
    """One real worker (queues training and default)."""
    return _worker_slots["worker-a"].ensure()


@pytest.fixture
def second_worker(_worker_slots, celery_worker):
    """A second real worker, for tests about two workers and one run."""
    return _worker_slots["worker-b"].ensure()


@pytest.fixture(scope="session")
def celery_beat(servers_env, tmp_path_factory):
    """Real Celery beat (the lease reaper every second)."""
    beat = start_celery_beat(servers_env, tmp_path_factory.mktemp("beat"))
    yield beat
    beat.stop()


@pytest.fixture(scope="session")
def daphne_server(servers_env):
    """A real Daphne serving HTTP and WebSockets; yields its base URL."""
    daphne, base = start_daphne(servers_env)
    yield base
    daphne.stop()
