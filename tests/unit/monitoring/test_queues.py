"""Which broker errors mean "this queue does not exist yet" (it then holds 0 messages)."""

from __future__ import annotations

from amqp.exceptions import AccessRefused, NotFound
from kombu.exceptions import ChannelError

from monitoring.queues import is_missing_queue


def test_rabbitmqs_not_found_is_a_missing_queue():
    assert is_missing_queue(NotFound("NOT_FOUND - no queue 'training'"))


def test_kombus_virtual_not_found_is_a_missing_queue():
    # As kombu's Redis transport raises it on a passive declare (the code is a string there).
    error = ChannelError("NOT_FOUND - no queue 'x'", (50, 10), "Channel.queue_declare", "404")
    assert is_missing_queue(error)


def test_other_channel_errors_are_not_a_missing_queue():
    assert not is_missing_queue(AccessRefused("ACCESS_REFUSED"))
    assert not is_missing_queue(ChannelError("PRECONDITION_FAILED", None, None, 406))
