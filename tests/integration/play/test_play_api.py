"""``/api/v1/play/`` through a real Daphne: a person starts a game against a real checkpoint of
a tiny trained run, an illegal move is refused with the rules' reason, a legal one is answered
by the network with the analysis, a stale or finished game is refused 409 with nothing
changed, resigning stores the game as a record of the run with its KIF and CSA; another
user's checkpoint and game are 404, and a viewer of a shared run may play it."""

from __future__ import annotations

import httpx
import pytest

from play.models import PlayGame
from runs import services
from runs.models import GameRecord, Run, RunStatus
from runs.services.sharing import run_share
from tests.support.shogi import TINY_SHOGI, train_tiny_shogi
from tests.support.tokens import api_token

pytestmark = pytest.mark.django_db(transaction=True)

API = "/api/v1/play/"


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    return train_tiny_shogi(tmp_path_factory.mktemp("tiny-shogi-play"))


def checkpoint_of(user, info, name: str = "played"):
    run = Run.objects.create(
        owner=user, name=name, trainer="shogi-ppo", config=TINY_SHOGI, status=RunStatus.COMPLETED
    )
    return services.checkpoint_record(run_id=run.pk, info=info)


@pytest.fixture
def client_for(daphne_server):
    clients: list[httpx.Client] = []

    def make(user) -> httpx.Client:
        client = httpx.Client(
            base_url=daphne_server,
            timeout=60,
            headers={"Authorization": f"Token {api_token(user)}", "Accept": "application/json"},
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def start(client: httpx.Client, checkpoint_id: int, **extra) -> dict:
    answer = client.post(API, json={"checkpoint": checkpoint_id, **extra})
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_an_illegal_move_is_refused_with_the_reason_and_a_legal_one_answered(
    owner, client_for, tiny_files
):
    checkpoint = checkpoint_of(owner, tiny_files[-1])
    client = client_for(owner)
    game = start(client, checkpoint.pk)
    assert game["side"] == "black" and game["ply"] == 0 and game["status"] == "active"
    assert len(game["state"]["legal_moves"]) == 30 and game["model_move"] is None
    assert len(game["analysis"]["top_moves"]) == 5  # of the start: the person moves first

    refused = client.post(f"{API}{game['id']}/move/", json={"move": "7g7e", "ply": 0})
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["code"] == "illegal_move"
    assert error["fields"]["move"] == ["7g7e is not legal here: the pawn on 7g cannot move to 7e"]
    assert PlayGame.objects.get(pk=game["id"]).moves == []

    answered = client.post(f"{API}{game['id']}/move/", json={"move": "7g7f", "ply": 0})
    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert body["moves"][0] == "7g7f" and body["ply"] == 2
    assert body["model_move"] == body["moves"][1] == body["state"]["last_move"]
    assert body["state"]["side_to_move"] == "black"
    analysis = body["analysis"]
    assert 0 <= analysis["win_probability"] <= 1 and len(analysis["top_moves"]) == 5
    assert client.get(f"{API}{game['id']}/").json()["moves"] == body["moves"]
    assert PlayGame.objects.get(pk=game["id"]).moves == body["moves"]


def test_a_stale_ply_and_a_finished_game_are_refused_and_change_nothing(
    owner, client_for, tiny_files
):
    checkpoint = checkpoint_of(owner, tiny_files[-1])
    client = client_for(owner)
    game = start(client, checkpoint.pk)
    url = f"{API}{game['id']}/"
    assert client.post(url + "move/", json={"move": "7g7f", "ply": 0}).status_code == 200
    # The same ply again (a double click, a second tab): 409, the stored moves stand.
    stale = client.post(url + "move/", json={"move": "2g2f", "ply": 0})
    assert stale.status_code == 409, stale.text
    assert stale.json()["error"]["fields"]["ply"][0].startswith("the game is at ply 2, not 0")
    stored = PlayGame.objects.get(pk=game["id"])
    assert len(stored.moves) == 2 and stored.ply == 2
    missing = client.post(url + "move/", json={"ply": 2})
    assert missing.status_code == 400 and "move" in missing.json()["error"]["fields"]

    resigned = client.post(url + "resign/", json={"ply": 2})
    assert resigned.status_code == 200, resigned.text
    after = client.post(url + "move/", json={"move": "2g2f", "ply": 2})
    assert after.status_code == 409 and "the game is over" in after.json()["error"]["message"]
    again = client.post(url + "resign/", json={})
    assert again.status_code == 409
    assert PlayGame.objects.get(pk=game["id"]).moves == stored.moves
    assert GameRecord.objects.filter(run=checkpoint.run).count() == 1  # stored once


def test_resigning_stores_the_game_with_its_kif_and_csa(owner, client_for, tiny_files):
    checkpoint = checkpoint_of(owner, tiny_files[-1])
    client = client_for(owner)
    # As White: the network opens.
    game = start(client, checkpoint.pk, side="white", mode="sampled", temperature=0.5)
    assert game["ply"] == 1 and game["model_move"] == game["moves"][0]
    assert game["state"]["side_to_move"] == "white" and game["analysis"] is not None
    legal = game["state"]["legal_moves"][0]
    played = client.post(f"{API}{game['id']}/move/", json={"move": legal, "ply": 1}).json()
    assert played["ply"] == 3

    body = client.post(f"{API}{game['id']}/resign/", json={"ply": 3}).json()
    assert body["status"] == "finished" and body["result"] == "black_win"
    assert body["reason"] == "resignation" and body["record"] is not None
    record = GameRecord.objects.get(pk=body["record"]["id"])
    assert record.source == "human" and record.run_id == checkpoint.run_id
    assert record.checkpoint_id == checkpoint.pk and record.moves == played["moves"]
    assert record.black == f"checkpoint:{checkpoint.pk}" and record.white == "user:olivia"
    assert (record.result, record.reason, record.plies) == ("black_win", "resignation", 3)
    assert "投了" in record.kif and "先手：checkpoint:" in record.kif
    assert record.csa.rstrip().endswith("%TORYO")
    assert body["record"]["kif"] == f"/runs/{checkpoint.run_id}/games/{record.pk}.kif"


def test_another_users_checkpoint_and_game_are_not_found(owner, outsider, client_for, tiny_files):
    theirs = checkpoint_of(outsider, tiny_files[-1], "theirs")
    mine = checkpoint_of(owner, tiny_files[-1], "mine")
    client = client_for(owner)
    refused = client.post(API, json={"checkpoint": theirs.pk})
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"
    unknown = client.post(API, json={"checkpoint": 999_999})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    game = start(client, mine.pk)
    other = client_for(outsider)
    assert other.get(f"{API}{game['id']}/").status_code == 404
    move = other.post(f"{API}{game['id']}/move/", json={"move": "7g7f", "ply": 0})
    assert move.status_code == 404
    assert other.post(f"{API}{game['id']}/resign/", json={}).status_code == 404
    assert PlayGame.objects.get(pk=game["id"]).ply == 0
    assert not PlayGame.objects.filter(checkpoint=theirs).exists()


def test_bad_input_is_refused_naming_the_field(owner, client_for, tiny_files):
    checkpoint = checkpoint_of(owner, tiny_files[-1])
    client = client_for(owner)
    for body, field in [
        ({"checkpoint": checkpoint.pk, "side": "red"}, "side"),
        ({"checkpoint": checkpoint.pk, "mode": "wild"}, "mode"),
        ({"checkpoint": checkpoint.pk, "mode": "sampled", "temperature": 9}, "temperature"),
        ({"checkpoint": checkpoint.pk, "temperature": "hot"}, "temperature"),
        ({"checkpoint": "abc"}, "checkpoint"),
    ]:
        answer = client.post(API, json=body)
        assert answer.status_code == 400, (body, answer.text)
        assert list(answer.json()["error"]["fields"]) == [field], answer.text
    assert not PlayGame.objects.exists()


def test_a_viewer_of_a_shared_run_may_play_it(owner, client_for, tiny_files):
    from django.contrib.auth import get_user_model

    viewer = get_user_model().objects.create_user("vera")
    checkpoint = checkpoint_of(owner, tiny_files[-1])
    run_share(run=checkpoint.run, by=owner, users=["vera"])
    client = client_for(viewer)
    game = start(client, checkpoint.pk)
    played = client.post(f"{API}{game['id']}/move/", json={"move": "2g2f", "ply": 0})
    assert played.status_code == 200 and played.json()["ply"] == 2
    body = client.post(f"{API}{game['id']}/resign/", json={}).json()
    assert body["record"] is not None
    assert GameRecord.objects.get(pk=body["record"]["id"]).white == f"checkpoint:{checkpoint.pk}"
    # Once unshared, the game is gone for them too.
    from runs.models import RunShare

    RunShare.objects.filter(run=checkpoint.run).delete()
    assert client.get(f"{API}{game['id']}/").status_code == 404


def test_two_moves_for_the_same_ply_store_one(owner, tiny_files):
    """Two requests that both read the game at ply 0 (two tabs): the first stores its move
    and the network's answer; the second passes the ply check it made on its own copy, but
    the compare-and-swap refuses it, and the stored moves stand."""
    from play.services import PlayConflict, play_game_create, play_game_move

    checkpoint = checkpoint_of(owner, tiny_files[-1])
    game = play_game_create(user=owner, checkpoint=checkpoint.pk)
    first, second = PlayGame.objects.get(pk=game.pk), PlayGame.objects.get(pk=game.pk)
    play_game_move(game=first, move="7g7f", ply=0)
    with pytest.raises(PlayConflict) as refused:
        play_game_move(game=second, move="2g2f", ply=0)
    assert refused.value.status == 409 and "ply" in refused.value.fields
    stored = PlayGame.objects.get(pk=game.pk)
    assert stored.moves == first.moves and stored.moves[0] == "7g7f" and stored.ply == 2
    # The same for a resignation racing a move: the move stands, no record is stored.
    from play.services import play_game_resign

    stale = PlayGame.objects.get(pk=game.pk)
    play_game_move(game=PlayGame.objects.get(pk=game.pk), move="2g2f", ply=2)
    with pytest.raises(PlayConflict):
        play_game_resign(game=stale)
    assert PlayGame.objects.get(pk=game.pk).status == "active"
    assert not GameRecord.objects.filter(run=checkpoint.run).exists()


def test_a_game_ended_by_the_rules_is_stored_once_with_its_ending(owner, tiny_files):
    """The tiny run's ply cap (24): moves until the game ends by the engine's rules (the cap,
    or a mate before it); the record is stored by the move that ended it, with its reason in
    KIF and CSA, and the finished game takes no more moves."""
    from play.services import PlayConflict, play_game_create, play_game_move

    checkpoint = checkpoint_of(owner, tiny_files[-1])
    game = play_game_create(user=owner, checkpoint=checkpoint.pk)
    while game.status == "active":
        play_game_move(game=game, move=sorted(game.state["legal_moves"])[0], ply=game.ply)
    stored = PlayGame.objects.get(pk=game.pk)
    assert stored.status == "finished" and stored.reason in ("max_plies", "checkmate")
    assert stored.ply <= TINY_SHOGI["max_plies"] and stored.state["legal_moves"] == []
    record = GameRecord.objects.get(run=checkpoint.run)
    assert stored.record_id == record.pk and record.source == "human"
    assert (record.result, record.reason, record.plies) == (
        stored.result,
        stored.reason,
        stored.ply,
    )
    ending = {"max_plies": ("持将棋", "%JISHOGI"), "checkmate": ("投了", "%TORYO")}[stored.reason]
    assert ending[0] in record.kif and record.csa.rstrip().endswith(ending[1])
    with pytest.raises(PlayConflict):
        play_game_move(game=stored, move="7g7f", ply=stored.ply)
    assert GameRecord.objects.filter(run=checkpoint.run).count() == 1
