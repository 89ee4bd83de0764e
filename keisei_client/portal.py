"""The connection to one portal's REST API (``/api/v1/``) over httpx.

Every refusal becomes a ``ClientError`` carrying the exit code for its status, and an
unreachable server one with ``Exit.UNAVAILABLE``, so commands only shape what comes back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from keisei_client.exits import ClientError, Exit, refusal

FINISHED = frozenset({"completed", "failed", "stopped", "cancelled"})
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class Portal:
    """A portal at ``url``, spoken to with an API token (or, for ``login`` alone, a password)."""

    def __init__(
        self,
        url: str,
        token: str = "",
        *,
        basic: tuple[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        headers = {"Accept": "application/json", "User-Agent": "keisei-cli"}
        if token:
            headers["Authorization"] = f"Token {token}"
        # httpx drops the Authorization header when a redirect leaves this origin (a checkpoint
        # download redirected to S3), so the token is never sent to another host.
        self.http = httpx.Client(
            base_url=f"{self.url}/api/v1/",
            headers=headers,
            timeout=TIMEOUT,
            auth=basic,
            transport=transport,  # httpx.MockTransport in unit tests
        )

    def close(self) -> None:
        self.http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """The decoded JSON answer (None for an empty one) to ``method`` on ``/api/v1/{path}``."""
        try:
            response = self.http.request(method, path, json=body, params=_clean(params))
        except httpx.HTTPError as exc:
            raise unreachable(self.url, exc) from None
        if response.is_error:
            error = refusal(response.status_code, response.content)
            if response.headers.get("Retry-After"):
                # Throttled: say when a script may try again (the header is in seconds).
                error.lines = (*error.lines, f"retry after {response.headers['Retry-After']} s")
            raise error
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ClientError(
                f"{self.url} answered {path} with something other than JSON "
                "(is this a Keisei Site portal?)",
                exit_code=Exit.UNAVAILABLE,
            ) from None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def pages(self, path: str, *, limit: int | None, **params: Any) -> Iterator[dict[str, Any]]:
        """The items of a paginated list, following ``next`` until ``limit`` items (or all)."""
        page: Any = self.get(path, **params)
        seen = 0
        while True:
            items = page["results"] if isinstance(page, dict) else page
            for item in items:
                if limit is not None and seen >= limit:
                    return
                seen += 1
                yield item
            following = page.get("next") if isinstance(page, dict) else None
            if not following or (limit is not None and seen >= limit):
                return
            # The server's absolute next link carries the cursor and every filter.
            page = self.request("GET", following)

    @contextmanager
    def stream(
        self, path: str, *, params: dict[str, Any] | None = None
    ) -> Iterator[httpx.Response]:
        """A streamed GET (a checkpoint file, a CSV), redirects followed; refused like
        ``request``."""
        try:
            with self.http.stream(
                "GET", path, params=_clean(params), follow_redirects=True
            ) as response:
                if response.is_error:
                    raise refusal(response.status_code, response.read())
                yield response
        except httpx.HTTPError as exc:
            raise unreachable(self.url, exc) from None

    def websocket_url(self, path: str) -> str:
        """``ws://`` or ``wss://`` for a path on this portal."""
        scheme, rest = self.url.split("://", 1)
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest}{path}"


def unreachable(url: str, exc: httpx.HTTPError) -> ClientError:
    """A transport failure as people read it, naming the portal."""
    return ClientError(
        f"cannot reach {url}: {exc or type(exc).__name__}", exit_code=Exit.UNAVAILABLE
    )


def _clean(params: dict[str, Any] | None) -> dict[str, Any] | None:
    """Query parameters without the options left unset."""
    if params is None:
        return None
    return {key: value for key, value in params.items() if value is not None and value != ()}
