"""``keisei-client``: queue, list, show, command, watch, and read game records of a portal.

The portal's address comes from ``--url`` or ``KEISEI_URL``, the API token from
``KEISEI_TOKEN`` (never a command-line argument, which would show in the process list and
shell history).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import urllib.parse
from typing import Any, TextIO

from keisei_client.portal import DEFAULT_URL, Portal, RemoteError
from keisei_fields import read_config_fields


def _fields(pairs: list[str] | None, path: str | None) -> dict[str, Any]:
    try:
        return read_config_fields(path, pairs)
    except ValueError as exc:
        raise RemoteError(str(exc)) from None


def _show(data: Any, out: TextIO) -> None:
    print(json.dumps(data, indent=2), file=out)


def _queue(portal: Portal, args: argparse.Namespace, out: TextIO) -> int:
    body = {
        "trainer": args.trainer,
        "config": _fields(args.set, args.config),
        "name": args.name or "",
        "priority": args.priority,
    }
    if args.preset:
        body["preset"] = args.preset
    created = portal.request("POST", "/runs/", body)
    _show(created, out)
    return _follow(portal, created["id"], out) if args.watch else 0


def _follow(portal: Portal, run_id: int, out: TextIO) -> int:
    """Print the run's live messages until it ends: exit status 0 only if it completed."""
    status = asyncio.run(portal.watch(run_id, out))
    return 0 if status == "completed" else 1


def _watch(portal: Portal, args: argparse.Namespace, out: TextIO) -> int:
    return _follow(portal, args.run, out)


def _command(portal: Portal, args: argparse.Namespace, out: TextIO) -> int:
    body = {"kind": args.kind, "params": _fields(args.set, None)}
    _show(portal.request("POST", f"/runs/{args.run}/commands/", body), out)
    return 0


def _games(portal: Portal, args: argparse.Namespace, out: TextIO) -> int:
    query = f"?{urllib.parse.urlencode({'source': args.source})}" if args.source else ""
    _show(portal.request("GET", f"/runs/{args.run}/games/{query}"), out)
    return 0


def _game(portal: Portal, args: argparse.Namespace, out: TextIO) -> int:
    game = portal.request("GET", f"/runs/{args.run}/games/{args.game}/")
    # KIF and CSA go out as they are, for a file or a Shogi program to read.
    print(json.dumps(game, indent=2) if args.format == "json" else game[args.format], file=out)
    return 0


def _list_runs(portal: Portal, args: argparse.Namespace, out: TextIO) -> int:
    _show(portal.request("GET", "/runs/"), out)
    return 0


def _show_run(portal: Portal, args: argparse.Namespace, out: TextIO) -> int:
    _show(portal.request("GET", f"/runs/{args.run}/"), out)
    return 0


ACTIONS = {
    "queue": _queue,
    "list": _list_runs,
    "show": _show_run,
    "command": _command,
    "watch": _watch,
    "games": _games,
    "game": _game,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keisei-client", description="Talk to a Keisei Site portal (token in KEISEI_TOKEN)."
    )
    parser.add_argument("--url", default=os.environ.get("KEISEI_URL", DEFAULT_URL))
    actions = parser.add_subparsers(dest="action", required=True)
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    token = os.environ.get("KEISEI_TOKEN", "")
    if not token:
        raise SystemExit("error: set KEISEI_TOKEN to your API token (see docs/api.md)")
    try:
        return ACTIONS[args.action](Portal(args.url, token), args, sys.stdout)
    except RemoteError as exc:
        raise SystemExit(f"error: {exc}") from None
