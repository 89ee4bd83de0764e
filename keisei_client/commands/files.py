"""What runs leave behind: checkpoint files, game records and metrics side by side."""

from __future__ import annotations

import csv
import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from keisei_client import render
from keisei_client.commands.common import Session, json_option, pass_session, run_argument
from keisei_client.exits import ClientError, Exit
from keisei_client.portal import Portal
from keisei_client.watch_views import summary
from keisei_fields.spreadsheet import neutralise_cell

CHUNK = 1 << 16


def _checkpoint(portal: Portal, run: int, wanted: int | None) -> dict[str, Any]:
    """The checkpoint asked for, or the run's newest, from the run's listing."""
    listed = portal.request("GET", f"runs/{run}/checkpoints/")
    checkpoints = listed["results"] if isinstance(listed, dict) else listed
    if not checkpoints:
        raise ClientError(f"run {run} has no checkpoints yet", exit_code=Exit.NOT_FOUND)
    if wanted is None:
        return dict(max(checkpoints, key=lambda c: (c["step"], c["id"])))
    for checkpoint in checkpoints:
        if checkpoint["id"] == wanted:
            return dict(checkpoint)
    ids = ", ".join(str(c["id"]) for c in checkpoints)
    raise ClientError(
        f"run {run} has no checkpoint {wanted}",
        exit_code=Exit.NOT_FOUND,
        lines=(f"its checkpoints: {ids}",),
    )


@click.command()
@run_argument
@click.option(
    "--checkpoint",
    "checkpoint_id",
    type=click.IntRange(min=1),
    metavar="ID",
    help="A checkpoint id (`keisei show RUN` lists them); default the newest.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=True),
    help="A file or a directory; default run<RUN>-step<STEP>.pt here.",
)
@json_option
@pass_session
def download(
    session: Session, run: int, checkpoint_id: int | None, output: str | None, as_json: bool
) -> int:
    """Download a checkpoint file and check its sha256 against the run's listing.

    The file is written beside its destination as NAME.part and renamed only once its hash
    matches; a mismatch or an interrupted transfer leaves no file and exits non-zero."""
    portal = session.portal()
    checkpoint = _checkpoint(portal, run, checkpoint_id)
    target = Path(output) if output else Path(f"run{run}-step{checkpoint['step']}.pt")
    if target.is_dir():
        target = target / f"run{run}-step{checkpoint['step']}.pt"
    partial = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    try:
        with (
            portal.stream(f"runs/{run}/checkpoints/{checkpoint['id']}/download/") as response,
            open(partial, "wb") as fh,
        ):
            size = (
                int(response.headers.get("Content-Length") or checkpoint.get("size") or 0) or None
            )
            with Progress(
                TextColumn(f"{target.name}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                console=render.err,
                disable=as_json,
            ) as bar:
                task = bar.add_task("download", total=size)
                for chunk in response.iter_bytes(CHUNK):
                    fh.write(chunk)
                    digest.update(chunk)
                    bar.advance(task, len(chunk))
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    expected = str(checkpoint["sha256"]).lower()
    if digest.hexdigest() != expected:
        partial.unlink(missing_ok=True)
        raise ClientError(
            f"checkpoint {checkpoint['id']} failed its check; nothing was kept",
            lines=(f"expected sha256 {expected}", f"received sha256 {digest.hexdigest()}"),
        )
    os.replace(partial, target)
    if as_json:
        render.print_json({**checkpoint, "path": str(target)})
    else:
        render.out.print(
            f"Saved checkpoint {checkpoint['id']} (step {checkpoint['step']}) to {target}; "
            f"sha256 {expected} checked.",
            markup=False,
        )
    return Exit.OK


@click.command()
@run_argument
@click.option(
    "--source",
    type=click.Choice(("sample", "selfplay", "evaluation", "league")),
    help="Only games of this kind.",
)
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@json_option
@pass_session
def games(session: Session, run: int, source: str | None, limit: int, as_json: bool) -> int:
    """A run's game records, newest first (`keisei game RUN GAME` prints one)."""
    listed = session.portal().get(f"runs/{run}/games/", source=source, limit=limit)
    records = listed["results"] if isinstance(listed, dict) else listed
    if as_json:
        render.print_json(records)
        return Exit.OK
    render.table(
        ("game", "source", "step", "black", "white", "result", "reason", "plies", "created"),
        (
            (
                g["id"],
                g["source"],
                g.get("step"),
                g.get("black"),
                g.get("white"),
                g.get("result"),
                g.get("reason"),
                g.get("plies"),
                render.when(g.get("created_at")),
            )
            for g in records
        ),
    )
    return Exit.OK


def usi_position(game: dict[str, Any]) -> str:
    """The game as a USI ``position`` command, for any USI engine."""
    start = game.get("start_sfen") or ""
    head = "position startpos" if not start or start == STARTPOS else f"position sfen {start}"
    moves = " ".join(game.get("moves") or [])
    return f"{head} moves {moves}" if moves else head


STARTPOS = "lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b - 1"


@click.command()
@run_argument
@click.argument("game", type=click.IntRange(min=1), metavar="GAME")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("kif", "csa", "usi", "json")),
    default="kif",
    show_default=True,
)
@json_option
@pass_session
def game(session: Session, run: int, game: int, fmt: str, as_json: bool) -> int:
    """Print one game record: KIF or CSA as the portal wrote it, USI as a `position` command,
    or the whole record as JSON (--json, the same as --format json; redirect to a file:
    `> game.kif`)."""
    record = session.portal().request("GET", f"runs/{run}/games/{game}/")
    if fmt == "json" or as_json:
        render.print_json(record)
    elif fmt == "usi":
        print(usi_position(record))
    else:
        # As stored, for a Shogi program to read: no markup, no wrapping.
        sys.stdout.write(record.get(fmt) or "")
        if record.get(fmt) and not record[fmt].endswith("\n"):
            sys.stdout.write("\n")
    return Exit.OK


def spreadsheet_safe(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` for a CSV file: string cells a spreadsheet would run as formulas are
    neutralised (what a portal sends is not trusted); numbers stay numbers."""
    return [
        {k: neutralise_cell(v) if isinstance(v, str) else v for k, v in row.items()} for row in rows
    ]


def latest_rows(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """Each run's series in one row: its last stored point, its points, its range."""
    rows = []
    for run_id in answer.get("runs") or []:
        series = (answer.get("series") or {}).get(str(run_id)) or {}
        last_steps, lasts = series.get("last_step") or [], series.get("last") or []
        values = [
            v
            for v in (series.get("min") or []) + (series.get("max") or [])
            if isinstance(v, (int, float))
        ]
        rows.append(
            {
                "run": run_id,
                "points": series.get("points", 0),
                "last_step": last_steps[-1] if last_steps else None,
                "last": lasts[-1] if lasts else None,
                "min": min(values) if values else None,
                "max": max(values) if values else None,
            }
        )
    return rows


@click.command()
@click.argument(
    "runs", nargs=-1, required=True, type=click.IntRange(min=1), metavar="RUN [RUN ...]"
)
@click.option(
    "--key", required=True, help="One metric key, e.g. charts/win_rate or losses/policy_loss."
)
@click.option("--csv", "as_csv", is_flag=True, help="The same rows as CSV on stdout.")
@json_option
@pass_session
def compare(session: Session, runs: tuple[int, ...], key: str, as_csv: bool, as_json: bool) -> int:
    """One metric across runs: each run's latest value, its step, and its range."""
    answer = session.portal().get("metrics/compare/", runs=",".join(map(str, runs)), key=key)
    if as_json:
        render.print_json(answer)
        return Exit.OK
    rows = latest_rows(answer)
    columns = ("run", "last_step", "last", "min", "max", "points")
    if as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(spreadsheet_safe(rows))
        return Exit.OK
    render.table(columns, ([row[c] for c in columns] for row in rows), title=key)
    return Exit.OK


@click.command()
@run_argument
@click.option("--keys", help="Comma-separated metric keys; default every key of the run.")
@click.option("--start", type=click.IntRange(min=0), help="The first step.")
@click.option("--end", type=click.IntRange(min=0), help="The last step.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="A file; default stdout.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="The series as JSON instead, downsampled by the server (docs/metrics-api.md).",
)
@pass_session
def metrics(
    session: Session,
    run: int,
    keys: str | None,
    start: int | None,
    end: int | None,
    output: str | None,
    as_json: bool,
) -> int:
    """A run's metric points in full, as CSV (key,step,value,wall_time), streamed."""
    query = {k: v for k, v in (("keys", keys), ("start", start), ("end", end)) if v is not None}
    portal = session.portal()
    if as_json:
        render.print_json(portal.get(f"runs/{run}/metrics/", **query))
        return Exit.OK
    with portal.stream(f"runs/{run}/metrics.csv", params=query) as response:
        sink = open(output, "wb") if output else sys.stdout.buffer
        try:
            for chunk in response.iter_bytes(CHUNK):
                sink.write(chunk)
        finally:
            if output:
                sink.close()
            else:
                sink.flush()
    return Exit.OK


@click.command()
@run_argument
@click.option(
    "--after",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Only events after this seq.",
)
@click.option("--limit", type=click.IntRange(1, 1000), default=200, show_default=True)
@json_option
@pass_session
def events(session: Session, run: int, after: int, limit: int, as_json: bool) -> int:
    """A run's timeline (status changes, checkpoints, commands, logs) in seq order."""
    page = session.portal().get(f"runs/{run}/events/", after_seq=after, limit=limit)
    if as_json:
        render.print_json(page)
        return Exit.OK
    render.table(
        ("seq", "type", "when", "what"),
        (
            (e["seq"], e["type"], render.when_epoch(e.get("ts")), summary(e.get("data") or {}))
            for e in page["results"]
        ),
        title=f"run {run}: events after {after} (last stored: {page.get('last_seq')})",
    )
    if page.get("has_more"):
        last = page["results"][-1]["seq"]
        render.note(f"more: keisei events {run} --after {last}")
    return Exit.OK
