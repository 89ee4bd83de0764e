"""Each request's synchronous code runs on a pooled thread (keisei_site/request_threads.py): a
thread of its own while the request runs, reused by a later request instead of started anew."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading

from asgiref.sync import iscoroutinefunction
from django.core.signals import request_started

from keisei_site.request_threads import PooledThreadASGIHandler, RequestThreads
from tests.support.waiting import wait_for


def _thread_of(executor) -> int:
    return executor.submit(threading.get_ident).result(timeout=5)


def _get(app, path: str) -> int:
    """One GET through the ASGI app, in process; the status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
    }
    statuses: list[int] = []
    bodies = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict:
        if bodies:
            return bodies.pop()
        await asyncio.Event().wait()  # the client stays: Django cancels this when it answers
        raise AssertionError("unreachable")

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    asyncio.run(app(scope, receive, send))
    return statuses[0]


def test_the_site_serves_http_through_the_pooled_handler():
    """Asked of a fresh interpreter, as Daphne loads the site: importing keisei_site.asgi sets
    the web process's defaults in os.environ (a database pool), which must not reach the
    servers later tests start from this process's environment."""
    check = (
        "from keisei_site import asgi\n"
        "from keisei_site.request_threads import PooledThreadASGIHandler\n"
        "print(isinstance(asgi.application.application_mapping['http'], PooledThreadASGIHandler))"
    )
    answer = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, timeout=120, check=False
    )
    assert answer.stdout.split() == ["True"], answer.stderr


def test_a_later_request_runs_on_the_thread_an_earlier_one_left():
    handler = PooledThreadASGIHandler()
    threads: list[int] = []

    def seen(**kwargs) -> None:  # sent on the request's own thread, before its view
        threads.append(threading.get_ident())

    request_started.connect(seen)
    try:
        assert _get(handler, "/healthz") == 200
        wait_for(lambda: len(handler.threads.idle) == 1, timeout=5, what="the thread back")
        assert _get(handler, "/healthz") == 200
    finally:
        request_started.disconnect(seen)
    assert len(threads) == 2
    assert threads[0] == threads[1]
    assert threads[0] != threading.get_ident()


def test_requests_at_once_never_share_a_thread():
    threads = RequestThreads()
    first, second = threads.borrow(), threads.borrow()
    assert first is not second
    assert _thread_of(first) != _thread_of(second)


def test_a_thread_still_at_work_is_lent_again_only_once_its_work_is_done():
    threads = RequestThreads()
    executor = threads.borrow()
    release = threading.Event()
    executor.submit(release.wait, 5)  # a view still running after its request ended
    threads.give_back(executor)
    assert threads.borrow() is not executor
    release.set()
    wait_for(lambda: list(threads.idle) == [executor], timeout=5, what="the thread back")
    assert threads.borrow() is executor


def test_idle_threads_past_the_limit_end():
    threads = RequestThreads(max_idle=1)
    kept, extra = threads.borrow(), threads.borrow()
    threads.give_back(kept)
    wait_for(lambda: len(threads.idle) == 1, timeout=5, what="the first thread back")
    threads.give_back(extra)
    wait_for(lambda: extra._shutdown, timeout=5, what="the extra thread to end")
    assert list(threads.idle) == [kept]


def test_the_middleware_chain_runs_whole_in_sync_mode():
    """Built in Django's async mode, the chain (sync-only middleware above async-capable ones,
    sync views) would move each request between the loop and its thread four times; in sync
    mode it is entered once, and still answers."""
    handler = PooledThreadASGIHandler()
    assert not iscoroutinefunction(handler._middleware_chain)
    assert _get(handler, "/healthz") == 200
