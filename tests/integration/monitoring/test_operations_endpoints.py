"""``/healthz``, ``/readyz``, ``/metrics`` and JSON logs, over a real Daphne.

The Daphne here is the suite's helper started with ``LOG_FORMAT=json`` and a ``METRICS_TOKEN``,
so that its log lines and the scrape's token can be checked where a client stands.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from monitoring.queues import queue_depths
from monitoring.readiness import migrations_unapplied
from monitoring.services import metrics_record
from runs.models import Run, RunStatus
from runs.services import runs_reap_expired
from tests.support.outages import stop_embedded_redis
from tests.support.servers import start_daphne
from tests.support.sockets import connect, receive_type, token_for
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "scrape-token-for-tests-only"


@pytest.fixture(scope="module")
def ops_daphne(servers_env):
    env = {**servers_env, "LOG_FORMAT": "json", "METRICS_TOKEN": TOKEN}
    daphne, base = start_daphne(env)
    yield daphne, base
    daphne.stop()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
    """Status, headers (case-insensitive: Daphne writes ``X-Request-Id``) and body."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


# ----- /healthz and /readyz -------------------------------------------------------------------


def test_ready_when_database_migrations_broker_channel_layer_and_cache_answer(ops_daphne):
    _, base = ops_daphne
    status, _, body = get(f"{base}/readyz")
    assert status == 200, body
    assert json.loads(body) == {
        "status": "ok",
        "checks": {
            "database": "ok",
            "migrations": "ok",
            "broker": "ok",
            "channel_layer": "ok",
            "cache": "ok",
        },
    }


def test_redis_stopped_is_not_ready_naming_the_broker_and_channel_layer(ops_daphne):
    _, base = ops_daphne
    stopped = stop_embedded_redis()
    try:
        status, _, body = get(f"{base}/readyz")
        alive, _, _ = get(f"{base}/healthz")
    finally:
        stopped.start()
    answer = json.loads(body)
    assert status == 503, answer
    # The embedded broker and cache are the same Redis as the channel layer: all are named.
    assert answer["failing"] == ["broker", "cache", "channel_layer"], answer
    assert answer["checks"]["database"] == "ok"
    assert alive == 200  # the process is alive: no reason to restart it
    wait_for(lambda: get(f"{base}/readyz")[0] == 200, timeout=30, what="/readyz to be ready again")


def _latest_migration(app: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM django_migrations WHERE app = %s ORDER BY id DESC", [app])
        return cursor.fetchone()[0]


def test_an_unapplied_migration_is_not_ready_and_named(ops_daphne):
    _, base = ops_daphne
    name = _latest_migration("runs")
    with connection.cursor() as cursor:
        cursor.execute("SELECT applied FROM django_migrations WHERE app='runs' AND name=%s", [name])
        applied = cursor.fetchone()[0]
        # As after deploying code with a new migration, before `migrate` ran.
        cursor.execute("DELETE FROM django_migrations WHERE app='runs' AND name=%s", [name])
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        # The check agrees with Django's own plan of what `migrate` would apply.
        assert migrations_unapplied() == sorted(f"{m.app_label}.{m.name}" for m, _ in plan)
        assert migrations_unapplied() == [f"runs.{name}"]
        status, _, body = get(f"{base}/readyz")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO django_migrations (app, name, applied) VALUES ('runs', %s, %s)",
                [name, applied],
            )
    answer = json.loads(body)
    assert status == 503, answer
    assert answer["failing"] == ["migrations"]
    assert f"runs.{name}" in answer["checks"]["migrations"]
    assert get(f"{base}/readyz")[0] == 200


# ----- /metrics -------------------------------------------------------------------------------


def scrape(base: str, headers: dict[str, str]) -> dict[str, dict[tuple, float]]:
    status, response_headers, body = get(f"{base}/metrics", headers)
    assert status == 200, body
    assert response_headers["Content-Type"].startswith("text/plain")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[labels] = sample.value
    return samples


BEARER = {"Authorization": f"Bearer {TOKEN}"}


def test_metrics_are_for_staff_or_the_scrape_token_only(ops_daphne, client, owner, staff):
    _, base = ops_daphne
    assert get(f"{base}/metrics")[0] == 401
    assert get(f"{base}/metrics", {"Authorization": "Bearer wrong"})[0] == 401
    client.force_login(owner)  # signed in, not staff
    cookie = {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}
    assert get(f"{base}/metrics", cookie)[0] == 401
    client.force_login(staff)
    cookie = {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}
    assert "keisei_runs" in scrape(base, cookie)
    assert "keisei_runs" in scrape(base, BEARER)


def _run(owner: Any, status: str, **fields: Any) -> Run:
    return Run.objects.create(owner=owner, trainer="digits", config={}, status=status, **fields)


def test_scrape_matches_the_database_redis_and_broker(ops_daphne, owner, celery_worker):
    _, base = ops_daphne
    now = timezone.now()
    running = [
        _run(owner, RunStatus.RUNNING, lease_owner="h:1", lease_expires_at=now + dt.timedelta(1))
        for _ in range(2)
    ]
    _run(owner, RunStatus.COMPLETED)
    # A run whose worker vanished: its lease ran out, the reaper takes it back (and counts it).
    lost = _run(owner, RunStatus.RUNNING, lease_owner="h:2", lease_expires_at=now, attempts=1)
    for step, value in ((10, 100.0), (20, 250.5)):
        metrics_record(run_id=running[0].pk, points=[("time/positions_per_s", step, value, now)])
    metrics_record(run_id=running[1].pk, points=[("time/positions_per_s", 5, 42.0, now)])
    metrics_record(run_id=running[1].pk, points=[("losses/entropy", 9, 7.0, now)])
    before = scrape(base, BEARER).get("keisei_lease_expiries_total", {})
    expired_before = before.get((("kind", "run"),), 0.0)
    assert lost.pk in runs_reap_expired(now=now + dt.timedelta(seconds=1))

    samples = scrape(base, BEARER)

    for status in RunStatus.values:
        expected = Run.objects.filter(status=status).count()
        assert samples["keisei_runs"][(("status", status),)] == expected, status
    assert samples["keisei_run_positions_per_second"] == {
        (("run", str(running[0].pk)),): 250.5,  # the latest step's, not the largest value
        (("run", str(running[1].pk)),): 42.0,
    }
    depths = queue_depths()
    assert {dict(k)["queue"]: v for k, v in samples["keisei_queue_messages"].items()} == depths
    assert samples["keisei_lease_expiries_total"][(("kind", "run"),)] == expired_before + 1
    assert all(v == 1 for v in samples["keisei_metrics_source_up"].values())
    # The worker reports its live publisher's and reporter's figures through its statistics.
    reported = wait_for(
        lambda: scrape(base, BEARER).get("keisei_reporter_backlog"),
        timeout=30,
        what="the worker's reporter figures in /metrics",
    )
    assert all(v >= 0 for v in reported.values())
    later = scrape(base, BEARER)
    assert later["keisei_live_messages_dropped_total"].keys() == reported.keys()


def test_websocket_connections_are_counted_over_every_process(ops_daphne, owner):
    _, base = ops_daphne
    run = _run(owner, RunStatus.QUEUED)
    token = token_for(owner)

    async def with_sockets() -> tuple[float, float]:
        baseline = await asyncio.to_thread(lambda: scrape(base, BEARER))
        before = baseline["keisei_websocket_connections"][()]
        sockets = [await connect(base, f"/ws/runs/{run.pk}/", token) for _ in range(3)]
        try:
            for ws in sockets:
                await receive_type(ws, "connected")
            during = await asyncio.to_thread(lambda: scrape(base, BEARER))
            return before, during["keisei_websocket_connections"][()]
        finally:
            for ws in sockets:
                await ws.close()

    before, during = asyncio.run(with_sockets())
    assert during == before + 3


# ----- logs -----------------------------------------------------------------------------------


def test_a_request_id_is_echoed_and_in_the_json_log_line(ops_daphne):
    daphne, base = ops_daphne
    status, headers, _ = get(f"{base}/no-such-page-xyz", {"X-Request-ID": "probe-7f3a"})
    assert status == 404
    assert headers["X-Request-ID"] == "probe-7f3a"

    def logged() -> dict | None:
        for line in list(daphne.output):
            if line.startswith("{") and "no-such-page-xyz" in line:
                return json.loads(line)
        return None

    entry = wait_for(logged, timeout=10, what="Daphne's JSON log line of the 404")
    assert entry["request_id"] == "probe-7f3a"
    assert entry["level"] == "WARNING" and entry["logger"] == "django.request"

    # An id that could forge log lines is replaced by one of ours.
    _, headers, _ = get(f"{base}/healthz", {"X-Request-ID": 'bad id"}'})
    assert len(headers["X-Request-ID"]) == 32 and headers["X-Request-ID"].isalnum()
