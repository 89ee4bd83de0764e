"""Who asks and from where, for services that do not take a request.

``AuditContextMiddleware`` puts the request in a context variable for the length of the
request (after authentication, so ``request.user`` is known; DRF sets its authenticated user
on the same request object when a view runs). ``audit.services.record`` reads it, so a service
records the caller's address without a request argument. A context variable, as
``monitoring.log_context`` does: under ASGI each request has its own copy.
"""

from __future__ import annotations

import contextvars
import ipaddress
from collections.abc import Callable
from typing import Any

from django.conf import settings

current_request: contextvars.ContextVar[Any | None] = contextvars.ContextVar(
    "audit_request", default=None
)

USER_AGENT_MAX = 512


def client_ip(request: Any) -> str | None:
    """The client's address. Behind our TLS proxy (``BEHIND_TLS_PROXY=1``) it is the last
    address of ``X-Forwarded-For``: the one the proxy itself wrote, since any earlier ones are
    whatever the client claimed. Otherwise the socket's peer, and the header is ignored (anyone
    can send it). Not an address at all: none (the column takes addresses only)."""
    meta = getattr(request, "META", {})
    # (Before settings named BEHIND_TLS_PROXY, it showed as SECURE_PROXY_SSL_HEADER alone.)
    behind_proxy = getattr(
        settings, "BEHIND_TLS_PROXY", bool(getattr(settings, "SECURE_PROXY_SSL_HEADER", None))
    )
    if behind_proxy:
        forwarded = meta.get("HTTP_X_FORWARDED_FOR", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if _is_ip(last):
            return last
    remote = meta.get("REMOTE_ADDR", "")
    return remote if _is_ip(remote) else None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def user_agent(request: Any) -> str:
    return str(getattr(request, "META", {}).get("HTTP_USER_AGENT", ""))[:USER_AGENT_MAX]


def AuditContextMiddleware(get_response: Callable) -> Callable:  # noqa: N802 (Django's style)
    """Makes the request the audit context of everything done while answering it."""

    def middleware(request: Any) -> Any:
        token = current_request.set(request)
        try:
            return get_response(request)
        finally:
            current_request.reset(token)

    return middleware
