"""Reads of the play app: a person's games, what they may play against, a game as the page
and the API show it."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from keisei.registry import available_trainers
from monitoring.errors import NotFound
from play.models import PlayGame
from runs import access
from runs.models import Checkpoint
from runs.trainers import trainer_plays_people

CHOICES = 50  # checkpoints offered by the form, newest first
RECENT = 10  # a person's games listed on the play page


def play_game_for_user(*, user: Any, game_id: int) -> PlayGame:
    """``user``'s own game, while they may still see its checkpoint's run; ``NotFound``
    otherwise (someone else's game and one that does not exist answer alike)."""
    game = (
        PlayGame.objects.select_related("checkpoint__run", "user", "record")
        .filter(pk=game_id, user_id=user.pk)
        .first()
    )
    if game is None or not access.may_view_run(user, game.checkpoint.run_id):
        raise NotFound("no such game")
    return game


def play_checkpoint_choices(*, user: Any, chosen: Any = None) -> list[dict[str, Any]]:
    """The newest checkpoints ``user`` may play: of runs they may see (their own, shared with
    them, public) whose trainer plays a person; and ``chosen`` (an id from a checkpoint's
    link), if it is such a checkpoint older than those."""
    playing = [t for t in sorted(available_trainers()) if trainer_plays_people(t)]
    offered = Checkpoint.objects.filter(
        run__in=access.runs_visible(user=user), run__trainer__in=playing
    ).select_related("run")
    checkpoints = list(offered.order_by("-created_at", "-id")[:CHOICES])
    raw = str(chosen or "").strip()
    if raw.isdigit() and all(c.pk != int(raw) for c in checkpoints):
        checkpoints = [*offered.filter(pk=int(raw)), *checkpoints]
    return [
        {"id": c.pk, "label": f"{c.run.display_name} @ step {c.step} ({c.kind})"}
        for c in checkpoints
    ]


def play_games_recent(*, user: Any) -> list[PlayGame]:
    return list(
        PlayGame.objects.filter(user_id=user.pk, checkpoint__run__in=access.runs_visible(user=user))
        .select_related("checkpoint__run")
        .order_by("-updated_at", "-id")[:RECENT]
    )


def play_game_view(game: PlayGame) -> dict[str, Any]:
    """A game as the API answers it and the page draws it."""
    checkpoint = game.checkpoint
    record = None
    if game.record_id is not None:
        run_id, record_id = checkpoint.run_id, game.record_id
        record = {
            "id": record_id,
            "page": reverse("runs:game", args=[run_id, record_id]),
            "kif": reverse("runs:game-record", args=[run_id, record_id, "kif"]),
            "csa": reverse("runs:game-record", args=[run_id, record_id, "csa"]),
        }
    return {
        "id": game.pk,
        "checkpoint": {
            "id": checkpoint.pk,
            "step": checkpoint.step,
            "kind": checkpoint.kind,
            "run": checkpoint.run_id,
            "run_name": checkpoint.run.display_name,
        },
        "side": game.side,
        "mode": game.mode,
        "temperature": game.temperature,
        "status": game.status,
        "result": game.result,
        "reason": game.reason,
        "start_sfen": game.start_sfen,
        "moves": list(game.moves),
        "ply": game.ply,
        "model_move": game.model_move or None,
        "state": game.state,
        "analysis": game.analysis,
        "record": record,
        "created_at": game.created_at,
        "updated_at": game.updated_at,
    }
