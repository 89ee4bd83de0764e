"""The live publisher sends a message again once when the channel layer fails: a connection
Redis closed (a restart, a client kill) fails one command, and the client reconnects on the
next. The channel layer is replaced by a fake (a unit test of the send loop, not of Redis;
the restart itself is tested against a real Redis in
tests/integration/monitoring/test_redis_outage.py)."""

from __future__ import annotations

import pytest

from monitoring import live


class FlakyLayer:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent: list[tuple[str, dict]] = []

    async def group_send(self, group: str, event: dict) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("Connection closed by server.")
        self.sent.append((group, event))


def publish_one(monkeypatch, layer: FlakyLayer) -> live.Publisher:
    monkeypatch.setattr("channels.layers.get_channel_layer", lambda *a, **k: layer)
    publisher = live.Publisher()
    publisher.publish(["run-1"], {"type": "log", "run": 1, "seq": 4, "ts": 0.0, "data": {}})
    assert publisher.flush(timeout=10)
    return publisher


def test_a_message_that_meets_a_closed_connection_goes_out_on_the_second_try(monkeypatch):
    layer = FlakyLayer(failures=1)
    publisher = publish_one(monkeypatch, layer)
    assert [group for group, _ in layer.sent] == ["run-1"]
    assert publisher.figures()["sent"] == 1 and publisher.figures()["dropped"] == 0


@pytest.mark.filterwarnings("ignore")
def test_a_layer_that_keeps_failing_drops_the_message_and_counts_it(monkeypatch):
    layer = FlakyLayer(failures=2)
    publisher = publish_one(monkeypatch, layer)
    assert layer.sent == []
    assert publisher.figures()["dropped"] == 1
