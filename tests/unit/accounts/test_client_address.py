"""Whose address a sign-in failure is counted against (accounts.lockout.client_address)."""

from __future__ import annotations

from django.test import RequestFactory

from accounts.lockout import client_address


def test_without_a_proxy_the_forwarded_header_is_the_clients_word_and_ignored(settings):
    settings.BEHIND_TLS_PROXY = False
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.7", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert client_address(request) == "10.0.0.7"


def test_behind_the_proxy_the_hop_it_appended_is_the_client(settings):
    settings.BEHIND_TLS_PROXY = True
    request = RequestFactory().get(
        "/", REMOTE_ADDR="172.18.0.5", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9"
    )
    assert client_address(request) == "203.0.113.9"  # not the spoofable first hop
    bare = RequestFactory().get("/", REMOTE_ADDR="172.18.0.5")
    assert client_address(bare) == "172.18.0.5"
