"""The arena's feed (issue 17, part 4) over a real Daphne: a real worker's evaluation job and a
run's self-play send their boards to ``/ws/arena/``, at most one a second per game, with the
players and their ratings, to the people who may see the run and nobody else."""

from __future__ import annotations

import asyncio
import json

import pytest
from django.db import connection

from keisei.interfaces import CheckpointInfo
from monitoring import live
from runs import services
from runs.execution import RunCallbacks
from runs.models import Checkpoint, Evaluation, Run, RunStatus
from tests.support.shogi import TINY_SHOGI, train_tiny_shogi
from tests.support.sockets import connect, receive, receive_type, token_for
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

# Long enough for several boards: a few seconds on one core.
GAMES, PLIES = 400, 300


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory) -> list[CheckpointInfo]:
    return train_tiny_shogi(tmp_path_factory.mktemp("tiny-shogi-arena"))


def final_checkpoint(user, infos: list[CheckpointInfo]) -> Checkpoint:
    run = Run.objects.create(
        owner=user, trainer="shogi-ppo", config=TINY_SHOGI, status=RunStatus.COMPLETED
    )
    return [services.checkpoint_record(run_id=run.pk, info=info) for info in infos][-1]


async def in_thread(function, *args):
    """``function(*args)`` in a thread of asyncio's pool, its database connection closed after
    (an open one would outlive the test and hold the test database)."""

    def call():
        try:
            return function(*args)
        finally:
            connection.close()

    return await asyncio.to_thread(call)


async def nothing_but_pong(ws) -> dict:
    """What a socket has had since it connected, up to the answer to a ping: the answer, if
    nothing came before it."""
    await ws.send(json.dumps({"action": "ping"}))
    return await receive(ws)


def test_an_evaluation_is_live_in_its_viewers_arena_one_board_a_second(
    celery_worker, daphne_server, owner, outsider, tiny_files
):
    final = final_checkpoint(owner, tiny_files)
    tokens = token_for(owner), token_for(outsider)

    def queue() -> Evaluation:
        return services.evaluation_request(
            user=owner, checkpoint=final, opponent="random", games=GAMES, max_plies=PLIES
        )

    async def watch():
        async with (
            connect(daphne_server, "/ws/arena/", tokens[0]) as mine,
            connect(daphne_server, "/ws/arena/", tokens[1]) as theirs,
        ):
            assert (await receive(mine))["type"] == "connected"
            assert (await receive(theirs))["type"] == "connected"
            job = await in_thread(queue)
            boards = []
            while not (boards and boards[-1]["data"]["finished"]):
                msg = await receive_type(mine, "arena", timeout=180)
                if msg["data"]["game"] == f"evaluation:{job.pk}":
                    boards.append(msg)
            return job, boards, await nothing_but_pong(theirs)

    job, boards, outsiders = asyncio.run(watch())
    assert outsiders["type"] == "pong"  # the outsider's arena showed none of it
    live_boards = [b for b in boards if not b["data"]["finished"]]
    assert len(live_boards) >= 2, boards
    gaps = [b["ts"] - a["ts"] for a, b in zip(live_boards, live_boards[1:], strict=False)]
    assert min(gaps) >= 0.95, gaps  # at most one board a second
    first = live_boards[0]
    assert first["run"] == final.run_id
    data = first["data"]
    assert data["source"] == "evaluation" and data["sfen"] and data["ply"] >= 1
    assert {data["black"], data["white"]} == {
        f"checkpoint {final.pk} (run {final.run_id}, step {final.step})",
        "random",
    }
    random_side = "black" if data["black"] == "random" else "white"
    assert data[f"{random_side}_rating"] == 1000.0  # the random anchor's fixed rating
    assert len(data["moves"]) == data["ply"]
    done = wait_for(
        lambda: Evaluation.objects.filter(pk=job.pk, state="done").first(),
        timeout=120,
        what="the evaluation to be stored",
    )
    assert done.games == GAMES


def test_a_league_match_is_live_in_the_arena_of_its_first_players_viewers(
    daphne_server, owner, outsider, tiny_files
):
    from runs.models import LeagueEntry
    from runs.services.league import league_enter, league_round

    entry = league_enter(checkpoint=final_checkpoint(owner, tiny_files))
    # Seated just under the greedy anchor: its match is against that anchor.
    LeagueEntry.objects.filter(pk=entry.pk).update(rating=1990.0)
    tokens = token_for(owner), token_for(outsider)

    async def watch():
        async with (
            connect(daphne_server, "/ws/arena/", tokens[0]) as mine,
            connect(daphne_server, "/ws/arena/", tokens[1]) as theirs,
        ):
            assert (await receive(mine))["type"] == "connected"
            assert (await receive(theirs))["type"] == "connected"
            played = await in_thread(lambda: league_round(matches=1, games=4))
            while True:
                msg = await receive_type(mine, "arena", timeout=60)
                if msg["data"]["game"].startswith("league:") and msg["data"]["finished"]:
                    break
            return played, msg, await nothing_but_pong(theirs)

    played, last, outsiders = asyncio.run(watch())
    assert len(played) == 1 and outsiders["type"] == "pong"
    data = last["data"]
    assert last["run"] == entry.checkpoint.run_id and data["source"] == "league"
    sides = {data["black"]: data["black_rating"], data["white"]: data["white_rating"]}
    assert sides == {f"league entry {entry.pk}": 1990.0, "anchor greedy": 2000.0}
    assert data["sfen"] and data["ply"] == len(data["moves"]) >= 1


def test_a_runs_self_play_is_in_the_arena_and_in_a_new_arenas_snapshot(
    daphne_server, owner, outsider
):
    run = Run.objects.create(
        owner=owner, trainer="shogi-ppo", config={}, name="selfplaying", status=RunStatus.RUNNING
    )
    callbacks = RunCallbacks(run, "host:1")
    board = {
        "sfen": "lnsgkgsnl/1r5b1/ppppppppp/9/9/2P6/PP1PPPPPP/1B5R1/LNSGKGSNL w - 2",
        "last_move": "7g7f",
        "moves": ["7g7f"],
        "ply": 1,
        "side_to_move": "white",
        "in_check": False,
        "game": 3,
    }
    token, other = token_for(owner), token_for(outsider)

    async def watch():
        async with connect(daphne_server, "/ws/arena/", token) as ws:
            assert (await receive(ws))["type"] == "connected"
            await in_thread(callbacks.on_board, board)
            sent = await receive_type(ws, "arena")
        await asyncio.to_thread(live.publisher().flush)
        async with connect(daphne_server, "/ws/arena/", token) as ws:
            snapshot = await receive(ws)
        async with connect(daphne_server, "/ws/arena/", other) as ws:
            hidden = await receive(ws)
        return sent, snapshot, hidden

    try:
        sent, snapshot, hidden = asyncio.run(watch())
    finally:
        callbacks.close(wait_seconds=5)
    assert sent["run"] == run.pk
    data = sent["data"]
    assert data["game"] == f"selfplay:{run.pk}" and data["source"] == "selfplay"
    assert data["index"] == 3 and data["sfen"] == board["sfen"] and data["ply"] == 1
    assert data["black"] == data["white"] == "self-play of selfplaying"
    assert data["black_rating"] is None  # no checkpoint of the run is in the league
    [shown] = snapshot["data"]["games"]
    assert shown["run"] == run.pk and shown["sfen"] == board["sfen"]
    assert hidden["data"]["games"] == []
