"""``/api/v1/runs/<id>/analysis/`` and ``.../games/<gid>/analysis/``: a real checkpoint of a
tiny trained run analyses positions and whole games for the people who may see the run;
everyone else gets 404; bad input is refused naming the field."""

from __future__ import annotations

import math

import cshogi
import pytest

from keisei.interfaces import CheckpointInfo
from runs import services
from runs.models import GameRecord, Run, RunStatus
from runs.services import analysis
from tests.support.refusals import fields, refusal
from tests.support.shogi import TINY_SHOGI, train_tiny_shogi

pytestmark = pytest.mark.django_db

START = cshogi.STARTING_SFEN
MOVES = ["7g7f", "3c3d", "8h2b+", "3a2b", "B*5e"]


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory) -> list[CheckpointInfo]:
    return train_tiny_shogi(tmp_path_factory.mktemp("tiny-shogi-analysis"))


@pytest.fixture(autouse=True)
def _fresh_analysers():
    # Each test starts with nothing loaded (the LRU lives as long as the process).
    analysis.ANALYSERS.clear()
    yield
    analysis.ANALYSERS.clear()


@pytest.fixture
def analysed_run(owner, tiny_files):
    run = Run.objects.create(
        owner=owner, trainer="shogi-ppo", config=TINY_SHOGI, status=RunStatus.COMPLETED
    )
    first = services.checkpoint_record(run_id=run.pk, info=tiny_files[0])
    last = services.checkpoint_record(run_id=run.pk, info=tiny_files[-1])
    return run, first, last


def store_game(run: Run, *, black: str = "shogi-ppo", step: int = 64, moves=MOVES) -> GameRecord:
    return GameRecord.objects.create(
        run=run,
        source="sample",
        step=step,
        black=black,
        white="random",
        result="unfinished",
        plies=len(moves),
        start_sfen=START,
        moves=list(moves),
    )


def url(run: Run) -> str:
    return f"/api/v1/runs/{run.pk}/analysis/"


def test_the_owner_gets_the_newest_checkpoints_view_of_a_position(owner, api_client, analysed_run):
    run, _, last = analysed_run
    answer = api_client(owner).get(url(run), {"sfen": START, "top_k": 3})
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["checkpoint"] == {"id": last.pk, "step": last.step, "kind": last.kind}
    assert body["side_to_move"] == "black" and body["legal_moves"] == 30
    assert 0 <= body["win_probability"] <= 1
    assert body["black_win_probability"] == pytest.approx(body["win_probability"])
    legal = {cshogi.move_to_usi(m) for m in cshogi.Board().legal_moves}
    top = body["top_moves"]
    assert len(top) == 3 and all(m["usi"] in legal for m in top)
    squares = body["policy_by_square"]
    assert len(squares) == 81 and math.isclose(sum(squares.values()), 1.0, abs_tol=1e-4)
    # Black's first moves never land on rank a (White's back rank) nor on rank i.
    assert all(squares[f"{f}a"] == 0 and squares[f"{f}i"] == 0 for f in range(1, 10))
    for move in top:
        assert squares[move["usi"][2:4]] >= move["probability"] - 1e-6

    # With White to move the side-to-move figure and Black's are complements.
    board = cshogi.Board()
    board.push_usi("7g7f")
    white = api_client(owner).get(url(run), {"sfen": board.sfen()}).json()
    assert white["side_to_move"] == "white"
    assert white["black_win_probability"] == pytest.approx(1 - white["win_probability"])


def test_a_chosen_checkpoint_answers_and_staff_may_ask(staff, api_client, analysed_run):
    run, first, _ = analysed_run
    answer = api_client(staff).get(url(run), {"sfen": START, "checkpoint": first.pk})
    assert answer.status_code == 200 and answer.json()["checkpoint"]["id"] == first.pk


def test_another_user_and_nobody_get_nothing(outsider, api_client, analysed_run, tiny_files):
    run, first, _ = analysed_run
    record = store_game(run)
    for path in (url(run), f"/api/v1/runs/{run.pk}/games/{record.pk}/analysis/"):
        hidden = api_client(outsider).get(path, {"sfen": START})
        assert hidden.status_code == 404 and refusal(hidden)["code"] == "not_found"
        assert api_client().get(path, {"sfen": START}).status_code in (401, 403)
    # Nor may a visible run be analysed with a checkpoint of someone else's run.
    theirs = Run.objects.create(
        owner=outsider, trainer="shogi-ppo", config=TINY_SHOGI, status=RunStatus.COMPLETED
    )
    their_checkpoint = services.checkpoint_record(run_id=theirs.pk, info=tiny_files[-1])
    refused = api_client(outsider).get(url(theirs), {"sfen": START, "checkpoint": first.pk})
    assert refused.status_code == 400 and list(fields(refused)) == ["checkpoint"]
    assert (
        api_client(outsider)
        .get(url(theirs), {"sfen": START, "checkpoint": their_checkpoint.pk})
        .status_code
        == 200
    )


@pytest.mark.parametrize(
    "query, field",
    [
        ({}, "sfen"),
        ({"sfen": "garbage"}, "sfen"),
        ({"sfen": "4k4/9/9/9/9/9/9/9/4K4 x - 1"}, "sfen"),  # would abort cshogi itself
        ({"sfen": "4k4/4R4/9/9/9/9/9/9/4K4 b - 1"}, "sfen"),  # the side that moved is in check
        ({"sfen": "x" * 201}, "sfen"),
        ({"sfen": START, "checkpoint": "abc"}, "checkpoint"),
        ({"sfen": START, "checkpoint": 999999}, "checkpoint"),
        ({"sfen": START, "top_k": 0}, "top_k"),
        ({"sfen": START, "top_k": 99}, "top_k"),
    ],
)
def test_bad_input_is_refused_naming_the_field(owner, api_client, analysed_run, query, field):
    run, _, _ = analysed_run
    refused = api_client(owner).get(url(run), query)
    assert refused.status_code == 400, refused.content
    assert list(fields(refused)) == [field], refused.json()


def test_a_run_without_a_checkpoint_says_so(owner, api_client):
    run = Run.objects.create(
        owner=owner, trainer="shogi-ppo", config=TINY_SHOGI, status=RunStatus.RUNNING
    )
    answer = api_client(owner).get(url(run), {"sfen": START})
    assert answer.status_code == 409
    error = refusal(answer)
    assert error["code"] == "no_checkpoint" and "no checkpoint yet" in error["message"]
    record = store_game(run)
    game = api_client(owner).get(f"/api/v1/runs/{run.pk}/games/{record.pk}/analysis/")
    assert game.status_code == 409 and refusal(game)["code"] == "no_checkpoint"


def test_a_trainer_that_does_not_analyse_is_refused(owner, api_client):
    run = Run.objects.create(owner=owner, trainer="digits", config={}, status=RunStatus.COMPLETED)
    refused = api_client(owner).get(url(run), {"sfen": START})
    assert refused.status_code == 400 and list(fields(refused)) == ["run"]


def test_a_game_is_analysed_at_every_ply_by_the_checkpoint_that_played_it(
    owner, api_client, analysed_run
):
    run, first, last = analysed_run
    label = f"checkpoint {first.pk} (run {run.pk}, step {first.step})"
    record = store_game(run, black=label)
    path = f"/api/v1/runs/{run.pk}/games/{record.pk}/analysis/"
    body = api_client(owner).get(path).json()
    assert body["record"] == record.pk and body["complete"] is True
    assert body["checkpoint"] == {
        "id": first.pk,
        "step": first.step,
        "kind": first.kind,
        "why": "played",
    }
    plies = body["plies"]
    assert [p["ply"] for p in plies] == list(range(len(MOVES) + 1))
    board = cshogi.Board()
    for ply, move in zip(plies[1:], MOVES, strict=True):
        board.push_usi(move)
        assert ply["sfen"] == board.sfen()
    for ply in plies:
        own, black = ply["win_probability"], ply["black_win_probability"]
        assert black == pytest.approx(own if ply["side_to_move"] == "black" else 1 - own)
        assert 1 <= len(ply["top_moves"]) <= 3

    # Each ply answers as the position endpoint does for the same checkpoint.
    alone = api_client(owner).get(url(run), {"sfen": plies[3]["sfen"], "checkpoint": first.pk})
    assert alone.json()["win_probability"] == pytest.approx(plies[3]["win_probability"], abs=1e-5)
    assert alone.json()["top_moves"][0]["usi"] == plies[3]["top_moves"][0]["usi"]

    chosen = api_client(owner).get(path, {"checkpoint": last.pk}).json()
    assert chosen["checkpoint"]["id"] == last.pk and chosen["checkpoint"]["why"] == "chosen"
    refused = api_client(owner).get(path, {"checkpoint": 0})
    assert refused.status_code == 400 and list(fields(refused)) == ["checkpoint"]


def test_a_game_with_an_illegal_move_is_analysed_up_to_it(owner, api_client, analysed_run):
    run, _, last = analysed_run
    record = store_game(run, step=last.step, moves=["7g7f", "3c3d", "7f7e+", "4a4b"])
    body = api_client(owner).get(f"/api/v1/runs/{run.pk}/games/{record.pk}/analysis/").json()
    assert body["complete"] is False and len(body["plies"]) == 3
    assert body["checkpoint"]["id"] == last.pk and body["checkpoint"]["why"] == "played"


def test_a_loaded_checkpoint_is_not_read_again(owner, api_client, analysed_run):
    run, _, last = analysed_run
    client = api_client(owner)
    assert client.get(url(run), {"sfen": START}).status_code == 200
    assert last in analysis.ANALYSERS
    # Its file gone from storage, the kept network still answers ...
    last.file.storage.delete(last.file.name)
    assert client.get(url(run), {"sfen": START}).status_code == 200
    # ... and once dropped from memory, the file is what is missing.
    analysis.ANALYSERS.clear()
    gone = client.get(url(run), {"sfen": START})
    assert gone.status_code == 409 and refusal(gone)["code"] == "checkpoint_unusable"


def test_analyses_wait_for_a_free_slot_then_are_refused(
    owner, api_client, analysed_run, monkeypatch
):
    run, _, _ = analysed_run
    monkeypatch.setattr(analysis, "ANALYSIS_WAIT_SECONDS", 0.2)
    held = [analysis._SLOTS.acquire(timeout=1) for _ in range(analysis.ANALYSIS_SLOTS)]
    try:
        assert all(held)
        busy = api_client(owner).get(url(run), {"sfen": START})
        assert busy.status_code == 503 and refusal(busy)["code"] == "unavailable"
    finally:
        for _ in held:
            analysis._SLOTS.release()
    assert api_client(owner).get(url(run), {"sfen": START}).status_code == 200


def test_the_schema_describes_both_endpoints(api_client, owner):
    schema = api_client(owner).get("/api/schema/", {"format": "json"}).json()
    position = schema["paths"]["/api/v1/runs/{run_id}/analysis/"]["get"]
    names = {p["name"] for p in position["parameters"]}
    assert {"sfen", "checkpoint", "top_k"} <= names
    body = position["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    props = schema["components"]["schemas"][body.rsplit("/", 1)[1]]["properties"]
    assert {"win_probability", "black_win_probability", "top_moves", "policy_by_square"} <= set(
        props
    )
    game = schema["paths"]["/api/v1/runs/{run_id}/games/{record_id}/analysis/"]["get"]
    assert {p["name"] for p in game["parameters"]} >= {"checkpoint"}
    assert "409" in position["responses"] and "503" in position["responses"]
