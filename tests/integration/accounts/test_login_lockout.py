"""Repeated failed sign-ins lock out the username from that address (django-axes): on the
login page and on HTTP Basic of ``POST /api/v1/tokens/``, over a real Daphne. The failure
that reaches the limit is answered with the lockout, and the right password is refused while
locked; the same username from another address, and another username from the same address,
are not; a success clears the count."""

from __future__ import annotations

import re

import httpx
import pytest
from axes.models import AccessAttempt

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery staple"
LIMIT = 5  # KEISEI_LOGIN_FAILURE_LIMIT's default


@pytest.fixture
def user(django_user_model):
    user = django_user_model.objects.create_user("lena", password=PASSWORD)
    yield user
    AccessAttempt.objects.all().delete()


def client(base: str, address: str = "127.0.0.1") -> httpx.Client:
    """From ``address`` (any 127.x.y.z is this host's loopback)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=base, transport=transport, timeout=30)


def sign_in(http: httpx.Client, username: str, password: str) -> httpx.Response:
    page = http.get("/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    return http.post(
        "/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token[1]},
        headers={"Referer": f"{http.base_url}accounts/login/"},
    )


def token_by_basic(http: httpx.Client, username: str, password: str) -> httpx.Response:
    return http.post("/api/v1/tokens/", json={"name": "cli"}, auth=(username, password))


def test_the_login_page_locks_a_username_out_of_one_address(daphne_server, user):
    """Seen failing with axes' backend left out of AUTHENTICATION_BACKENDS: 302, signed in."""
    with client(daphne_server) as http:
        for _ in range(LIMIT - 1):
            failed = sign_in(http, "lena", "wrong")
            assert failed.status_code == 200, failed.text[:3000]  # the form again
        reaching = sign_in(http, "lena", "wrong")
        assert reaching.status_code == 429 and "Too many failed sign-ins" in reaching.text
        locked = sign_in(http, "lena", PASSWORD)
        assert locked.status_code == 429
        assert "Too many failed sign-ins" in locked.text
        assert int(locked.headers["Retry-After"]) == 15 * 60
    with client(daphne_server, "127.0.0.2") as elsewhere:
        assert sign_in(elsewhere, "lena", PASSWORD).status_code == 302  # signed in


def test_basic_auth_failures_count_and_are_told_login_locked(daphne_server, user):
    """Seen failing with plain BasicAuthentication on tokens/: 401 with the right password."""
    with client(daphne_server) as http:
        for _ in range(LIMIT - 1):
            refused = token_by_basic(http, "lena", "wrong")
            assert refused.status_code == 401, refused.text
        assert token_by_basic(http, "lena", "wrong").status_code == 429
        locked = token_by_basic(http, "lena", PASSWORD)
        assert locked.status_code == 429, locked.text
        assert locked.json()["error"]["code"] == "login_locked"
        assert "Too many failed sign-ins" in locked.json()["error"]["message"]
        assert int(locked.headers["Retry-After"]) >= 60
        # Another username from the same address is not locked.
        assert token_by_basic(http, "nobody", "wrong").status_code == 401
    with client(daphne_server, "127.0.0.3") as elsewhere:
        assert token_by_basic(elsewhere, "lena", PASSWORD).status_code == 201


def test_a_success_clears_the_count(daphne_server, user):
    with client(daphne_server) as http:
        for _ in range(LIMIT - 1):
            refused = token_by_basic(http, "lena", "wrong")
            assert refused.status_code == 401, refused.text
        assert token_by_basic(http, "lena", PASSWORD).status_code == 201
        for _ in range(LIMIT - 1):
            refused = token_by_basic(http, "lena", "wrong")
            assert refused.status_code == 401, refused.text
        assert token_by_basic(http, "lena", PASSWORD).status_code == 201
