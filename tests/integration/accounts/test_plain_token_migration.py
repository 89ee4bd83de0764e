"""DRF's plain tokens become hashed API tokens with the same key (accounts migration 0002,
run by Django's migration executor on the real database), and the clear keys are gone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken

pytestmark = pytest.mark.django_db

BEFORE = [("accounts", "0001_initial")]
AFTER = [("accounts", "0002_migrate_plain_tokens")]
PLAIN = ("authtoken", "0004_alter_tokenproxy_options")


def migrate(targets: list[tuple[str, str]]):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    # The models as they stand after ``targets``, with DRF's token app beside them.
    return executor.loader.project_state([*targets, PLAIN]).apps


def test_plain_tokens_keep_working_hashed_for_90_days(owner, outsider):
    old_apps = migrate(BEFORE)
    Token = old_apps.get_model("authtoken", "Token")
    plain = {
        user.pk: Token.objects.create(user_id=user.pk, key=f"{user.pk:040x}")
        for user in (owner, outsider)
    }
    new_apps = migrate(AFTER)

    assert not new_apps.get_model("authtoken", "Token").objects.exists()  # no key left in clear
    for user in (owner, outsider):
        (token,) = ApiToken.objects.filter(user=user)
        assert token.name == "migrated"
        assert abs(token.expiry - (timezone.now() + timedelta(days=90))) < timedelta(minutes=5)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {plain[user.pk].key}")
        assert client.get("/api/v1/runs/").status_code == 200
        assert client.get("/api/v1/tokens/").json()[0]["prefix"] == plain[user.pk].key[:15]
