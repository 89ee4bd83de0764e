"""``manage.py token_create``: the key printed once, on stdout alone, and it works."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from accounts.models import ApiToken
from accounts.services import token_authenticate

pytestmark = pytest.mark.django_db


def test_token_create_prints_a_working_key(owner):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "token_create", owner.username, "--name", "ci", "--days", "7", stdout=out, stderr=err
    )
    key = out.getvalue().strip()
    token = token_authenticate(key=key)
    assert token.user == owner and token.name == "ci"
    assert token.prefix in err.getvalue() and key not in err.getvalue()


def test_token_create_without_expiry(owner):
    call_command(
        "token_create", owner.username, "--no-expiry", stdout=io.StringIO(), stderr=io.StringIO()
    )
    assert ApiToken.objects.get(user=owner).expiry is None


def test_token_create_names_what_is_wrong(owner):
    with pytest.raises(CommandError, match="username"):
        call_command("token_create", "nobody", stdout=io.StringIO())
    with pytest.raises(CommandError, match="expires_in_days"):
        call_command("token_create", owner.username, "--days", "0", stdout=io.StringIO())
    assert not ApiToken.objects.exists()
