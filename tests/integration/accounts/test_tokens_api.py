"""``/api/v1/tokens/`` as a client sees it: real HTTP to the real Daphne the fixtures start,
on the real PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from django.db import connection
from django.utils import timezone
from knox.crypto import hash_token

from accounts.models import ApiToken
from tests.conftest import PASSWORD
from tests.support.refusals import fields, refusal
from tests.support.tokens import api_token

pytestmark = pytest.mark.django_db(transaction=True)


def client(base: str, token: str | None = None, **extra) -> httpx.Client:
    headers = {"Authorization": f"Token {token}"} if token else {}
    return httpx.Client(base_url=f"{base}/api/v1/", headers=headers, timeout=30, **extra)


def test_owner_trades_a_password_for_a_token_lists_it_and_logs_out(daphne_server, owner):
    with client(daphne_server, auth=(owner.username, PASSWORD)) as basic:
        made = basic.post("tokens/", json={"name": "laptop cli", "expires_in_days": 30})
    assert made.status_code == 201, made.text
    body = made.json()
    assert set(body) == {
        "id", "name", "prefix", "created_at", "expires_at", "last_used_at", "token"
    }  # fmt: skip
    key = body["token"]
    assert body["name"] == "laptop cli" and key.startswith(body["prefix"])
    assert body["last_used_at"] is None
    expires = datetime.fromisoformat(body["expires_at"])
    assert abs(expires - (timezone.now() + timedelta(days=30))) < timedelta(minutes=5)

    with client(daphne_server, key) as mine:
        assert mine.get("runs/").status_code == 200
        listed = mine.get("tokens/").json()
        assert [t["id"] for t in listed] == [body["id"]]
        assert "token" not in listed[0] and listed[0]["prefix"] == body["prefix"]
        assert listed[0]["last_used_at"] is not None  # this very request used it
        assert mine.delete("tokens/current/").status_code == 204
        after = mine.get("runs/")
    assert after.status_code == 401
    assert refusal(after)["code"] == "token_revoked"


def test_the_key_is_stored_only_as_its_hash(owner):
    key = api_token(owner)
    token = ApiToken.objects.get(user=owner)
    assert token.digest == hash_token(key) and token.token_key == key[:15]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apitoken")
        stored = [str(value) for row in cursor.fetchall() for value in row]
    assert stored and not any(key in value for value in stored)


def test_tokens_are_listed_newest_first_without_revoked_or_others(daphne_server, owner, outsider):
    first, second, gone = (api_token(owner, name=n) for n in ("first", "second", "gone"))
    api_token(outsider, name="oscar's")
    ApiToken.objects.filter(name="gone").update(revoked_at=timezone.now())
    with client(daphne_server, second) as mine:
        names = [t["name"] for t in mine.get("tokens/").json()]
    assert names == ["second", "first"]


@pytest.mark.parametrize(
    "change, code, said",
    [
        ({"expiry": timezone.now() - timedelta(seconds=1)}, "token_expired", "expired"),
        ({"revoked_at": timezone.now()}, "token_revoked", "revoked"),
    ],
)
def test_expired_and_revoked_tokens_are_refused_saying_which(
    daphne_server, owner, change, code, said
):
    key = api_token(owner)
    ApiToken.objects.filter(user=owner).update(**change)
    with client(daphne_server, key) as stale:
        for response in (stale.get("runs/"), stale.get("tokens/"), stale.post("tokens/", json={})):
            assert response.status_code == 401, response.text
            assert refusal(response)["code"] == code
            assert said in refusal(response)["message"]
    assert ApiToken.objects.filter(user=owner).exists()  # kept, so the message can say which


def test_an_unknown_token_is_refused(daphne_server, owner):
    api_token(owner)
    with client(daphne_server, "f" * 64) as unknown:
        response = unknown.get("runs/")
    assert response.status_code == 401
    assert refusal(response)["code"] == "authentication_failed"


def test_revoking_one_token_leaves_the_others(daphne_server, owner):
    keep, drop = api_token(owner, name="keep"), api_token(owner, name="drop")
    drop_id = ApiToken.objects.get(name="drop").pk
    with client(daphne_server, keep) as mine:
        assert mine.delete(f"tokens/{drop_id}/").status_code == 204
        assert mine.delete(f"tokens/{drop_id}/").status_code == 404  # already gone
        assert mine.get("runs/").status_code == 200
    with client(daphne_server, drop) as dropped:
        assert refusal(dropped.get("runs/"))["code"] == "token_revoked"


def test_another_users_token_cannot_be_revoked(daphne_server, owner, outsider):
    theirs = api_token(owner)
    token_id = ApiToken.objects.get(user=owner).pk
    with client(daphne_server, api_token(outsider)) as oscar:
        response = oscar.delete(f"tokens/{token_id}/")
    assert response.status_code == 404
    assert refusal(response)["code"] == "not_found"
    assert ApiToken.objects.get(pk=token_id).revoked_at is None
    with client(daphne_server, theirs) as olivia:
        assert olivia.get("runs/").status_code == 200


def test_basic_auth_is_accepted_on_post_tokens_alone(daphne_server, owner):
    with client(daphne_server, auth=(owner.username, PASSWORD)) as basic:
        assert basic.post("tokens/", json={"name": "cli"}).status_code == 201
        for response in (basic.get("runs/"), basic.get("tokens/"), basic.delete("tokens/current/")):
            assert response.status_code == 401, response.request.url
            assert refusal(response)["code"] == "not_authenticated"
    with client(daphne_server, auth=(owner.username, "wrong")) as wrong:
        refused = wrong.post("tokens/", json={"name": "cli"})
    assert refused.status_code == 401
    assert refusal(refused)["code"] == "authentication_failed"


def test_bad_fields_are_named(daphne_server, owner):
    with client(daphne_server, api_token(owner)) as mine:
        cases = [
            ({}, "name"),
            ({"name": ""}, "name"),
            ({"name": "x" * 81}, "name"),
            ({"name": "ok", "expires_in_days": 0}, "expires_in_days"),
            ({"name": "ok", "expires_in_days": 366}, "expires_in_days"),
            ({"name": "ok", "expires_in_days": "soon"}, "expires_in_days"),
        ]
        for body, field in cases:
            response = mine.post("tokens/", json=body)
            assert response.status_code == 400, body
            assert set(fields(response)) == {field}, body
        forever = mine.post("tokens/", json={"name": "forever", "expires_in_days": None})
        default = mine.post("tokens/", json={"name": "default"})
    assert forever.status_code == 201 and forever.json()["expires_at"] is None
    expires = datetime.fromisoformat(default.json()["expires_at"])
    assert abs(expires - (timezone.now() + timedelta(days=90))) < timedelta(minutes=5)


def test_anonymous_gets_401_everywhere_on_tokens(daphne_server):
    with client(daphne_server) as nobody:
        for response in (
            nobody.get("tokens/"),
            nobody.post("tokens/", json={"name": "x"}),
            nobody.delete("tokens/1/"),
            nobody.delete("tokens/current/"),
        ):
            assert response.status_code == 401, response.request.url
            assert refusal(response)["code"] == "not_authenticated"


def test_a_session_makes_tokens_but_has_no_current_token_to_revoke(owner):
    from rest_framework.test import APIClient

    session = APIClient()
    session.force_login(owner)
    assert session.post("/api/v1/tokens/", {"name": "web"}, format="json").status_code == 201
    response = session.delete("/api/v1/tokens/current/")
    assert response.status_code == 400
    assert refusal(response)["code"] == "not_token_authenticated"
    assert ApiToken.objects.get(user=owner).revoked_at is None
