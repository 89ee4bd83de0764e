"""The per-socket message bucket: a burst, then the rate, refilled by the clock."""

from __future__ import annotations

from monitoring.message_rate import MessageBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate():
    clock = Clock()
    bucket = MessageBucket(10, 20, clock=clock)
    assert [bucket.allow() for _ in range(21)] == [True] * 20 + [False]
    clock.now += 0.5  # half a second refills five
    assert [bucket.allow() for _ in range(6)] == [True] * 5 + [False]
    clock.now += 60  # never more than the burst, however long the pause
    assert sum(bucket.allow() for _ in range(30)) == 20
