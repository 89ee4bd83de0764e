"""The web process serves requests from pools of PostgreSQL and Redis connections, not new
connections per request.

Django under ASGI runs each request's sync code on a thread of its own, and a kept
connection belongs to its thread: without the pool (keisei_site/asgi.py asks for it), every
request opened a new PostgreSQL session, about 10 ms of a 20 ms metric-history request. Its
cache backends live per request too, and each built its own Redis connection pool
(monitoring/cache_pool.py shares one per process).
"""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest
from django.db import connection

from keisei_site.request_threads import RequestThreads
from tests.support.outages import (
    embedded_pgdata,
    postgres_restart,
    redis_client,
)
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

REQUESTS = 30


def _web_sessions() -> dict[int, object]:
    """The web process's sessions on this database: pid -> when the session started."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, backend_start FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = 'keisei-web'"
        )
        return dict(cursor.fetchall())


class Healthz:
    """``/readyz`` over one kept-alive HTTP connection: a sync view that runs queries (its
    database and migration checks) and writes and reads the cache (``/healthz`` touches no
    server any more)."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.client = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

    def __call__(self) -> None:
        self.client.request("GET", "/readyz")
        response = self.client.getresponse()
        body = response.read()
        assert response.status == 200, body
        assert json.loads(body)["checks"]["database"] == "ok"


def test_requests_reuse_the_web_processs_pooled_sessions(daphne_server):
    healthz = Healthz(daphne_server)
    try:
        healthz()
        before = _web_sessions()
        assert before, "the web process should hold a pooled session after a request"
        for _ in range(REQUESTS):
            healthz()
        after = _web_sessions()
    finally:
        healthz.client.close()

    opened = {pid: started for pid, started in after.items() if pid not in before}
    assert not opened, f"{len(opened)} new sessions for {REQUESTS} requests: no pool"


def test_an_idle_request_thread_holds_no_database_connection():
    """A request's thread goes back to the pool (keisei_site/request_threads.py) without the
    connection its request used: with the pool off (DATABASE_POOL_SIZE=0), idle threads would
    each keep one open. Seen to fail with the idle thread's close left out."""
    threads = RequestThreads()
    executor = threads.borrow()

    def connect() -> bool:
        connection.ensure_connection()
        return connection.connection is not None

    assert executor.submit(connect).result(timeout=10)
    threads.give_back(executor)
    wait_for(lambda: list(threads.idle) == [executor], timeout=10, what="the thread back")
    assert executor.submit(lambda: connection.connection).result(timeout=10) is None


def test_a_postgresql_restart_fails_no_request(daphne_server):
    """Every pooled session dies with the server; each is checked before it is lent out."""
    pgdata = embedded_pgdata()
    healthz = Healthz(daphne_server)
    try:
        for _ in range(3):
            healthz()
        assert _web_sessions()
        connection.close()
        postgres_restart(pgdata)
        for _ in range(3):
            healthz()
    finally:
        healthz.client.close()


def test_requests_share_the_processs_redis_connections(daphne_server):
    """``/readyz`` writes and reads the cache (and asks the broker and the channel layer's
    Redis): 30 of them open no new Redis connection."""
    healthz = Healthz(daphne_server)
    redis = redis_client()
    try:
        healthz()
        before = redis.info("stats")["total_connections_received"]
        for _ in range(REQUESTS):
            healthz()
        opened = redis.info("stats")["total_connections_received"] - before
    finally:
        healthz.client.close()
    # Other processes of the session (a worker's heartbeat) may connect meanwhile; a new
    # connection per request would be 30.
    assert opened < REQUESTS // 3, f"{opened} Redis connections for {REQUESTS} requests"
