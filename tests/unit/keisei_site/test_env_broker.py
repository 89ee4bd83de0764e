"""The Celery broker: Redis by default, a RabbitMQ when CELERY_BROKER_URL names one."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from keisei_site import env


def test_without_a_broker_url_the_redis_is_the_broker(monkeypatch):
    monkeypatch.delenv("TEST_BROKER", raising=False)
    url = env.broker_url("TEST_BROKER", "unix:///v/redis.sock?db=0")
    assert url == "redis+socket:///v/redis.sock?db=0"
    assert not env.is_amqp(url)


def test_a_rabbitmq_url_is_the_broker(monkeypatch):
    monkeypatch.setenv("TEST_BROKER", "amqp://guest:guest@127.0.0.1:5672//")
    url = env.broker_url("TEST_BROKER", "redis://127.0.0.1:6379/0")
    assert url == "amqp://guest:guest@127.0.0.1:5672//"
    assert env.is_amqp(url)


def test_a_broker_url_of_another_kind_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("TEST_BROKER", "sqs://queue.example")
    with pytest.raises(ImproperlyConfigured, match="TEST_BROKER must be an amqp:// .* 'sqs'"):
        env.broker_url("TEST_BROKER", "redis://127.0.0.1:6379/0")


@pytest.mark.parametrize(
    ("version", "ignored"),
    [("3.10.8", True), ("3.11.28", True), ("3.12.0", False), ("4.1.2", False), ("", False)],
)
def test_rabbitmq_before_3_12_ignores_the_consumers_ack_timeout(version, ignored):
    from monitoring.broker import consumer_timeout_ignored

    assert consumer_timeout_ignored(version) is ignored
