"""The bounds of a token request, checked before any row is written."""

from __future__ import annotations

import pytest

from accounts.serializers import TokenCreateSerializer


@pytest.mark.parametrize(
    "body, expected",
    [
        ({"name": "laptop cli"}, {"name": "laptop cli", "expires_in_days": 90}),
        ({"name": "x" * 80, "expires_in_days": 1}, {"name": "x" * 80, "expires_in_days": 1}),
        ({"name": "ci", "expires_in_days": 365}, {"name": "ci", "expires_in_days": 365}),
        ({"name": "ci", "expires_in_days": None}, {"name": "ci", "expires_in_days": None}),
    ],
)
def test_valid_requests(body, expected):
    incoming = TokenCreateSerializer(data=body)
    assert incoming.is_valid(), incoming.errors
    assert dict(incoming.validated_data) == expected


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 81}, "name"),
        ({"name": "ci", "expires_in_days": 0}, "expires_in_days"),
        ({"name": "ci", "expires_in_days": 366}, "expires_in_days"),
        ({"name": "ci", "expires_in_days": 1.5}, "expires_in_days"),
    ],
)
def test_invalid_requests_name_the_field(body, field):
    incoming = TokenCreateSerializer(data=body)
    assert not incoming.is_valid()
    assert set(incoming.errors) == {field}
