"""``/api/v1/runs/<id>/games/``: a run's game records for REST clients, listed without their
texts, one at a time whole; bad filters are refused by field; other users' runs are not found."""

from __future__ import annotations

import pytest

from runs import services
from runs.models import GameSource, Run, RunStatus
from tests.support.refusals import fields

pytestmark = pytest.mark.django_db


def game(black: str, plies: int) -> dict:
    moves = ["7g7f", "3c3d", "8h2b+", "3a2b"][:plies]
    return {
        "black": black,
        "white": "random",
        "result": "black_win",
        "reason": "resign",
        "plies": len(moves),
        "sfen": "lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b - 1",
        "moves": moves,
        "kif": f"KIF of {black}",
        "csa": f"CSA of {black}",
        "step": 64,
    }


@pytest.fixture
def run_with_games(owner):
    from runs.models import Checkpoint

    run = Run.objects.create(
        owner=owner, trainer="shogi-ppo", config={}, status=RunStatus.COMPLETED
    )
    played = Checkpoint.objects.create(run=run, step=64, kind="final", size=1, sha256="0" * 64)
    records = [
        services.game_record_store(
            run_id=run.pk, record=game("sampled", 2), source=GameSource.SAMPLE
        ),
        services.game_record_store(
            run_id=run.pk,
            record=game("league entry 3", 4),
            source=GameSource.LEAGUE,
            checkpoint_id=played.pk,
        ),
    ]
    return run, records


def test_owner_lists_the_games_newest_first_and_filters_by_source(
    owner, api_client, run_with_games
):
    run, (sample, league) = run_with_games
    client = api_client(owner)

    listed = client.get(f"/api/v1/runs/{run.pk}/games/")
    assert listed.status_code == 200
    assert [g["id"] for g in listed.data] == [league.pk, sample.pk]
    assert listed.data[0]["source"] == "league" and listed.data[0]["plies"] == 4
    assert league.checkpoint_id is not None
    assert listed.data[0]["checkpoint"] == league.checkpoint_id  # the checkpoint that played
    assert "kif" not in listed.data[0] and "moves" not in listed.data[0]

    only_league = client.get(f"/api/v1/runs/{run.pk}/games/", {"source": "league"})
    assert [g["id"] for g in only_league.data] == [league.pk]
    assert [g["id"] for g in client.get(f"/api/v1/runs/{run.pk}/games/", {"limit": 1}).data] == [
        league.pk
    ]

    whole = client.get(listed.data[1]["url"])
    assert whole.status_code == 200
    assert whole.data["moves"] == ["7g7f", "3c3d"]
    assert (whole.data["kif"], whole.data["csa"]) == ("KIF of sampled", "CSA of sampled")


def test_bad_filters_are_refused_by_field(owner, api_client, run_with_games):
    run, _ = run_with_games
    client = api_client(owner)
    bad_source = client.get(f"/api/v1/runs/{run.pk}/games/", {"source": "tournament"})
    assert bad_source.status_code == 400 and set(fields(bad_source)) == {"source"}
    for limit in ("0", "1001", "many"):
        bad_limit = client.get(f"/api/v1/runs/{run.pk}/games/", {"limit": limit})
        assert bad_limit.status_code == 400 and set(fields(bad_limit)) == {"limit"}, limit


def test_another_users_games_are_not_found_by_any_route(
    owner, outsider, staff, api_client, run_with_games
):
    run, (sample, _) = run_with_games
    other = api_client(outsider)
    assert other.get(f"/api/v1/runs/{run.pk}/games/").status_code == 404
    assert other.get(f"/api/v1/runs/{run.pk}/games/{sample.pk}/").status_code == 404
    # A record id under a run of the outsider's own is not a way in either.
    theirs = Run.objects.create(owner=outsider, trainer="shogi-ppo", config={})
    assert other.get(f"/api/v1/runs/{theirs.pk}/games/{sample.pk}/").status_code == 404
    assert api_client().get(f"/api/v1/runs/{run.pk}/games/").status_code in (401, 403)
    assert api_client(staff).get(f"/api/v1/runs/{run.pk}/games/{sample.pk}/").status_code == 200
