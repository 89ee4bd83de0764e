"""The access matrix's rows of the games routes (the vocabulary: tests/support/access_rows.py):
the stored game nearest a chart's step (issue 17, part 2)."""

from __future__ import annotations

from tests.support.access_rows import PAGE_RUN_READ, AppRows, every_method

ROWS = AppRows(
    # A redirect to the game viewer for whoever may see the run (the module's run has a game
    # at step 0); what an absent run gets for everyone else.
    routes={"runs:game-nearest": every_method(PAGE_RUN_READ)},
    queries={"runs:game-nearest": "?step=0"},
)
