"""Changing a run after it was queued: its name, tags, notes and priority; requeue; delete."""

from __future__ import annotations

import sys
from typing import Any

import click

from keisei_client import render
from keisei_client.commands.common import Session, json_option, pass_session, run_argument
from keisei_client.exits import Exit


@click.command()
@run_argument
@click.option("--name", help="A new name.")
@click.option("--tag", "tags", multiple=True, help="The run's tags, replacing its own. Repeatable.")
@click.option("--clear-tags", is_flag=True, help="Remove every tag.")
@click.option("--notes", help="The run's notes (up to 10,000 characters), replacing its own.")
@click.option("--priority", type=click.IntRange(-100, 100), help="Only while it is queued.")
@json_option
@pass_session
def edit(
    session: Session,
    run: int,
    name: str | None,
    tags: tuple[str, ...],
    clear_tags: bool,
    notes: str | None,
    priority: int | None,
    as_json: bool,
) -> int:
    """Change a run's name, tags, notes or priority (owner or staff)."""
    if tags and clear_tags:
        raise click.UsageError("give --tag or --clear-tags, not both")
    body: dict[str, Any] = {
        key: value
        for key, value in (("name", name), ("notes", notes), ("priority", priority))
        if value is not None
    }
    if tags or clear_tags:
        body["tags"] = list(tags)
    if not body:
        raise click.UsageError(
            "nothing to change: give --name, --tag, --clear-tags, --notes or --priority"
        )
    changed = session.portal().request("PATCH", f"runs/{run}/", body=body)
    if as_json:
        render.print_json(changed)
    else:
        render.out.print(f"Run {run} changed: {', '.join(sorted(body))}.", markup=False)
    return Exit.OK


@click.command()
@run_argument
@json_option
@pass_session
def requeue(session: Session, run: int, as_json: bool) -> int:
    """Queue a failed or stopped run again (same id; it resumes from its latest checkpoint)."""
    queued = session.portal().request("POST", f"runs/{run}/requeue/")
    if as_json:
        render.print_json(queued)
    else:
        render.out.print(
            f"Run {run} queued again, position {queued.get('queue_position') or '-'}.", markup=False
        )
    return Exit.OK


@click.command()
@run_argument
@click.option("--yes", is_flag=True, help="Do not ask.")
@json_option
@pass_session
def delete(session: Session, run: int, yes: bool, as_json: bool) -> int:
    """Delete a finished run with its checkpoints and files. There is no undo."""
    portal = session.portal()
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("add --yes to delete without a prompt")
        click.confirm(f"Delete run {run} and its files for good?", abort=True, err=True)
    portal.request("DELETE", f"runs/{run}/")
    if as_json:
        render.print_json({"id": run, "deleted": True})
    else:
        render.out.print(f"Run {run} deleted.", markup=False)
    return Exit.OK
