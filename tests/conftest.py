"""Named personas (as healthchecks does) and clients, shared by every test."""

from __future__ import annotations

import os

# Test-only trainers, for this process and the servers the tests start.
os.environ.setdefault(
    "KEISEI_TRAINERS",
    "broken=tests.support.trainers:BrokenTrainer,"
    "third-party-shogi=tests.support.trainers:ThirdPartyShogiTrainer,"
    "counting=tests.support.trainers:CountingTrainer,"
    "hanging=tests.support.trainers:HangingTrainer,"
    "memory-hog=tests.support.trainers:MemoryHogTrainer",
)

import pytest  # noqa: E402

pytest_plugins = ["tests.support.fixtures"]

PASSWORD = "correct-horse-battery-staple"


KINDS = ("unit", "integration", "browser")


def _kind(item) -> int:
    path = str(item.path)
    return next((i for i, kind in enumerate(KINDS) if f"/tests/{kind}/" in path), 1)


# The production path (``-m servers``, what ``make test-external`` runs): tests with a real
# Celery worker, beat or Daphne (hence the broker, the channel layer and PostgreSQL from other
# processes), or marked ``servers`` by hand (the broker alone, the launcher). The rest talk to
# PostgreSQL from the test process only, which the embedded pass has already proven.
SERVER_FIXTURES = frozenset(
    {"servers_env", "celery_worker", "second_worker", "celery_beat", "daphne_server"}
)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "servers: the production path (a real worker, beat, Daphne or the broker)"
    )
    config.pluginmanager.register(KindOrder(), "keisei-kind-order")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Mark each test by its folder (``-m unit``, ``-m integration``, ``-m browser``) and by
    its servers; first, before pytest's ``-m`` deselects by marker."""
    for item in items:
        item.add_marker(getattr(pytest.mark, KINDS[_kind(item)]))
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """A test that failed while PostgreSQL was away (an outage test) leaves this process's
    connection dead; Django checks a connection's health once per request, never between
    tests, so every later test would fail on it. Drop it: the next use opens a new one."""
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and conn.connection.closed:
            conn.close()


class KindOrder:
    """Runs the kinds in that order, after every other plugin's reordering: browser tests
    last, as Playwright keeps an event loop running."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items):
        items.sort(key=_kind)  # stable: pytest-django's order holds within a kind


def _user(username: str, **extra):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)


@pytest.fixture
def owner(db):
    """Olivia owns the runs under test."""
    return _user("olivia")


@pytest.fixture
def outsider(db):
    """Oscar has an account but no business with Olivia's runs."""
    return _user("oscar")


@pytest.fixture
def staff(db):
    """Stella is staff: she sees and steers every run."""
    return _user("stella", is_staff=True)


@pytest.fixture
def api_client():
    """A DRF client that is authenticated with ``api_client(user)``'s API token."""
    from rest_framework.test import APIClient

    from tests.support.tokens import api_token

    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(user)}")
        return client

    return make
