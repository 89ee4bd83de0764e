"""Runs whose user-typed text is markup, for the input-safety tests (server side and browser)."""

from __future__ import annotations

from pathlib import Path

from monitoring.services import event_record
from runs.models import Run
from tests.support.showroom import finished_shogi_run, league_between, stored_game

EVIL = "<img src=x onerror=alert(1)>"
EVIL_NOTES = '</textarea><script>alert("notes")</script>'
EVIL_TAG = '"><svg onload=alert(3)>'
EVIL_CONFIG = "<script>alert('config')</script>"


def evil_runs(owner, workdir: Path) -> tuple[Run, Run]:
    """Two finished shogi-ppo runs with checkpoints, in the league, with a stored game, all
    carrying markup where users type text."""
    first = finished_shogi_run(owner, workdir / "a", EVIL, steps=50)
    second = finished_shogi_run(owner, workdir / "b", EVIL + " 2", steps=40)
    for run in (first, second):
        Run.objects.filter(pk=run.pk).update(
            notes=EVIL_NOTES,
            tags=[EVIL_TAG, "ok-tag"],
            config={"precision": EVIL_CONFIG, EVIL_CONFIG: 1, "learning_rate": 0.001},
        )
        event_record(run_id=run.pk, type="log", message=EVIL)
    league_between(first, second)
    game = stored_game(first)
    game.black, game.white = EVIL, EVIL + " white"
    game.save(update_fields=["black", "white"])
    first.refresh_from_db()
    return first, second
