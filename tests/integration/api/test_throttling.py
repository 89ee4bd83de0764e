"""Per-user throttling (``KEISEI_API_RATE``): past the rate a user gets 429 ``throttled`` with
``Retry-After``; another user is not slowed by it. The counts are in the real Redis."""

from __future__ import annotations

import pytest
import redis

from tests.support.refusals import refusal
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_a_minute(settings, owner, outsider):
    settings.KEISEI_API_RATE = "3/min"
    yield
    # Each user's counts live two minutes in Redis: leave none for later tests.
    client = redis.Redis.from_url(settings.REDIS_URL)
    for user in (owner, outsider):
        for key in client.scan_iter(match=f"*:throttle:user:u{user.pk}:*"):
            client.delete(key)


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


def test_a_refused_request_is_not_counted_and_the_window_slides(api_client, owner, settings):
    settings.KEISEI_API_RATE = "3/s"
    api = api_client(owner)
    # A one-second window: the limit is reached within a few requests, whatever the timing.
    codes = [api.get("/api/v1/me/").status_code for _ in range(12)]
    assert 429 in codes and codes[:3] == [200, 200, 200]
    # Refusals are not counted: a client asking ten times a second still gets in again.
    wait_for(
        lambda: api.get("/api/v1/me/").status_code == 200,
        timeout=5,
        what="the one-second window to slide past the counted requests",
    )
