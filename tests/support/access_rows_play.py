"""The access matrix's rows of the play routes (the vocabulary: tests/support/access_rows.py).

A game belongs to the person who plays it: only they see or move it (staff too get 404, as
for a token). Starting one names a checkpoint: whoever may see its run may play it, everyone
else gets 404. The module's checkpoint is a digits run's, which does not play games: those
allowed through get 400 naming ``checkpoint``, after the access check that matters here."""

from __future__ import annotations

from typing import Any

from tests.support import access_matrix as m
from tests.support.access_rows import (
    API_405,
    API_DEAD,
    API_OWNERS_OWN,
    PAGE_DEAD,
    PAGE_OWNERS_OWN,
    AppRows,
    api_signed_in,
    every_method,
    methods,
    only,
    page_signed_in,
    who,
)

# Starting a game against the owner's checkpoint: those who may see the run reach the
# trainer check (digits does not play: 400); the rest are told it does not exist.
PAGE_START = who(**PAGE_DEAD, other=404, owner=400, staff=400, viewer=400, unshared=404, public=400)
API_START = who(**API_DEAD, other=404, owner=400, staff=400, viewer=400, unshared=404, public=400)
# The owner's own game, changed: an empty move is 400, and resigning reaches the trainer
# check (400); everyone else 404.
API_OWN_GAME_CHANGE = {**API_OWNERS_OWN, m.OWNER: 400}


def _objects(*, owner: Any, viewer: Any, values: dict[str, Any]) -> dict[str, Any]:
    from play.models import PlayGame

    game = PlayGame.objects.create(
        user=owner, checkpoint_id=values["checkpoint_id"], side="black", state={}
    )
    return {"game_id": game.pk}


ROWS = AppRows(
    routes={
        "play:index": methods(
            GET=page_signed_in(),
            POST=PAGE_START,
            PUT=page_signed_in(),
            PATCH=page_signed_in(),
            DELETE=page_signed_in(),
        ),
        "play:game": every_method(PAGE_OWNERS_OWN),
        "play-api:games": methods(
            GET=api_signed_in(), POST=API_START, PUT=API_405, PATCH=API_405, DELETE=API_405
        ),
        "play-api:game": only("GET", API_OWNERS_OWN, API_405),
        "play-api:move": only("POST", API_OWN_GAME_CHANGE, API_405),
        "play-api:resign": only("POST", API_OWN_GAME_CHANGE, API_405),
    },
    bodies={
        ("play:index", "POST"): {"checkpoint": "{checkpoint_id}"},
        ("play-api:games", "POST"): {"checkpoint": "{checkpoint_id}"},
    },
    objects=_objects,
)
