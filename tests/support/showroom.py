"""A portal with something on every page, made through the services as a worker would: a live
shogi-ppo run training on a real worker (its board, charts and timeline moving), a finished
one with checkpoints, metrics, a stored game and league matches, and a showcase game.

Shared by the browser tests that visit every page (accessibility, phone widths, the request
budget) and by ``docs/screenshots/make.py``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from monitoring import live
from runs import services
from runs.models import Checkpoint, Evaluation, GameRecord, Run, RunStatus
from runs.services.showcase import showcase_request
from tests.support.shogi import train_tiny_shogi
from tests.support.waiting import wait_for

# Small enough to start in seconds on a shared core, and far from done when a test ends.
LIVE_SHOGI = {
    "num_envs": 4,
    "num_steps": 8,
    "max_plies": 40,
    "blocks": 1,
    "channels": 8,
    "value_hidden": 8,
    "minibatch_size": 16,
    "total_steps": 4 * 8 * 100_000,
    "precision": "fp32",
    "threads": 1,
    "spectate": True,
    "seed": 3,
}
START = "lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b - 1"
MOVES = ["7g7f", "3c3d", "8h3c+", "4a4b", "3c4b", "5a4b", "G*5b"]


@dataclass
class Showroom:
    live: Run
    finished: Run
    rival: Run
    game: GameRecord
    showcase: Evaluation

    def pages(self) -> dict[str, str]:
        """Every page of the portal a signed-in user opens, by a short name: its path."""
        return {
            "runs": "/runs/",
            "run": f"/runs/{self.live.pk}/",
            "finished-run": f"/runs/{self.finished.pk}/",
            "game": f"/runs/{self.finished.pk}/games/{self.game.pk}/",
            "compare": f"/runs/compare/?runs={self.finished.pk},{self.rival.pk},{self.live.pk}",
            "new-run": "/runs/new/?trainer=shogi-ppo",
            "league": "/runs/league/",
            "showcase-new": "/runs/league/showcase/",
            "showcase": f"/runs/{self.finished.pk}/showcase/{self.showcase.pk}/",
            "account": "/account/",
            "system": "/system/",
            "arena": "/runs/arena/",
            "play": f"/play/?checkpoint={self.finished.checkpoints.order_by('-step').first().pk}"
            if self.finished.checkpoints.exists()
            else "/play/",
            "alerts": "/alerts/",
            "webhooks": "/alerts/webhooks/",
            "run-rules": f"/alerts/runs/{self.finished.pk}/rules/",
        }


def live_shogi_run(owner, name: str = "ppo live") -> Run:
    """A shogi-ppo run queued for the worker, returned once its board is live."""
    from django.core.cache import cache

    run = services.run_queue(
        owner=owner, trainer="shogi-ppo", config=LIVE_SHOGI, name=name, tags=["demo", "ppo"]
    )
    wait_for(lambda: cache.get(live.board_cache_key(run.pk)), timeout=180, what="a live board")
    return run


def stop_run(run: Run, owner) -> None:
    """Stop a run on the worker and wait for it to end (a test must not leave it training)."""
    run.refresh_from_db()
    if run.status in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.PAUSED):
        kind = "cancel" if run.status == RunStatus.QUEUED else "stop"
        services.command_request(run=run, user=owner, kind=kind)
    ended = (RunStatus.STOPPED, RunStatus.CANCELLED, RunStatus.COMPLETED, RunStatus.FAILED)

    def stopped() -> bool:
        run.refresh_from_db()
        return run.status in ended

    wait_for(stopped, timeout=120, what=f"run {run.pk} to stop")


def finished_shogi_run(owner, workdir: Path, name: str, steps: int = 400) -> Run:
    """A completed shogi-ppo run: trained checkpoints and a history of the trainer's keys."""
    files = train_tiny_shogi(workdir)
    run = Run.objects.create(
        owner=owner,
        name=name,
        trainer="shogi-ppo",
        config={},
        status=RunStatus.COMPLETED,
        step=steps,
        total_steps=steps,
        progress=1.0,
        tags=["baseline"],
        notes="A finished run, for the pages to show.",
    )
    for info in files:
        services.checkpoint_record(run_id=run.pk, info=info)
    wall = dt.datetime.now(dt.UTC)
    points = []
    for s in range(1, steps + 1):
        points += [
            ("losses/policy_loss", s, 2.0 / (1 + s / 50), wall),
            ("losses/value_loss", s, 0.8 / (1 + s / 80), wall),
            ("losses/entropy", s, 4.0 - s / 200, wall),
            ("charts/win_rate", s, min(1.0, s / steps + 0.1), wall),
            ("time/positions_per_s", s, 600.0 + (s % 7) * 5, wall),
        ]
    from monitoring.services import metrics_record

    metrics_record(run_id=run.pk, points=points)
    return run


def stored_game(run: Run) -> GameRecord:
    return GameRecord.objects.create(
        run=run,
        source="sample",
        step=run.step,
        black=f"checkpoint@{run.step}",
        white="random",
        result="unfinished",
        reason="max_plies",
        plies=len(MOVES),
        start_sfen=START,
        moves=MOVES,
        kif="kif text",
        csa="csa text",
    )


def league_between(first: Run, second: Run) -> None:
    """Both runs' final checkpoints in the league, with two matches and a stored game."""
    entries = [
        services.league_enter(checkpoint=Checkpoint.objects.filter(run=r).order_by("-step")[0])
        for r in (first, second)
    ]
    services.league_record_match(
        first_id=entries[0].pk, second_id=entries[1].pk, wins=3, draws=1, losses=1
    )
    match = services.league_record_match(
        first_id=entries[1].pk, second_id=entries[0].pk, wins=2, draws=0, losses=3
    )
    game = GameRecord.objects.create(
        run=second,
        source="league",
        black=f"league entry {entries[1].pk}",
        white=f"league entry {entries[0].pk}",
        result="black_win",
        plies=3,
        start_sfen="startpos",
        moves=MOVES[:3],
    )
    match.game_records.add(game)


def showroom(owner, workdir: Path) -> Showroom:
    """Everything above, for ``owner``; the live run last (it takes the worker)."""
    finished = finished_shogi_run(owner, workdir / "finished", "ppo baseline")
    rival = finished_shogi_run(owner, workdir / "rival", "ppo wider net", steps=300)
    game = stored_game(finished)
    league_between(finished, rival)
    final = Checkpoint.objects.filter(run=finished).order_by("-step")[0]
    showcase, _ = showcase_request(user=owner, black=str(final.pk), white="random", speed="1")
    live_run = live_shogi_run(owner)
    return Showroom(live=live_run, finished=finished, rival=rival, game=game, showcase=showcase)
