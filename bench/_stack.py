"""Shared by the benchmarks: embedded servers, Django and real workers, started and stopped here."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@contextlib.contextmanager
def django_stack() -> Iterator[dict[str, str]]:
    """Embedded PostgreSQL and Redis in a temporary folder, Django set up and migrated."""
    from keisei_site.embedded import start_services

    with tempfile.TemporaryDirectory(prefix="keisei-bench-") as tmp:
        services = start_services(Path(tmp), persistent=False)
        try:
            env = {
                **services.env,
                "SECRET_KEY": "bench",
                "KEISEI_VAR_DIR": tmp,
                "DJANGO_SETTINGS_MODULE": "keisei_site.settings",
                "DATABASE_CONN_MAX_AGE": "0",
            }
            os.environ.update(env)
            import django
            from django.core.management import call_command

            django.setup()
            call_command("migrate", verbosity=0)
            yield dict(os.environ)
        finally:
            from django.db import connections

            connections.close_all()
            services.stop()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
