"""Integration fixtures: a real Celery worker and a real Daphne on the pytest test database."""

from __future__ import annotations

import pytest

from tests.support.servers import server_env, start_celery_worker, start_daphne


@pytest.fixture(scope="session")
def servers_env(django_db_setup, django_db_blocker):
    from django.db import connection

    with django_db_blocker.unblock():
        name = connection.settings_dict["NAME"]  # the test database pytest-django made
    return server_env(name)


@pytest.fixture(scope="session")
def celery_worker(servers_env):
    """One real worker (queues training and default), for the whole session."""
    worker = start_celery_worker(servers_env)
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def daphne_server(servers_env):
    """A real Daphne serving HTTP and WebSockets; yields its base URL."""
    daphne, base = start_daphne(servers_env)
    yield base
    daphne.stop()
