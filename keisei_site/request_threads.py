"""Django's ASGI handler, with each request's thread borrowed from a pool instead of started.

Django runs a request's synchronous code (middleware, view, ORM) on one thread of its own: its
handler enters asgiref's ``ThreadSensitiveContext()``, which starts a one-thread executor for
the request and, at its end, starts another thread to join it. Two threads started per request
were about a tenth of a web process's CPU under bench/api.py (py-spy). asgiref lets the caller
hand the context an executor it owns (``ThreadSensitiveContext(executor=...)``), so here each
request still runs on one thread that no other request shares while it runs, as before, but
the thread is taken from the idle ones left by earlier requests: what a WSGI server's thread
pool does. Django's per-thread state is per request already (the database connection goes
back to its pool at the request's end, ``request_finished``; an idle thread closes any it
still has), so nothing is carried from one request to the next.

And the request enters that thread once: the middleware chain is built in Django's sync mode
and run whole there with its view (``PooledThreadASGIHandler.load_middleware``).
"""

from __future__ import annotations

import collections
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.db import connections
from django.http import HttpRequest, HttpResponseBase

# Idle threads kept for later requests; past this many, a thread ends once its request does.
MAX_IDLE = 64


class RequestThreads:
    """Single-thread executors: one lent per request, taken back once its work is done."""

    def __init__(self, max_idle: int = MAX_IDLE) -> None:
        self.max_idle = max_idle
        # deque's append and pop are atomic: returned from worker threads, borrowed on the loop.
        self.idle: collections.deque[ThreadPoolExecutor] = collections.deque()

    def borrow(self) -> ThreadPoolExecutor:
        try:
            return self.idle.pop()
        except IndexError:
            return ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")

    def give_back(self, executor: ThreadPoolExecutor) -> None:
        # Queued behind whatever the request left running (a view still at work when its client
        # went away), so an executor is lent again only once it is really idle.
        executor.submit(self._idle, executor)

    def _idle(self, executor: ThreadPoolExecutor) -> None:
        # An idle thread holds no database connection. With the web's pool its request gave
        # its connection back already (request_finished); with the pool off (DATABASE_POOL_SIZE
        # 0) each idle thread would otherwise keep one open for DATABASE_CONN_MAX_AGE.
        connections.close_all()
        if len(self.idle) < self.max_idle:
            self.idle.append(executor)
        else:
            executor.shutdown(wait=False)


class PooledThreadASGIHandler(ASGIHandler):
    """``ASGIHandler`` whose requests run on pooled threads (``RequestThreads``), each
    request's middleware and view entered on its thread once."""

    def __init__(self) -> None:
        super().__init__()
        self.threads = RequestThreads()

    def load_middleware(self, is_async: bool = False) -> None:
        # The chain in Django's sync mode. In its async mode every sync-only middleware (ours,
        # WhiteNoise) and every view (all sync) put the request through another hop between
        # the event loop and its thread: loop to thread at the top, back to the loop below
        # the innermost sync-only middleware, to the thread again for the view. With those
        # hops a /healthz cost its web process 2.5-3 ms, where Daphne serving a bare ASGI app
        # costs 0.4 (bench/api.py; docs/benchmarks.md has the figures before and after).
        super().load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        # One hop: the request's whole sync path on its own thread (ThreadSensitiveContext).
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # as Django's own handler
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = self.threads.borrow()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            self.threads.give_back(executor)


def get_asgi_application() -> PooledThreadASGIHandler:
    """``django.core.asgi.get_asgi_application`` with the pooled handler."""
    django.setup(set_prefix=False)
    return PooledThreadASGIHandler()
