"""While PostgreSQL does not answer, the API says so: 503 ``unavailable`` with ``Retry-After``,
in the one refusal body, over a real Daphne; and it answers again once the server is back."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest
from django.db import connection

from tests.support.outages import embedded_pgdata, pg_ctl, postgres_start, postgres_startup
from tests.support.tokens import api_token
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def get(base: str, path: str, token: str) -> tuple[int, dict[str, str], dict]:
    parts = urlsplit(base)
    client = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        client.request("GET", path, headers={"Authorization": f"Token {token}"})
        response = client.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read())
    finally:
        client.close()


def test_a_stopped_database_is_answered_503_unavailable_with_retry_after(daphne_server, owner):
    """Seen failing with the mapping removed from ``api_exception_handler``: 500."""
    token = api_token(owner)
    assert get(daphne_server, "/api/v1/runs/", token)[0] == 200
    pgdata = embedded_pgdata()
    startup = postgres_startup(pgdata)
    connection.close()
    pg_ctl(pgdata, "stop", "-m", "fast")
    try:
        status, headers, body = get(daphne_server, "/api/v1/runs/", token)
    finally:
        postgres_start(pgdata, startup)
    assert status == 503, body
    assert body["error"]["code"] == "unavailable"
    assert "try again" in body["error"]["message"]
    assert int(headers["Retry-After"]) >= 1
    wait_for(
        lambda: get(daphne_server, "/api/v1/runs/", token)[0] == 200,
        timeout=30,
        what="the API to answer again with PostgreSQL back",
    )
