"""Where an audit entry says a request came from (audit.context.client_ip)."""

from __future__ import annotations

from django.test import RequestFactory

from audit.context import client_ip


def test_without_a_proxy_the_forwarded_header_is_ignored(settings):
    settings.BEHIND_TLS_PROXY = False
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.7", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert client_ip(request) == "10.0.0.7"


def test_behind_the_proxy_the_address_it_appended_is_the_client(settings):
    settings.BEHIND_TLS_PROXY = True
    request = RequestFactory().get(
        "/", REMOTE_ADDR="172.18.0.5", HTTP_X_FORWARDED_FOR="6.6.6.6, 2001:db8::1"
    )
    assert client_ip(request) == "2001:db8::1"  # not the first, which the client wrote
    assert client_ip(RequestFactory().get("/", REMOTE_ADDR="172.18.0.5")) == "172.18.0.5"


def test_something_that_is_not_an_address_is_not_recorded_as_one(settings):
    settings.BEHIND_TLS_PROXY = True
    forged = RequestFactory().get("/", REMOTE_ADDR="172.18.0.5", HTTP_X_FORWARDED_FOR="<script>")
    assert client_ip(forged) == "172.18.0.5"
    settings.BEHIND_TLS_PROXY = False
    assert client_ip(RequestFactory().get("/", REMOTE_ADDR="unix-socket")) is None
