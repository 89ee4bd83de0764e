"""The access matrix's rows of the games routes (the vocabulary: tests/support/access_rows.py):
the stored game nearest a chart's step (issue 17, part 2) and the arena (part 4)."""

from __future__ import annotations

from tests.support.access_rows import PAGE_RUN_READ, AppRows, every_method, page_signed_in, who

# Any signed-in person's socket: resume is the run socket's alone (as /ws/runs/ answers).
_OPEN = {
    "handshake": "connected",
    "ping": "pong",
    "subscribe": "quiet",
    "unsubscribe": "quiet",
    "resume": "error:unknown_action",
}
_REFUSED = {"handshake": "403"}

ROWS = AppRows(
    routes={
        # A redirect to the game viewer for whoever may see the run (the module's run has a
        # game at step 0); what an absent run gets for everyone else.
        "runs:game-nearest": every_method(PAGE_RUN_READ),
        # The arena's page: any signed-in person (its socket keeps the games they may see).
        "runs:arena": every_method(page_signed_in()),
    },
    queries={"runs:game-nearest": "?step=0"},
    sockets={
        "/ws/arena/": who(
            anonymous=_REFUSED,
            expired=_REFUSED,
            revoked=_REFUSED,
            other=_OPEN,
            owner=_OPEN,
            staff=_OPEN,
            viewer=_OPEN,
            unshared=_OPEN,
            public=_OPEN,
        )
    },
)
