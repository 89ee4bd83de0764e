"""The league's showcase: two players of the user's choosing play one game, which the page
then replays move by move at the speed the user chose.

A showcase is an evaluation job of a single game (``services.evaluations``): the same claim,
lease, reaper and storage on the ``default`` queue, so nothing of playing a match is written
twice. The first player is a checkpoint (the side a trainer loads as the agent); the second is
a built-in player or ``checkpoint:<id>`` (``services.matches``' one grammar). The game is kept
as an evaluation record of the first player's run.
"""

from __future__ import annotations

import math
from typing import Any

from runs import access
from runs.models import Evaluation
from runs.services.errors import EvaluationRejected, FieldsRefused, NotFound, RunReadOnly
from runs.services.evaluations import evaluation_request

# Seconds per move of the replay; the page offers these bounds.
SPEED_MIN, SPEED_MAX, SPEED_DEFAULT = 0.1, 10.0, 1.0
SHOWCASE_GAMES = 1
# The first player is named by the form's ``black``, the second by ``white``.
_FIELDS = {"checkpoint": "black", "opponent": "white", "games": "black"}


class ShowcaseRejected(FieldsRefused):
    """A showcase cannot be asked for as given; ``fields`` names what to fix."""

    code = "showcase_rejected"


def showcase_speed(raw: Any) -> float:
    """Seconds per move from a form or query value (empty: the default); ``ShowcaseRejected``
    naming ``speed`` for anything else than a number from ``SPEED_MIN`` to ``SPEED_MAX``."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return SPEED_DEFAULT
    try:
        speed = float(raw)
    except (TypeError, ValueError):
        speed = math.nan
    if not (math.isfinite(speed) and SPEED_MIN <= speed <= SPEED_MAX):
        raise ShowcaseRejected(
            {"speed": [f"seconds per move: a number from {SPEED_MIN:g} to {SPEED_MAX:g}"]}
        )
    return speed


def showcase_request(*, user: Any, black: Any, white: Any, speed: Any) -> tuple[Evaluation, float]:
    """Queue one game of checkpoint ``black`` (an id, of a run ``user`` may steer) against
    ``white`` (a built-in player or ``checkpoint:<id>``); the job and the replay speed.

    Every refusal names its field (``black``, ``white``, ``speed``); a checkpoint that does not
    exist and one of a run ``user`` may not see get the same answer. The same checkpoint on both
    sides is allowed (it plays itself)."""
    errors: dict[str, list[str]] = {}
    try:
        replay_speed = showcase_speed(speed)
    except ShowcaseRejected as exc:
        errors.update(exc.fields)
        replay_speed = SPEED_DEFAULT
    raw = str(black or "").strip().removeprefix("checkpoint:")
    checkpoint = None
    if not raw.isdigit():
        errors["black"] = ["choose a checkpoint (its id)"]
    else:
        try:
            checkpoint = access.checkpoint_steerable(user=user, checkpoint_id=int(raw))
        except NotFound:
            errors["black"] = [f"no checkpoint {raw} that you may see"]
        except RunReadOnly:
            # The game is stored with the first player's run: a read-only sharer may not
            # add to it (the second player may be any checkpoint they see).
            errors["black"] = [
                f"checkpoint {raw} is of a run shared with you read-only: "
                "the first player must be a checkpoint of your own runs"
            ]
    if not str(white or "").strip():
        errors["white"] = ["choose a player or a checkpoint"]
    if errors or checkpoint is None:
        raise ShowcaseRejected(errors)
    try:
        evaluation = evaluation_request(
            user=user,
            checkpoint=checkpoint,
            opponent=str(white).strip(),
            games=SHOWCASE_GAMES,
            min_games=SHOWCASE_GAMES,
        )
    except EvaluationRejected as exc:
        raise ShowcaseRejected(
            {_FIELDS.get(name, name): reasons for name, reasons in exc.fields.items()}
        ) from None
    return evaluation, replay_speed
