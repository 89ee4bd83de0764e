"""Queue depths read from the real Redis broker through kombu's public API.

Each test uses a queue of its own that no worker consumes, so what it publishes stays there
until the test deletes the queue.
"""

from __future__ import annotations

import uuid

import pytest
from celery import current_app

from monitoring.queues import QUEUES, queue_depths
from tests.support.waiting import wait_for

pytestmark = pytest.mark.servers  # the broker itself: in the external pass too

DEAD_BROKER = "redis://127.0.0.1:1/0"  # nothing listens there: connections are refused


@pytest.fixture
def probe_queue():
    """A queue name of this test's own; the queue and what waits in it are deleted after."""
    name = f"test-depth-{uuid.uuid4().hex}"
    yield name
    with current_app.connection_for_write() as conn:
        conn.default_channel.queue_delete(name)


def test_a_queue_counts_the_messages_waiting_in_it(probe_queue):
    for _ in range(3):  # never run: no worker consumes this queue
        current_app.send_task("runs.never_run_in_tests", queue=probe_queue)

    wait_for(
        lambda: queue_depths(queues=(probe_queue,)) == {probe_queue: 3},
        timeout=10,
        what="the broker to count the three published messages",
    )


def test_a_queue_nobody_has_published_to_counts_zero(probe_queue):
    assert queue_depths(queues=(probe_queue,)) == {probe_queue: 0}


def test_the_real_queues_are_counted():
    depths = queue_depths()
    assert set(depths) == set(QUEUES)
    assert all(isinstance(depth, int) and depth >= 0 for depth in depths.values())


def test_an_unreachable_broker_gives_none_for_every_queue(monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_READ_URL", DEAD_BROKER)  # read before the settings

    assert queue_depths() == dict.fromkeys(QUEUES)
