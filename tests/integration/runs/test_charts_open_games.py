"""Charts that open games (issue 17, part 2): every stored game names the checkpoint it was
played at, and the route a chart's click opens leads to the stored game nearest a step, over
a real Daphne, for whoever may see the run and nobody else."""

from __future__ import annotations

import httpx
import pytest
from django.core.files.base import ContentFile

from runs.models import Checkpoint, GameRecord, Run, RunStatus
from runs.selectors.games import game_record_nearest
from runs.services.records import game_record_store
from tests.support.access_matrix import _session_for

pytestmark = pytest.mark.django_db(transaction=True)


def shogi_run(owner, **fields) -> Run:
    return Run.objects.create(
        owner=owner, trainer="shogi-ppo", config={}, status=RunStatus.COMPLETED, **fields
    )


def checkpoint(run: Run, step: int) -> Checkpoint:
    row = Checkpoint(run=run, step=step, kind="periodic", size=1, sha256="0" * 64)
    row.file.save(f"at-{step}.pt", ContentFile(b"x"))
    return row


def game(run: Run, step: int, source: str = "sample") -> GameRecord:
    return game_record_store(
        run_id=run.pk,
        record={"step": step, "moves": ["7g7f"], "black": "a", "white": "b", "result": "draw"},
        source=source,
    )


def test_a_trainers_game_names_the_latest_checkpoint_at_or_before_its_step(owner):
    run = shogi_run(owner)
    assert game(run, 50).checkpoint_id is None  # nothing stored yet: none named
    at_100, at_200 = checkpoint(run, 100), checkpoint(run, 200)
    checkpoint(shogi_run(owner), 150)  # another run's never counts
    assert game(run, 100).checkpoint_id == at_100.pk
    assert game(run, 199).checkpoint_id == at_100.pk
    assert game(run, 250).checkpoint_id == at_200.pk
    # A caller that knows the checkpoint (evaluation jobs, league matches) names it.
    named = game_record_store(run_id=run.pk, record={"step": 250}, checkpoint_id=at_100.pk)
    assert named.checkpoint_id == at_100.pk


def test_the_nearest_game_is_the_closest_step_and_the_earlier_of_two_as_near(owner):
    run = shogi_run(owner)
    assert game_record_nearest(run=run, step=10) is None
    g100, g300 = game(run, 100), game(run, 300, source="evaluation")
    game(run, 100)  # a second game at 100: the first stored is the one opened
    assert game_record_nearest(run=run, step=0) == g100
    assert game_record_nearest(run=run, step=199) == g100
    assert game_record_nearest(run=run, step=200) == g100  # as near as 300: the earlier
    assert game_record_nearest(run=run, step=201) == g300
    assert game_record_nearest(run=run, step=10**9) == g300
    assert game_record_nearest(run=run, step=0, source="evaluation") == g300
    assert game_record_nearest(run=run, step=0, source="league") is None


def test_the_chart_route_opens_the_nearest_game_for_its_viewers_only(
    daphne_server, owner, outsider
):
    run = shogi_run(owner)
    near, far = game(run, 1000), game(run, 5000, source="evaluation")
    bare = shogi_run(owner)
    url = f"/runs/{run.pk}/games/nearest/"

    def ask(user, path, query):
        cookies = {"sessionid": _session_for(user)} if user else {}
        with httpx.Client(base_url=daphne_server, cookies=cookies, timeout=30) as client:
            return client.get(path, params=query)

    opened = ask(owner, url, {"step": "2900"})
    assert opened.status_code == 302
    assert opened.headers["location"] == f"/runs/{run.pk}/games/{near.pk}/"
    opened = ask(owner, url, {"step": "3100"})
    assert opened.headers["location"] == f"/runs/{run.pk}/games/{far.pk}/"
    opened = ask(owner, url, {"step": "0", "source": "evaluation"})
    assert opened.headers["location"] == f"/runs/{run.pk}/games/{far.pk}/"
    # Bad input names its field; a run with no stored game is a 404 that says so.
    for query, field in (({"step": "-3"}, "step"), ({"step": "x"}, "step"), ({}, "step")):
        refused = ask(owner, url, query)
        assert refused.status_code == 400 and field in refused.text, query
    refused = ask(owner, url, {"step": "1", "source": "nope"})
    assert refused.status_code == 400 and "source" in refused.text
    assert ask(owner, f"/runs/{bare.pk}/games/nearest/", {"step": "1"}).status_code == 404
    # Someone who may not see the run gets what an absent run gets; nobody signed in, the login.
    assert ask(outsider, url, {"step": "1000"}).status_code == 404
    assert ask(None, url, {"step": "1000"}).headers["location"].startswith("/accounts/login/")
