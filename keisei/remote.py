"""A command-line client for a Keisei Site portal's REST API and live WebSocket.

``python -m keisei remote queue --trainer digits --set epochs=20`` and friends. The portal's
address comes from ``--url`` or ``KEISEI_URL``, the API token from ``KEISEI_TOKEN`` (never a
command-line argument, which would show in the process list and shell history).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8000"
FINISHED = {"completed", "failed", "cancelled"}


class RemoteError(Exception):
    """The portal refused a request; the message carries its answer."""


class Portal:
    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.token = token

    def request(self, method: str, path: str, body: dict | None = None) -> Any:
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
            detail = exc.read().decode("utf-8", "replace")
            raise RemoteError(f"{exc.code} {exc.reason}: {detail}") from None
        except urllib.error.URLError as exc:
            raise RemoteError(f"cannot reach {self.url}: {exc.reason}") from None
        return json.loads(raw) if raw else None

    async def watch(self, run_id: int, out: Any) -> str:
        """Print the run's live messages until it finishes; returns its final status."""
        import websockets

        ws_url = self.url.replace("http", "ws", 1) + f"/ws/runs/{run_id}/"
        headers = {"Authorization": f"Token {self.token}"}
        async with websockets.connect(ws_url, additional_headers=headers) as ws:
            async for raw in ws:
                msg = json.loads(raw)
                print(json.dumps(msg), file=out, flush=True)
                status = (
                    (msg["data"].get("run") or {}).get("status")
                    if msg["type"] == "connected"
                    else msg["data"].get("status")
                    if msg["type"] == "status"
                    else None
                )
                if status in FINISHED:
                    return status
        return "disconnected"


def _config(pairs: list[str] | None, path: str | None) -> dict[str, Any]:
    from keisei.cli import read_config_fields

    try:
        return read_config_fields(path, pairs)
    except ValueError as exc:
        raise RemoteError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    token = os.environ.get("KEISEI_TOKEN", "")
    if not token:
        raise SystemExit("error: set KEISEI_TOKEN to your API token (see docs/api.md)")
    portal = Portal(args.url, token)
    out = sys.stdout
    try:
        if args.action == "queue":
            body = {
                "trainer": args.trainer,
                "config": _config(args.set, args.config),
                "name": args.name or "",
                "priority": args.priority,
            }
            if args.preset:
                body["preset"] = args.preset
            result = portal.request("POST", "/runs/", body)
            print(json.dumps(result, indent=2), file=out)
            if args.watch:
                status = asyncio.run(portal.watch(result["id"], out))
                return 0 if status == "completed" else 1
        elif args.action == "list":
            print(json.dumps(portal.request("GET", "/runs/"), indent=2), file=out)
        elif args.action == "show":
            print(json.dumps(portal.request("GET", f"/runs/{args.run}/"), indent=2), file=out)
        elif args.action == "command":
            body = {"kind": args.kind, "params": _config(args.set, None)}
            result = portal.request("POST", f"/runs/{args.run}/commands/", body)
            print(json.dumps(result, indent=2), file=out)
        elif args.action == "watch":
            status = asyncio.run(portal.watch(args.run, out))
            return 0 if status == "completed" else 1
        elif args.action == "games":
            query = f"?{urllib.parse.urlencode({'source': args.source})}" if args.source else ""
            games = portal.request("GET", f"/runs/{args.run}/games/{query}")
            print(json.dumps(games, indent=2), file=out)
        elif args.action == "game":
            game = portal.request("GET", f"/runs/{args.run}/games/{args.game}/")
            # KIF and CSA go out as they are, for a file or a Shogi program to read.
            text = json.dumps(game, indent=2) if args.format == "json" else game[args.format]
            print(text, file=out)
    except RemoteError as exc:
        raise SystemExit(f"error: {exc}") from None
    return 0


def add_parser(sub: Any) -> None:
    remote = sub.add_parser("remote", help="talk to a Keisei Site portal (KEISEI_TOKEN)")
    remote.add_argument("--url", default=os.environ.get("KEISEI_URL", DEFAULT_URL))
    actions = remote.add_subparsers(dest="action", required=True)
    queue = actions.add_parser("queue", help="queue a run")
    queue.add_argument("--trainer", required=True)
    queue.add_argument("--config", help="a TOML file of config fields")
    queue.add_argument("--preset", help="a trainer preset name or a saved preset id")
    queue.add_argument("--set", action="append", metavar="KEY=VALUE")
    queue.add_argument("--name")
    queue.add_argument("--priority", type=int, default=0)
    queue.add_argument("--watch", action="store_true", help="follow it live until it ends")
    actions.add_parser("list", help="the runs you may see")
    for name, text in (("show", "one run"), ("watch", "follow a run live until it ends")):
        action = actions.add_parser(name, help=text)
        action.add_argument("run", type=int)
    games = actions.add_parser("games", help="a run's game records (without their moves)")
    games.add_argument("run", type=int)
    games.add_argument("--source", help="sample, selfplay, evaluation or league")
    game = actions.add_parser("game", help="one game record, as KIF (default), CSA or JSON")
    game.add_argument("run", type=int)
    game.add_argument("game", type=int)
    game.add_argument("--format", choices=("kif", "csa", "json"), default="kif")
    command = actions.add_parser("command", help="stop, pause, resume, save, sample ...")
    command.add_argument("run", type=int)
    command.add_argument("kind")
    command.add_argument("--set", action="append", metavar="KEY=VALUE", help="a parameter")
    remote.set_defaults(func=run)
