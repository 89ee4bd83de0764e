"""Reads for the arena (issue 17, part 4): the players' ratings shown beside a live game.

A rating is a league rating: a checkpoint's own entry, an anchor's fixed rating, and for a
run's self-play (its live network, no file) the best rating any of its checkpoints holds.
None where there is none yet. Read once when a game starts, never per board.
"""

from __future__ import annotations

from keisei.registry import UnknownTrainer, get_trainer
from runs.models import LeagueEntry


def checkpoint_rating(*, checkpoint_id: int | None) -> float | None:
    """The league rating of a checkpoint; None if it has no entry."""
    if checkpoint_id is None:
        return None
    rating = (
        LeagueEntry.objects.filter(checkpoint_id=checkpoint_id)
        .values_list("rating", flat=True)
        .first()
    )
    return None if rating is None else round(rating, 1)


def run_rating(*, run_id: int) -> float | None:
    """The best league rating of the run's checkpoints; None if none is in the league."""
    rating = (
        LeagueEntry.objects.filter(checkpoint__run_id=run_id)
        .order_by("-rating")
        .values_list("rating", flat=True)
        .first()
    )
    return None if rating is None else round(rating, 1)


def anchor_rating(*, trainer: str, name: str) -> float | None:
    """A built-in player's fixed rating, if the trainer states one (``anchor_ratings``)."""
    try:
        rating = get_trainer(trainer).anchor_ratings.get(name)
    except UnknownTrainer:
        return None
    return None if rating is None else float(rating)
