"""Signing in and out, the caller's tokens, and who the caller is."""

from __future__ import annotations

import os
import socket

import click

from keisei_client import render
from keisei_client.commands.common import Session, json_option, pass_session
from keisei_client.credentials import Credentials, config_path, forget_token, normalised_url, store
from keisei_client.exits import ClientError, Exit
from keisei_client.portal import Portal


@click.command()
@click.argument("url")
@click.option("-u", "--username", help="Asked for when not given.")
@click.option(
    "--token-name",
    default=lambda: f"keisei cli on {socket.gethostname()}"[:80],
    show_default="keisei cli on <hostname>",
    help="The token's name, as `keisei tokens` and the account page list it.",
)
@click.option(
    "--expires-in-days",
    type=click.IntRange(1, 365),
    default=90,
    show_default=True,
    help="The token's lifetime.",
)
@click.option("--no-expiry", is_flag=True, help="A token that never expires.")
@json_option
@pass_session
def login(
    session: Session,
    url: str,
    username: str | None,
    token_name: str,
    expires_in_days: int,
    no_expiry: bool,
    as_json: bool,
) -> int:
    """Trade a username and password for a token of the portal at URL, and store it.

    The password is asked for without echo, or read from KEISEI_PASSWORD (for scripts). The
    token is stored in the config file (mode 0600); the password is not kept."""
    url = normalised_url(url)
    username = username or click.prompt("Username")
    password = os.environ.get("KEISEI_PASSWORD") or click.prompt("Password", hide_input=True)
    # HTTP Basic is accepted on the tokens endpoint alone, for exactly this exchange.
    portal = session.open(Portal(url, basic=(username, password)))
    body = {"name": token_name, "expires_in_days": None if no_expiry else expires_in_days}
    made = portal.request("POST", "tokens/", body=body)
    key = made.pop("token", "")
    if not key:
        raise ClientError(f"{url} answered without a token", exit_code=Exit.UNAVAILABLE)
    path = store(Credentials(url=url, token=key))
    if as_json:
        render.print_json({**made, "url": url, "config": str(path)})
    else:
        expiry = render.when(made.get("expires_at")) if made.get("expires_at") else "never"
        render.out.print(
            f"Logged in to {url} as {username}: token {made.get('prefix', '')}… "
            f"(expires {expiry}), stored in {path}",
            markup=False,
        )
    return Exit.OK


@click.command()
@json_option
@pass_session
def logout(session: Session, as_json: bool) -> int:
    """Revoke the token in use on the portal, then remove it from the config file.

    A token the portal already refuses (expired or revoked) is removed all the same."""
    portal = session.portal()
    revoked = True
    try:
        portal.request("DELETE", "tokens/current/")
    except ClientError as exc:
        if exc.exit_code != Exit.NOT_AUTHENTICATED:
            raise
        revoked = False  # nothing left to revoke: forget it anyway
    forget_token()
    if as_json:
        render.print_json({"url": portal.url, "revoked": revoked, "config": str(config_path())})
    else:
        done = "token revoked" if revoked else "the portal no longer accepted the token"
        render.out.print(f"Logged out of {portal.url} ({done}).", markup=False)
    if os.environ.get("KEISEI_TOKEN"):
        render.note("KEISEI_TOKEN is still set in this environment.")
    return Exit.OK


@click.group(invoke_without_command=True)
@json_option
@click.pass_context
def tokens(ctx: click.Context, as_json: bool) -> int:
    """Your API tokens (never their keys), newest first; `keisei tokens revoke ID` ends one."""
    if ctx.invoked_subcommand is not None:
        return Exit.OK
    portal = ctx.find_object(Session).portal()  # type: ignore[union-attr]
    listed = portal.request("GET", "tokens/")
    items = listed["results"] if isinstance(listed, dict) else listed
    if as_json:
        render.print_json(items)
        return Exit.OK
    render.table(
        ("id", "name", "prefix", "created", "expires", "last used"),
        (
            (
                t["id"],
                t["name"],
                t["prefix"],
                render.when(t.get("created_at")),
                render.when(t.get("expires_at")) if t.get("expires_at") else "never",
                render.when(t.get("last_used_at")),
            )
            for t in items
        ),
    )
    return Exit.OK


@tokens.command("revoke")
@click.argument("token_id", metavar="ID")
@pass_session
def tokens_revoke(session: Session, token_id: str) -> int:
    """Revoke one of your tokens by its id (as `keisei tokens` lists them)."""
    session.portal().request("DELETE", f"tokens/{token_id}/")
    render.out.print(f"Token {token_id} revoked.", markup=False)
    return Exit.OK


@click.command()
@json_option
@pass_session
def me(session: Session, as_json: bool) -> int:
    """Who you are on the portal, your run limits and how much of them you use."""
    answer = session.portal().request("GET", "me/")
    if as_json:
        render.print_json(answer)
        return Exit.OK
    quota, usage = answer.get("quota") or {}, answer.get("usage") or {}
    render.fields(
        [
            ("user", answer.get("username")),
            ("role", answer.get("role")),
            ("running", f"{usage.get('running', '-')} of {quota.get('max_running', '-')}"),
            ("queued", f"{usage.get('queued', '-')} of {quota.get('max_queued', '-')}"),
            (
                "checkpoint storage",
                f"{render.size(usage.get('storage_bytes'))} of "
                f"{render.size(quota.get('max_storage_bytes'))}",
            ),
        ]
    )
    return Exit.OK
