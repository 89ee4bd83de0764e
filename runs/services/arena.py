"""The arena's feed (issue 17, part 4): the board of a game being played, sent to the arena
at most once a second, with its players and their ratings.

An ``ArenaFeed`` is made when a game starts (a run's self-play, an evaluation job, a league
match) and called with each live board (``Callbacks.on_board``' snapshot, or a match's
``watch``). It publishes through ``monitoring.live`` (never waiting on the network) and drops
the boards that come sooner than ``ARENA_SECONDS`` after the last one sent; ``finish`` says
the game is over at once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from monitoring import live

ARENA_SECONDS = 1.0
# The board's fields the arena shows (a snapshot's others stay on the run page).
BOARD_FIELDS = (
    "sfen",
    "last_move",
    "moves",
    "ply",
    "side_to_move",
    "in_check",
    "over",
)


class ArenaFeed:
    """One live game's boards to the arena, at most one per ``interval`` seconds."""

    def __init__(
        self,
        *,
        run_id: int,
        owner_id: int,
        game: str,
        source: str,
        title: str,
        players: tuple[str, str],
        ratings: tuple[float | None, float | None],
        interval: float = ARENA_SECONDS,
        clock: Any = time.monotonic,
    ) -> None:
        self.run_id, self.owner_id, self.game = run_id, owner_id, game
        self.source, self.title = source, title
        self.players, self.ratings = players, ratings
        self.interval, self.clock = interval, clock
        self.last_sent: float | None = None
        self.last_board: dict[str, Any] | None = None
        self.sent = 0

    def __call__(self, snapshot: Mapping[str, Any]) -> None:
        """A new board: sent if ``interval`` has passed since the last one sent."""
        self.last_board = {k: snapshot[k] for k in BOARD_FIELDS if k in snapshot}
        if "game" in snapshot:  # the game's number (in the match, or of the self-play)
            self.last_board["index"] = snapshot["game"]
        if "agent_black" in snapshot:
            self.last_board["agent_black"] = bool(snapshot["agent_black"])
        now = self.clock()
        if self.last_sent is not None and now - self.last_sent < self.interval:
            return
        self.last_sent = now
        self._send(self.last_board, finished=False)

    def finish(self) -> None:
        """The game (or the match) is over: its last board, said at once."""
        if self.last_board is not None:
            self._send(self.last_board, finished=True)

    def _send(self, board: Mapping[str, Any], *, finished: bool) -> None:
        # The agent's side changes game by game in a match: the first player named is the
        # agent, shown on the side it plays.
        first, second = self.players
        first_rating, second_rating = self.ratings
        agent_black = board.get("agent_black", True)
        black, white = (first, second) if agent_black else (second, first)
        black_rating, white_rating = (
            (first_rating, second_rating) if agent_black else (second_rating, first_rating)
        )
        live.publish_arena(
            self.run_id,
            owner_id=self.owner_id,
            game=self.game,
            data={
                **board,
                "source": self.source,
                "title": self.title,
                "black": black,
                "white": white,
                "black_rating": black_rating,
                "white_rating": white_rating,
                "finished": finished,
            },
        )
        self.sent += 1
