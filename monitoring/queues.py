"""The Celery queues: their names, and how many messages wait in each.

Plain constants, and functions that import Celery only when called, so that settings and the
launcher can name the queues before Django is set up.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

# Training runs, hours long, one reserved at a time per worker slot (``runs.train_next_run``).
# CPU workers consume ``training``; GPU workers (one process per GPU) ``training-gpu``. Which
# run goes where is ``runs.placement``'s.
TRAINING_QUEUE = "training"
TRAINING_GPU_QUEUE = "training-gpu"
TRAINING_QUEUES = (TRAINING_QUEUE, TRAINING_GPU_QUEUE)
# Short jobs (lease reaper, stranded-run wake-ups, evaluations, league rounds): apart from
# training, so that none waits behind a run for hours.
DEFAULT_QUEUE = "default"
QUEUES = (TRAINING_QUEUE, TRAINING_GPU_QUEUE, DEFAULT_QUEUE)
# What a CPU worker consumes (``make run``'s worker, the tests' workers); a GPU worker
# consumes ``TRAINING_GPU_QUEUE`` alone.
CPU_WORKER_QUEUES = (TRAINING_QUEUE, DEFAULT_QUEUE)

MISSING_QUEUE_REPLY_CODE = 404  # AMQP's NOT_FOUND, which kombu's virtual transports copy


def is_missing_queue(error: Exception) -> bool:
    """True when a passive declare failed because the queue does not exist (yet).

    RabbitMQ answers 404 and closes the channel; kombu's Redis transport raises the same
    error with the code as a string.
    """
    return str(getattr(error, "reply_code", "")) == str(MISSING_QUEUE_REPLY_CODE)


def broker_errors(conn: Any) -> tuple[type[BaseException], ...]:
    """What a broker connection raises when the broker is away or refuses."""
    from kombu.exceptions import OperationalError

    return (OperationalError, *conn.connection_errors, *conn.channel_errors)


def queue_depths(*, queues: tuple[str, ...] = QUEUES) -> dict[str, int | None]:
    """Messages waiting in each queue, as the broker counts them (every priority included).

    A queue that does not exist yet holds 0. None for every queue not read because the broker
    cannot be reached: callers take None as "cannot tell now".
    """
    from celery import current_app
    from kombu.exceptions import ChannelError

    depths: dict[str, int | None] = dict.fromkeys(queues)
    with current_app.connection_for_read() as conn:
        try:
            conn.ensure_connection(max_retries=0)  # one try, no back-off: callers ask again
            for queue in queues:
                # A channel per queue: RabbitMQ closes the channel of a failed passive declare.
                channel: Any = conn.channel()  # kombu's StdChannel type names no AMQP methods
                try:
                    declared = channel.queue_declare(queue=queue, passive=True)
                    depths[queue] = declared.message_count
                except ChannelError as error:
                    if not is_missing_queue(error):
                        raise
                    depths[queue] = 0
                finally:
                    channel.close()
        except broker_errors(conn):
            log.warning("queue depths unavailable", exc_info=True)
    return depths
