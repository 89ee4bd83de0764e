"""Staff see and revoke tokens in the admin; DRF's plain-token page, which would make keys that
no longer authenticate, is gone."""

from __future__ import annotations

import pytest
from django.contrib import admin
from rest_framework.authtoken.models import TokenProxy

from accounts.models import ApiToken
from tests.support.tokens import api_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser("sam", password="x")


def test_staff_list_and_revoke_tokens_in_the_admin(client, superuser, owner):
    key = api_token(owner, name="laptop")
    token = ApiToken.objects.get(user=owner)
    client.force_login(superuser)
    listing = client.get("/admin/accounts/apitoken/")
    assert listing.status_code == 200
    assert b"laptop" in listing.content and key.encode() not in listing.content
    assert client.get("/admin/accounts/apitoken/add/").status_code == 403
    client.post(
        "/admin/accounts/apitoken/",
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_the_plain_token_admin_is_gone():
    assert not admin.site.is_registered(TokenProxy)
