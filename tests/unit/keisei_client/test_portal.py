"""The HTTP side of the client, against httpx's mock transport: paging, throttling, tokens."""

from __future__ import annotations

import json

import httpx
import pytest

from keisei_client.exits import ClientError, Exit
from keisei_client.portal import Portal


def portal(handler) -> Portal:
    return Portal("http://portal.test", "key", transport=httpx.MockTransport(handler))


def test_pages_are_followed_by_their_next_link_until_the_limit():
    asked = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        cursor = request.url.params.get("cursor")
        if cursor is None:
            body = {
                "next": "http://portal.test/api/v1/runs/?cursor=b&status=running",
                "results": [{"id": 3}, {"id": 2}],
            }
        else:
            body = {
                "next": "http://portal.test/api/v1/runs/?cursor=c",
                "results": [{"id": 1}, {"id": 0}],
            }
        return httpx.Response(200, json=body)

    items = list(portal(handler).pages("runs/", limit=3, status="running", tag=None))
    assert [item["id"] for item in items] == [3, 2, 1]
    # The filters go on the first request; unset ones are left out; the third page is never asked.
    assert asked == [
        "http://portal.test/api/v1/runs/?status=running",
        "http://portal.test/api/v1/runs/?cursor=b&status=running",
    ]


def test_a_throttled_request_says_when_to_retry():
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"error": {"code": "throttled", "message": "Request was throttled.", "fields": {}}}
        return httpx.Response(429, json=body, headers={"Retry-After": "7"})

    with pytest.raises(ClientError) as caught:
        portal(handler).request("GET", "runs/")
    assert caught.value.exit_code == Exit.REFUSED
    assert caught.value.text() == (
        "error: HTTP 429 throttled: Request was throttled.\n  retry after 7 s"
    )


def test_the_token_travels_in_the_authorization_header_only():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["auth"] = request.headers.get("Authorization")
        seen["url"] = str(request.url)
        return httpx.Response(200, json={"id": 1})

    portal(handler).request("POST", "runs/", body={"trainer": "digits"})
    assert seen == {"auth": "Token key", "url": "http://portal.test/api/v1/runs/"}


def test_an_answer_that_is_not_json_is_named():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>a login page</html>")

    with pytest.raises(ClientError, match="something other than JSON") as caught:
        portal(handler).request("GET", "me/")
    assert caught.value.exit_code == Exit.UNAVAILABLE


def test_a_refused_checkpoint_stream_carries_the_servers_refusal():
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.dumps({"error": {"code": "not_found", "message": "Not found.", "fields": {}}})
        return httpx.Response(404, text=body)

    with (
        pytest.raises(ClientError) as caught,
        portal(handler).stream("runs/1/checkpoints/2/download/"),
    ):
        pass
    assert caught.value.exit_code == Exit.NOT_FOUND
