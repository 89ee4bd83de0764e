"""The arena's feed (runs.services.arena.ArenaFeed) alone: one board a second at most, the end
said at once, each player on the side it plays."""

from __future__ import annotations

from runs.services import arena


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_boards_are_sent_at_most_once_a_second_and_the_end_at_once(monkeypatch):
    sent = []
    monkeypatch.setattr(arena.live, "publish_arena", lambda run, **kw: sent.append(kw["data"]))
    clock = Clock()
    feed = arena.ArenaFeed(
        run_id=1,
        owner_id=2,
        game="evaluation:9",
        source="evaluation",
        title="t",
        players=("agent", "random"),
        ratings=(1200.0, 1000.0),
        clock=clock,
    )
    for ply in range(1, 6):  # five plies in 0.8 s: the first only
        feed({"sfen": "s", "ply": ply, "game": 0, "agent_black": True})
        clock.now += 0.2
    assert [b["ply"] for b in sent] == [1]
    clock.now += 0.2  # 1.0 s after the first
    feed({"sfen": "s", "ply": 6, "game": 1, "agent_black": False})
    assert [b["ply"] for b in sent] == [1, 6]
    feed({"sfen": "s", "ply": 7, "game": 1, "agent_black": False})
    feed.finish()
    assert [(b["ply"], b["finished"]) for b in sent] == [(1, False), (6, False), (7, True)]
    first, second = sent[0], sent[1]
    assert (first["black"], first["black_rating"], first["white"]) == ("agent", 1200.0, "random")
    assert (second["black"], second["white"], second["white_rating"]) == ("random", "agent", 1200.0)
    assert second["index"] == 1 and "game" not in second  # the feed's key names the game
