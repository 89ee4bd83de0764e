"""Sharing a run read-only: with users, with groups, or with every signed-in user."""

from __future__ import annotations

from typing import Any

import click

from keisei_client import render
from keisei_client.commands.common import Session, json_option, pass_session, run_argument
from keisei_client.exits import Exit

users_option = click.option(
    "--user", "users", multiple=True, metavar="NAME", help="A username. Repeatable."
)
groups_option = click.option(
    "--group", "groups", multiple=True, metavar="NAME", help="A group name. Repeatable."
)


def _said(run: int, sharing: dict[str, Any]) -> str:
    targets = [f"user {n}" for n in sharing.get("users", [])] + [
        f"group {n}" for n in sharing.get("groups", [])
    ]
    whom = f"shared read-only with {', '.join(targets)}" if targets else "shared with nobody"
    return f"Run {run}: {'public' if sharing.get('public') else 'private'}, {whom}."


def _change(
    session: Session,
    run: int,
    *,
    add: bool,
    users: tuple[str, ...],
    groups: tuple[str, ...],
    public: bool | None,
) -> dict[str, Any]:
    """Read the run's sharing, change it, and send it whole (``PUT .../sharing/``): the server
    checks every name and refuses an unknown one naming the field, changing nothing."""
    portal = session.portal()
    sharing: dict[str, Any] = portal.request("GET", f"runs/{run}/sharing/")
    have_users, have_groups = list(sharing["users"]), list(sharing["groups"])
    if add:
        have_users += [n for n in users if n not in have_users]
        have_groups += [n for n in groups if n not in have_groups]
    else:
        have_users = [n for n in have_users if n not in users]
        have_groups = [n for n in have_groups if n not in groups]
    body = {
        "public": sharing["public"] if public is None else public,
        "users": have_users,
        "groups": have_groups,
    }
    changed: dict[str, Any] = portal.request("PUT", f"runs/{run}/sharing/", body=body)
    return changed


@click.command()
@run_argument
@users_option
@groups_option
@click.option(
    "--public/--private",
    default=None,
    help="Every signed-in user may watch it, or only those it is shared with.",
)
@json_option
@pass_session
def share(
    session: Session,
    run: int,
    users: tuple[str, ...],
    groups: tuple[str, ...],
    public: bool | None,
    as_json: bool,
) -> int:
    """Share a run read-only (owner or staff): they may watch it and download its checkpoints
    and games, never steer it. With no option, show whom it is shared with."""
    if not users and not groups and public is None:
        sharing = session.portal().request("GET", f"runs/{run}/sharing/")
    else:
        sharing = _change(session, run, add=True, users=users, groups=groups, public=public)
    if as_json:
        render.print_json(sharing)
    else:
        render.out.print(_said(run, sharing), markup=False)
    return Exit.OK


@click.command()
@run_argument
@users_option
@groups_option
@json_option
@pass_session
def unshare(
    session: Session, run: int, users: tuple[str, ...], groups: tuple[str, ...], as_json: bool
) -> int:
    """Stop sharing a run with these users and groups (owner or staff)."""
    if not users and not groups:
        raise click.UsageError("name at least one --user or --group (use `share --private` too)")
    sharing = _change(session, run, add=False, users=users, groups=groups, public=None)
    if as_json:
        render.print_json(sharing)
    else:
        render.out.print(_said(run, sharing), markup=False)
    return Exit.OK
