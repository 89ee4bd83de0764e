"""The external pass (``make test-external``): the work really goes through the machine's
RabbitMQ, seen from the worker's own connection and from RabbitMQ's side, not only from the
URL that was set. Skipped in the embedded pass, whose broker is the embedded Redis."""

from __future__ import annotations

import os
import socket

import pytest
from celery import current_app
from django.conf import settings
from django.db import transaction
from kombu import Connection

from monitoring.broker import consumer_timeout_ignored, rabbitmq_version
from monitoring.queues import TRAINING_QUEUE
from runs import services
from runs.models import RunStatus
from tests.support.runs import wait_run_finished
from tests.support.servers import start_celery_worker
from tests.support.waiting import wait_for

BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")

pytestmark = [
    pytest.mark.servers,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://")),
        reason="the external pass only: CELERY_BROKER_URL names no RabbitMQ here",
    ),
]


def training_queue_on_rabbitmq() -> tuple[int, int]:
    """(messages, consumers) of the ``training`` queue, asked of RabbitMQ itself (a passive
    declare on a connection of our own, independent of Celery's settings)."""
    with Connection(BROKER_URL) as conn:
        declared = conn.channel().queue_declare(queue=TRAINING_QUEUE, passive=True)
        return declared.message_count, declared.consumer_count


def test_the_worker_consumes_the_training_queue_on_rabbitmq(celery_worker):
    worker = f"worker-a@{socket.gethostname()}"
    # Asked of the worker over the broker (a broadcast): its own broker connection.
    stats = current_app.control.inspect(destination=[worker], timeout=10).stats()
    assert stats and worker in stats, f"the worker did not answer over the broker: {stats}"
    broker = stats[worker]["broker"]
    assert (broker["transport"], broker["hostname"], broker["port"]) == ("amqp", "127.0.0.1", 5672)
    _, consumers = training_queue_on_rabbitmq()
    assert consumers >= 1, "RabbitMQ's training queue has no consumer"


def test_runs_go_through_rabbitmq_highest_priority_first(celery_worker, owner):
    """Wake-ups on RabbitMQ are FIFO; the worker still trains the higher priority first,
    because priorities live in PostgreSQL (no x-max-priority queue is needed)."""
    config = {"epochs": 2}
    with transaction.atomic():  # both wake-ups leave together, after the commit
        low = services.run_queue(owner=owner, trainer="digits", config=config, priority=0)
        high = services.run_queue(owner=owner, trainer="digits", config=config, priority=10)
    for run in (low, high):
        wait_run_finished(run, timeout=180, what=f"run {run.pk} to finish through RabbitMQ")
        assert run.status == RunStatus.COMPLETED, run.error
    assert high.started_at < low.started_at
    # Every wake-up (the two, and the one a run's end sends while another waits) is taken
    # from RabbitMQ's queue and acknowledged; the last may still be on its way to the worker.
    wait_for(
        lambda: training_queue_on_rabbitmq()[0] == 0,
        timeout=60,
        what="RabbitMQ's training queue to be empty",
    )


def test_training_consumers_ask_rabbitmq_for_a_long_ack_timeout():
    """RabbitMQ's consumer_timeout (30 min) would close the channel of every training run;
    our consumers carry their own (honoured from RabbitMQ 3.12, docs/operations.md)."""
    queue = current_app.amqp.queues[TRAINING_QUEUE]
    assert queue.consumer_arguments == {
        "x-consumer-timeout": settings.KEISEI_BROKER_ACK_TIMEOUT_SECONDS * 1000
    }
    assert current_app.conf.broker_transport_options == {"confirm_publish": True}


def test_a_worker_on_a_rabbitmq_before_3_12_says_how_to_raise_its_consumer_timeout(servers_env):
    """RabbitMQ before 3.12 ignores the consumers' x-consumer-timeout; a run longer than the
    server's consumer_timeout would then end its worker (monitoring/broker.py): the worker
    says so as it starts, with the rabbitmq.conf line."""
    with Connection(BROKER_URL) as conn:
        conn.connect()
        version = rabbitmq_version(conn)
    worker = start_celery_worker(servers_env, "version-check")
    try:
        warning = f"RabbitMQ {version} ignores the consumers' x-consumer-timeout"
        timeout_line = f"consumer_timeout = {settings.KEISEI_BROKER_ACK_TIMEOUT_SECONDS * 1000}"
        if consumer_timeout_ignored(version):
            said = wait_for(
                lambda: next((line for line in worker.output if warning in line), None),
                timeout=30,
                what="the worker to warn about the RabbitMQ version",
            )
            assert timeout_line in said
        else:
            assert not any(warning in line for line in worker.output)
    finally:
        worker.stop()
