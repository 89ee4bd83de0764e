"""Per-user throttling (``KEISEI_API_RATE``): past the rate a user gets 429 ``throttled`` with
``Retry-After``; another user is not slowed by it. The request history is in the real Redis."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from tests.support.refusals import refusal

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_a_minute(settings, owner, outsider):
    settings.KEISEI_API_RATE = "3/min"
    yield
    # Each user's request history lives a minute in Redis: leave none for later tests.
    for user in (owner, outsider):
        cache.delete(f"throttle_user_{user.pk}")


def test_past_the_rate_a_user_is_throttled_with_retry_after(
    api_client, owner, outsider, three_a_minute
):
    api = api_client(owner)
    assert [api.get("/api/v1/me/").status_code for _ in range(3)] == [200, 200, 200]
    throttled = api.get("/api/v1/runs/")
    assert throttled.status_code == 429
    assert refusal(throttled)["code"] == "throttled"
    assert 1 <= int(throttled["Retry-After"]) <= 60
    assert api_client(outsider).get("/api/v1/me/").status_code == 200


def test_off_means_no_limit(api_client, owner, settings):
    settings.KEISEI_API_RATE = None
    api = api_client(owner)
    assert {api.get("/api/v1/me/").status_code for _ in range(10)} == {200}
