"""The broker a worker starts on: a RabbitMQ that cannot honour the training consumers' ack
timeout is named in the worker's log, with what to do.

Why it matters (docs/operations.md, "The broker"): a training run holds its wake-up
unacknowledged from claim to end. RabbitMQ closes the channel of a consumer that holds a
delivery longer than its ``consumer_timeout`` (30 min by default), and Celery takes that
``PRECONDITION_FAILED`` as an unrecoverable error: the worker stops consuming and exits once
its run ends (seen on RabbitMQ 3.10 with a 10 s timeout). The consumers ask for a longer
timeout (``x-consumer-timeout``), which RabbitMQ honours only from 3.12.
"""

from __future__ import annotations

import logging
import re
from typing import Any

log = logging.getLogger(__name__)

# The first RabbitMQ that honours a per-consumer ``x-consumer-timeout``.
PER_CONSUMER_TIMEOUT_SINCE = (3, 12)


def consumer_timeout_ignored(version: str) -> bool:
    """True when a RabbitMQ of ``version`` ignores the consumers' ``x-consumer-timeout``."""
    numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:2])
    return len(numbers) == 2 and numbers < PER_CONSUMER_TIMEOUT_SINCE


def rabbitmq_version(conn: Any) -> str:
    """The server's version, from what RabbitMQ says when the connection opens."""
    version = conn.connection.server_properties.get("version", "")
    return version.decode() if isinstance(version, bytes) else str(version)


def warn_if_consumer_timeout_ignored(**_: Any) -> None:
    """Celery's ``worker_ready``: on RabbitMQ older than 3.12, say so once in the log."""
    from celery import current_app
    from django.conf import settings

    if not settings.BROKER_IS_AMQP:
        return
    try:
        with current_app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1)
            version = rabbitmq_version(conn)
    except Exception:  # a broker check must never stop a worker that just started
        log.warning("could not read the RabbitMQ version", exc_info=True)
        return
    if consumer_timeout_ignored(version):
        log.warning(
            "RabbitMQ %s ignores the consumers' x-consumer-timeout (honoured from 3.12): a "
            "training run that lasts longer than the server's consumer_timeout (30 min unless "
            "rabbitmq.conf raises it) gets this worker's channel closed, and the worker exits "
            "when the run ends. Raise consumer_timeout in rabbitmq.conf, e.g. "
            "consumer_timeout = %d (docs/operations.md, 'The broker')",
            version,
            settings.KEISEI_BROKER_ACK_TIMEOUT_SECONDS * 1000,
        )
