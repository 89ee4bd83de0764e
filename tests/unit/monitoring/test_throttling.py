"""The sliding-window throttle's wait: how long until the estimate drops below the limit."""

from __future__ import annotations

import pytest

from monitoring.throttling import seconds_until_allowed


def test_an_old_previous_window_fades_within_this_one():
    # 10 in the previous minute, 5 in this one, limit 10, 30 s in: estimate 10*30/60+5 = 10.
    wait = seconds_until_allowed(limit=10, window_s=60, current=5, previous=10, elapsed_s=30)
    # ceil(10 * (30 - t) / 60) + 5 < 10  <=>  10 * (30 - t) / 60 <= 4  <=>  t >= 6
    assert wait == pytest.approx(6.0)
    wait = seconds_until_allowed(limit=10, window_s=60, current=8, previous=10, elapsed_s=30)
    # ceil(10 * (30 - t) / 60) + 8 < 10  <=>  10 * (30 - t) / 60 <= 1  <=>  t >= 24
    assert wait == pytest.approx(24.0)


def test_a_full_window_waits_into_the_next():
    # Limit reached in this window alone: wait for its end, then until its weight is low.
    wait = seconds_until_allowed(limit=3, window_s=1, current=3, previous=0, elapsed_s=0.25)
    assert wait == pytest.approx(0.75)
    wait = seconds_until_allowed(limit=3, window_s=60, current=6, previous=0, elapsed_s=10)
    # 50 s to the next window, then 6 * (60 - e) / 60 < 3  <=>  e > 30.
    assert wait == pytest.approx(80.0)
