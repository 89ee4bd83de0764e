"""A test pass against the machine's own Redis keeps its keys under a prefix of its own and
deletes them when it ends: the next pass never reads an earlier pass's live board."""

from __future__ import annotations

import redis
from django.conf import settings

from keisei_site.embedded import EmbeddedServices
from keisei_site.launcher import base_env, forget_test_keys


def test_a_pass_on_the_machines_redis_gets_a_prefix_of_its_own(tmp_path, monkeypatch):
    monkeypatch.delenv("KEISEI_REDIS_PREFIX", raising=False)
    monkeypatch.setenv("REDIS_URL", settings.REDIS_URL)
    external = EmbeddedServices(env={})
    first = base_env(tmp_path, external, test=True)["KEISEI_REDIS_PREFIX"]
    second = base_env(tmp_path, external, test=True)["KEISEI_REDIS_PREFIX"]
    assert first.startswith("keisei-test-") and second.startswith("keisei-test-")
    assert first != second
    assert "KEISEI_REDIS_PREFIX" not in base_env(tmp_path, external, test=False)
    monkeypatch.setenv("KEISEI_REDIS_PREFIX", "mine")  # the user's choice stands
    assert base_env(tmp_path, external, test=True)["KEISEI_REDIS_PREFIX"] == "mine"


def test_the_pass_deletes_its_keys_and_only_its_keys():
    client = redis.Redis.from_url(settings.REDIS_URL)
    ours, other = "keisei-test-0123456789ab", "keisei-test-ba9876543210"
    for n in range(2500):  # more than one SCAN page and one DEL batch
        client.set(f"{ours}:1:board:{n}", "x", ex=300)
    client.set(f"{ours}asgi.specific!x", "x", ex=300)  # a channel's key: no colon
    client.set(f"{other}:1:board:1", "x", ex=300)
    client.set("mine:1:board:1", "x", ex=300)
    try:
        forget_test_keys({"REDIS_URL": settings.REDIS_URL, "KEISEI_REDIS_PREFIX": ours})
        assert not list(client.scan_iter(match=f"{ours}*"))
        assert client.exists(f"{other}:1:board:1") and client.exists("mine:1:board:1")
        # A prefix the user chose is never emptied.
        forget_test_keys({"REDIS_URL": settings.REDIS_URL, "KEISEI_REDIS_PREFIX": "mine"})
        assert client.exists("mine:1:board:1")
        forget_test_keys({"REDIS_URL": settings.REDIS_URL})  # the embedded pass: no prefix
        assert client.exists("mine:1:board:1") and client.exists(f"{other}:1:board:1")
    finally:
        client.delete(f"{other}:1:board:1", "mine:1:board:1")
