"""Queue runs, list and show them, and steer them with commands."""

from __future__ import annotations

import time
from typing import Any

import click

from keisei_client import render
from keisei_client.commands.common import (
    Session,
    config_fields,
    json_option,
    pass_session,
    run_argument,
    set_option,
)
from keisei_client.exits import ClientError, Exit
from keisei_client.portal import Portal
from keisei_client.watching import watch_run

STATUSES = ("queued", "running", "paused", "completed", "failed", "stopped", "cancelled")
ORDERINGS = (
    "created_at",
    "-created_at",
    "name",
    "-name",
    "priority",
    "-priority",
    "status",
    "-status",
)
SETTLED = frozenset({"done", "failed", "rejected"})
COMMANDS = {
    "stop": "Stop the run after a final checkpoint.",
    "pause": "Pause the run (its worker keeps it).",
    "resume": "Resume a paused run.",
    "save": "Write a checkpoint now.",
    "sample": "Play and store a sample game (--set opponent=random ...).",
    "evaluate": "Evaluate against an opponent (--set opponent=greedy --set games=20 ...).",
    "cancel": "Cancel a queued run.",
}


@click.command()
@click.option("--trainer", required=True, help="A trainer's name (shogi-ppo, digits, ...).")
@click.option("--preset", help="A trainer's preset (quick) or a saved preset's id.")
@click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), help="A TOML file of config fields."
)
@set_option
@click.option("--name", default="", help="The run's name.")
@click.option(
    "--priority",
    type=click.IntRange(-100, 100),
    default=0,
    show_default=True,
    help="Higher trains first.",
)
@click.option("--tag", "tags", multiple=True, help="A tag for the run. Repeatable.")
@click.option("--notes", help="Notes on the run.")
@click.option(
    "--watch", is_flag=True, help="Follow the run live until it ends (exit 0 if it completed)."
)
@json_option
@pass_session
def submit(
    session: Session,
    trainer: str,
    preset: str | None,
    config_path: str | None,
    assignments: tuple[str, ...],
    name: str,
    priority: int,
    tags: tuple[str, ...],
    notes: str | None,
    watch: bool,
    as_json: bool,
) -> int:
    """Queue a run: a trainer, a preset, then a TOML file's fields, then --set fields."""
    body: dict[str, Any] = {
        "trainer": trainer,
        "config": config_fields(assignments, config_path),
        "name": name,
        "priority": priority,
    }
    if preset:
        body["preset"] = preset
    if tags:
        body["tags"] = list(tags)
    if notes:
        body["notes"] = notes
    portal = session.portal()
    run = portal.request("POST", "runs/", body=body)
    if as_json:
        if not watch:  # watching, the first JSON line is the run already
            render.print_json(run)
    else:
        render.out.print(
            f"Queued run {run['id']} ({run.get('display_name') or run.get('name')}), "
            f"position {run.get('queue_position') or '-'}.",
            markup=False,
        )
    if not watch:
        return Exit.OK
    return watch_run(portal, run["id"], as_json=as_json)


@click.command("runs")
@click.option("--status", type=click.Choice(STATUSES), help="Only runs in this state.")
@click.option("--trainer", help="Only this trainer's runs.")
@click.option("--tag", help="Only runs with this tag.")
@click.option("--owner", help="Only this user's runs (staff).")
@click.option("--search", help="Only runs whose name contains this.")
@click.option(
    "--shared",
    type=click.Choice(["own", "with_me", "public"]),
    help="own: yours; with_me: others' shared with you or your groups; public: public runs.",
)
@click.option("--created-after", metavar="ISO-DATETIME")
@click.option("--created-before", metavar="ISO-DATETIME")
@click.option("--ordering", type=click.Choice(ORDERINGS), help="Default: newest first.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="At most this many runs (pages are followed).",
)
@json_option
@pass_session
def list_runs(session: Session, /, limit: int, as_json: bool, **filters: Any) -> int:
    """The runs you may see, newest first, filtered."""
    runs = list(session.portal().pages("runs/", limit=limit, page_size=min(limit, 200), **filters))
    if as_json:
        render.print_json(runs)
        return Exit.OK
    render.table(
        ("id", "name", "trainer", "status", "progress", "owner", "tags", "created"),
        (
            (
                r["id"],
                r.get("display_name") or r.get("name"),
                r.get("trainer"),
                r.get("status"),
                render.progress_text(r),
                r.get("owner"),
                r.get("tags"),
                render.when(r.get("created_at")),
            )
            for r in runs
        ),
    )
    return Exit.OK


def summary_fields(summary: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """A finished run's summary (docs/api.md) as lines of ``show``: how it ended, the best
    step and the checkpoint to use."""
    if not summary:
        return []
    fields: list[tuple[str, Any]] = [("ended", f"{summary.get('status')}: {summary.get('reason')}")]
    if summary.get("duration_s") is not None:
        fields.append(("duration", f"{float(summary['duration_s']):.0f} s"))
    best = summary.get("best")
    if best:
        fields.append(("best", f"{best['metric']} {best['value']:.4g} at step {best['step']}"))
    checkpoint = summary.get("checkpoint")
    if checkpoint:
        fields.append(
            (
                "use checkpoint",
                f"{checkpoint['id']} (step {checkpoint['step']}, {checkpoint['kind']})",
            )
        )
    return fields


@click.command()
@run_argument
@json_option
@pass_session
def show(session: Session, run: int, as_json: bool) -> int:
    """One run: its state, config and checkpoints."""
    portal = session.portal()
    shown = portal.request("GET", f"runs/{run}/")
    if as_json:
        render.print_json(shown)
        return Exit.OK
    render.fields(
        [
            ("run", f"{shown['id']} {shown.get('display_name') or shown.get('name')}"),
            ("owner", shown.get("owner")),
            ("trainer", shown.get("trainer")),
            ("status", shown.get("status")),
            (
                "progress",
                f"{render.progress_text(shown)} "
                f"(step {shown.get('step')} of {shown.get('total_steps')})",
            ),
            ("priority", shown.get("priority")),
            ("queue position", shown.get("queue_position")),
            ("tags", shown.get("tags")),
            ("created", render.when(shown.get("created_at"))),
            ("started", render.when(shown.get("started_at"))),
            ("finished", render.when(shown.get("finished_at"))),
            ("error", shown.get("error")),
            ("notes", shown.get("notes")),
            ("config", " ".join(f"{k}={v}" for k, v in (shown.get("config") or {}).items())),
            *summary_fields(shown.get("summary")),
        ]
    )
    checkpoints = portal.request("GET", f"runs/{run}/checkpoints/")
    if checkpoints:
        render.table(
            ("checkpoint", "step", "kind", "size", "sha256", "created"),
            (
                (
                    c["id"],
                    c["step"],
                    c["kind"],
                    c["size"],
                    c["sha256"][:12],
                    render.when(c.get("created_at")),
                )
                for c in (checkpoints["results"] if isinstance(checkpoints, dict) else checkpoints)
            ),
            title="checkpoints (keisei download RUN --checkpoint ID)",
        )
    return Exit.OK


def command_for(kind: str, help_text: str) -> click.Command:
    """``keisei <kind> RUN [--set k=v] [--wait]``: one command sent to the run."""

    @click.command(kind, help=f"{help_text} Only the owner and staff may.")
    @run_argument
    @set_option
    @click.option(
        "--wait", is_flag=True, help="Wait until the worker has done it (exit 1 if it failed)."
    )
    @click.option(
        "--timeout",
        type=click.FloatRange(min=1),
        default=300,
        show_default=True,
        help="Seconds --wait waits.",
    )
    @json_option
    @pass_session
    def send(
        session: Session,
        run: int,
        assignments: tuple[str, ...],
        wait: bool,
        timeout: float,
        as_json: bool,
    ) -> int:
        body = {"kind": kind, "params": config_fields(assignments, None)}
        portal = session.portal()
        sent = portal.request("POST", f"runs/{run}/commands/", body=body)
        if wait:
            sent = command_settled(portal, run, sent, timeout=timeout)
        if as_json:
            render.print_json(sent)
        else:
            outcome = sent.get("error") or sent.get("result") or ""
            render.out.print(
                f"{kind} sent to run {run}: command {sent['id']}, {sent['state']}"
                + (f": {outcome}" if outcome else "")
                + ".",
                markup=False,
            )
        if wait and sent["state"] != "done":
            return Exit.FAILED
        return Exit.OK

    return send


def command_settled(
    portal: Portal, run: int, sent: dict[str, Any], *, timeout: float
) -> dict[str, Any]:
    """The command once it is done, failed or rejected (read every second), or an error after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    command = sent
    while command["state"] not in SETTLED:
        if time.monotonic() > deadline:
            raise ClientError(
                f"command {sent['id']} is still {command['state']} after {timeout:g} s",
                lines=("it may still be carried out; keisei show RUN tells",),
            )
        time.sleep(1.0)
        listed = portal.request("GET", f"runs/{run}/commands/")
        command = next((c for c in listed if c["id"] == sent["id"]), command)
    return command


STEERING: list[click.Command] = [command_for(kind, text) for kind, text in COMMANDS.items()]


@click.command()
@run_argument
@json_option
@pass_session
def watch(session: Session, run: int, as_json: bool) -> int:
    """Follow a run live until it ends: a progress bar and its latest metrics.

    Exit 0 if it completed, 1 if it failed, was stopped or cancelled. Ctrl-C stops watching
    and leaves the run alone. With --json, every live message is one JSON line."""
    return watch_run(session.portal(), run, as_json=as_json)
