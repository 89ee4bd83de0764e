"""Is this process ready to serve? The checks behind ``/readyz``.

Ready means: PostgreSQL answers, every migration on disk is applied, the Celery broker
answers, the channel layer's Redis answers and Django's cache answers. Each check runs on a
small thread pool with its own deadline, so a server that hangs (rather than refuses) makes
``/readyz`` slow by at most the deadline, never forever. A check answers ``"ok"`` or a short
reason; reasons name the failure kind, never a host, a password or a row.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

OK = "ok"
# Enough threads for two probes in flight while a server hangs; a hung check holds one until
# its own socket timeout ends it.
_executor = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="readyz")
_lock = threading.Lock()
_redis: Any = None
_migration_nodes: set[tuple[str, str]] | None = None


def check_database(timeout: float) -> str:
    from django.db import connection, transaction

    try:
        with transaction.atomic(), connection.cursor() as cursor:
            # A server that accepts but does not answer fails the statement, not the probe.
            cursor.execute("SET LOCAL statement_timeout = %s", [int(timeout * 1000)])
            cursor.execute("SELECT 1")
        return OK
    finally:
        connection.close()  # back to the web pool; this thread keeps nothing


def migrations_unapplied() -> list[str]:
    """The migrations on disk that the database has not recorded as applied, as ``app.name``.

    The migration files are read once per process (they do not change under a running one);
    the applied set is read from the database each time.
    """
    global _migration_nodes
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.recorder import MigrationRecorder

    if _migration_nodes is None:
        # Without a connection: the graph of files only (a squashed migration replaces its
        # parts), which is what a fully migrated database must have applied.
        loader = MigrationLoader(None, ignore_no_migrations=True)
        _migration_nodes = set(loader.graph.nodes)
    try:
        applied = set(MigrationRecorder(connection).applied_migrations())
    finally:
        connection.close()
    return sorted(f"{app}.{name}" for app, name in _migration_nodes - applied)


def check_migrations(timeout: float) -> str:
    missing = migrations_unapplied()
    if not missing:
        return OK
    shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
    return f"error: {len(missing)} unapplied ({shown})"


def check_broker(timeout: float) -> str:
    """A round trip to the broker on a pooled connection (no new connection per probe)."""
    from celery import current_app
    from kombu.exceptions import ChannelError

    from monitoring.queues import DEFAULT_QUEUE, is_missing_queue

    # The app's connection pool (celery-types calls it a producer pool).
    conn: Any = current_app.pool.acquire(block=True, timeout=timeout)
    try:
        conn.ensure_connection(max_retries=0, timeout=timeout)
        channel: Any = conn.default_channel
        client = getattr(channel, "client", None)
        if client is not None and hasattr(client, "ping"):  # kombu's Redis transport
            client.ping()
        else:  # AMQP: a passive declare is a round trip; "no such queue" is an answer too
            try:
                channel.queue_declare(queue=DEFAULT_QUEUE, passive=True)
            except ChannelError as error:
                if not is_missing_queue(error):
                    raise
                conn.default_channel.close()  # RabbitMQ closed it; the next use opens one
        return OK
    except Exception:
        conn.collect()  # a broken connection does not go back into the pool as it is
        raise
    finally:
        conn.release()


def _channel_layer_redis(timeout: float) -> Any:
    """One client per process for the channel layer's Redis (its first host)."""
    global _redis
    with _lock:
        if _redis is None:
            import redis
            from django.conf import settings

            config: Any = settings.CHANNEL_LAYERS["default"]["CONFIG"]
            host = config["hosts"][0]
            address = host["address"] if isinstance(host, dict) else host
            _redis = redis.Redis.from_url(
                address, socket_timeout=timeout, socket_connect_timeout=timeout
            )
        return _redis


def check_channel_layer(timeout: float) -> str:
    _channel_layer_redis(timeout).ping()
    return OK


def check_cache(timeout: float) -> str:
    """A write and a read through Django's cache (Redis), as pages and consumers use it."""
    from django.core.cache import cache

    cache.set("readyz", "1", 10)
    return OK if cache.get("readyz") == "1" else "error: no round trip"


CHECKS: dict[str, Callable[[float], str]] = {
    "database": check_database,
    "migrations": check_migrations,
    "broker": check_broker,
    "channel_layer": check_channel_layer,
    "cache": check_cache,
}


def readiness(*, timeout: float = 2.0) -> dict[str, str]:
    """Every check's answer, by name; all run at once, each within ``timeout`` seconds."""
    # In a copy of the caller's context: its log lines keep the request id, and Django's
    # cache (per context under ASGI) is the request's, as in any view.
    futures = {
        name: _executor.submit(contextvars.copy_context().run, check, timeout)
        for name, check in CHECKS.items()
    }
    done, _ = concurrent.futures.wait(futures.values(), timeout=timeout)
    answers = {}
    for name, future in futures.items():
        if future not in done:
            answers[name] = f"error: no answer within {timeout:g} s"
            continue
        try:
            answers[name] = future.result()
        except Exception as exc:
            log.warning("readiness check %s failed", name, exc_info=True)
            answers[name] = f"error: {type(exc).__name__}"
    return answers
