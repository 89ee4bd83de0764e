"""The connection to one portal: JSON requests to its REST API and a run's live messages."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, TextIO

DEFAULT_URL = "http://127.0.0.1:8000"
FINISHED = {"completed", "failed", "stopped", "cancelled"}


class RemoteError(Exception):
    """The portal refused a request; the message carries its answer."""


class Portal:
    """A portal at ``url``, spoken to with an API token."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.token = token

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The decoded JSON answer to ``method`` on ``/api/v1{path}``; RemoteError if refused."""
        request = urllib.request.Request(
            f"{self.url}/api/v1{path}",
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Token {self.token}", "Content-Type": "application/json"},
            method=method,
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            answer = exc.read().decode("utf-8", "replace")
            raise RemoteError(f"{exc.code} {exc.reason}: {refusal_text(answer)}") from None
        except urllib.error.URLError as exc:
            raise RemoteError(f"cannot reach {self.url}: {exc.reason}") from None
        return json.loads(raw) if raw else None

    async def watch(self, run_id: int, out: TextIO) -> str:
        """Print the run's live messages until it finishes; returns its final status."""
        import websockets

        ws_url = self.url.replace("http", "ws", 1) + f"/ws/runs/{run_id}/"
        headers = {"Authorization": f"Token {self.token}"}
        async with websockets.connect(ws_url, additional_headers=headers) as ws:
            async for raw in ws:
                msg = json.loads(raw)
                print(json.dumps(msg), file=out, flush=True)
                status = run_status(msg)
                if status in FINISHED:
                    return status
        return "disconnected"


def refusal_text(body: str) -> str:
    """A refusal as people read it: the portal's message, then each field and its reasons
    (docs/api.md, "Refusals"); the body as it came when it is not such a refusal."""
    try:
        error = json.loads(body)["error"]
        message = str(error["message"])
        fields = error.get("fields") or {}
    except (ValueError, KeyError, TypeError):
        return body.strip()
    # A message that sums the fields up already names them: only the others are added.
    extra = {field: why for field, why in fields.items() if f"{field}:" not in message}
    lines = [message, *(f"  {field}: {'; '.join(map(str, why))}" for field, why in extra.items())]
    return "\n".join(lines)


def run_status(msg: dict[str, Any]) -> str | None:
    """The run status a live message carries, if any (``connected`` snapshots and ``status``)."""
    if msg["type"] == "connected":
        status = (msg["data"].get("run") or {}).get("status")
    elif msg["type"] == "status":
        status = msg["data"].get("status")
    else:
        return None
    return str(status) if status is not None else None
