"""DRF's plain tokens become hashed API tokens with the same key (accounts migration 0002),
and the clear keys are gone."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.models import ApiToken
from accounts.services import token_authenticate

pytestmark = pytest.mark.django_db

migration = importlib.import_module("accounts.migrations.0002_migrate_plain_tokens")


def test_plain_tokens_keep_working_hashed_for_90_days(api_client, owner, outsider):
    plain = {user.pk: Token.objects.create(user=user).key for user in (owner, outsider)}
    migration.plain_tokens_to_hashed(apps, None)
    migration.plain_tokens_to_hashed(apps, None)  # run twice: still one token each

    assert not Token.objects.exists()  # no key is left in clear
    for user in (owner, outsider):
        (token,) = ApiToken.objects.filter(user=user)
        assert token.name == "migrated"
        assert abs(token.expiry - (timezone.now() + timedelta(days=90))) < timedelta(minutes=5)
        assert token_authenticate(key=plain[user.pk]).user == user
    from rest_framework.test import APIClient

    old_client = APIClient()
    old_client.credentials(HTTP_AUTHORIZATION=f"Token {plain[owner.pk]}")
    assert old_client.get("/api/v1/runs/").status_code == 200
