"""A run that explains itself (issue 17, part 5): from stored metrics, evaluations, league
matches and alerts, the run page says when each anchor was first beaten, where entropy and
value loss changed regime, which alerts fired and which checkpoint to use, each linked to the
charts at its step and to a game."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.base import ContentFile

from monitoring.services import event_record, metrics_record
from runs.models import (
    Checkpoint,
    Evaluation,
    GameRecord,
    LeagueEntry,
    LeagueMatch,
    Run,
    RunStatus,
)
from runs.selectors.explain import run_explanation

pytestmark = pytest.mark.django_db(transaction=True)


def checkpoint(run: Run, step: int, kind: str = "periodic") -> Checkpoint:
    row = Checkpoint(run=run, step=step, kind=kind, size=1, sha256="0" * 64)
    row.file.save(f"at-{step}.pt", ContentFile(b"x"))
    return row


def record(run: Run, step: int, source: str) -> GameRecord:
    return GameRecord.objects.create(
        run=run,
        source=source,
        step=step,
        black="a",
        white="b",
        result="draw",
        plies=0,
        start_sfen="startpos",
    )


def evaluation(run: Run, step: int, opponent: str, wins: int, losses: int, **fields) -> Evaluation:
    return Evaluation.objects.create(
        run=run,
        step=step,
        opponent=opponent,
        games=wins + losses,
        wins=wins,
        losses=losses,
        win_rate=wins / (wins + losses),
        **fields,
    )


def explained_run(owner) -> Run:
    run = Run.objects.create(
        owner=owner, trainer="shogi-ppo", config={}, status=RunStatus.COMPLETED, name="told"
    )
    wall = dt.datetime.now(dt.UTC)
    # Entropy halves at step 20,000 (of 40,000, a point every 10 steps: 4,000 points each);
    # the value loss drifts, which is no change.
    metrics_record(
        run_id=run.pk,
        points=[
            *(
                ("losses/entropy", s, 2.0 if s < 20_000 else 0.5, wall)
                for s in range(0, 40_000, 10)
            ),
            *(("losses/value_loss", s, 1.0 + s / 400_000, wall) for s in range(0, 40_000, 10)),
        ],
    )
    return run


def test_the_explanation_names_anchors_regimes_alerts_and_the_checkpoint_to_use(owner):
    run = explained_run(owner)
    early, late = checkpoint(run, 10_000), checkpoint(run, 30_000, kind="best")
    won = record(run, 12_000, "evaluation")
    evaluation(run, 8_000, "random", wins=3, losses=5)  # lost: not yet beaten
    evaluation(run, 10_000, "random", wins=4, losses=4)  # even: not beaten either
    evaluation(run, 12_000, "random", wins=6, losses=2, data={"game_records": [won.pk]})
    evaluation(run, 16_000, "random", wins=8, losses=0)
    evaluation(run, 16_000, "greedy", wins=1, losses=7, checkpoint=early, elo=-300.0)
    evaluation(run, 30_000, "random", wins=8, losses=0, checkpoint=late, elo=400.0)
    # Beaten in the league only: the match's first game on this run is the one linked.
    entry = LeagueEntry.objects.create(checkpoint=late, rating=1400.0, games=4)
    two_ply = LeagueEntry.objects.create(trainer="shogi-ppo", builtin="two_ply", rating=3000.0)
    match = LeagueMatch.objects.create(
        first=entry,
        second=two_ply,
        games=4,
        wins=3,
        draws=0,
        losses=1,
        first_rating_before=1000.0,
        second_rating_before=3000.0,
        rating_change=50.0,
    )
    league_game = record(run, 30_000, "league")
    match.game_records.add(league_game)
    event_record(
        run_id=run.pk,
        type="alert",
        message="entropy collapsed",
        data={"rule": "entropy_collapse", "key": "losses/entropy", "step": 21_000},
    )

    told = run_explanation(run=run)

    anchors = {a["opponent"]: a for a in told["anchors"]}
    assert list(anchors) == ["random", "greedy", "two_ply"]  # weakest first
    assert anchors["random"]["step"] == 12_000 and "6/0/2" in anchors["random"]["how"]
    assert anchors["random"]["game_url"] == f"/runs/{run.pk}/games/{won.pk}/"
    assert anchors["random"]["chart_url"] == f"/runs/{run.pk}/?step=12000#charts"
    assert anchors["greedy"]["step"] is None and anchors["greedy"]["game_url"] is None
    assert (
        anchors["two_ply"]["step"] == 30_000 and "league match 3/0/1" in anchors["two_ply"]["how"]
    )
    assert anchors["two_ply"]["game_url"] == f"/runs/{run.pk}/games/{league_game.pk}/"

    [regime] = told["regimes"]
    assert regime["key"] == "losses/entropy" and regime["direction"] == "fell"
    # The step is a bucket's first: within a bucket of the jump (40,000 steps in 120 buckets).
    assert 20_000 - 400 <= regime["step"] <= 20_000 + 400
    assert regime["before"] == 2.0 and regime["after"] == 0.5
    assert regime["game_url"] == f"/runs/{run.pk}/games/nearest/?step={regime['step']}"

    [alert] = told["alerts"]
    assert (alert["rule"], alert["key"], alert["step"]) == (
        "entropy_collapse",
        "losses/entropy",
        21_000,
    )
    assert alert["chart_url"] == f"/runs/{run.pk}/?step=21000#charts"

    best = told["best"]  # the league's rating wins over an evaluation's Elo
    assert (best["checkpoint"], best["step"], best["how"]) == (
        late.pk,
        30_000,
        "league rating 1400",
    )
    assert best["download_url"] == f"/runs/{run.pk}/checkpoints/{late.pk}/download/"


def test_without_a_league_rating_the_best_evaluation_elo_is_the_checkpoint_to_use(owner):
    run = explained_run(owner)
    early, late = checkpoint(run, 10_000), checkpoint(run, 30_000)
    evaluation(run, 10_000, "random", wins=8, losses=0, checkpoint=early, elo=500.0)
    evaluation(run, 30_000, "random", wins=7, losses=1, checkpoint=late, elo=300.0)
    best = run_explanation(run=run)["best"]
    assert (best["checkpoint"], best["how"]) == (early.pk, "Elo 500 against random")
    assert best["game_url"] is None  # the run has no stored game to open


def test_a_run_with_nothing_stored_explains_nothing_and_says_so(owner, client):
    run = Run.objects.create(owner=owner, trainer="digits", config={}, status=RunStatus.QUEUED)
    told = run_explanation(run=run)
    assert told == {"anchors": [], "regimes": [], "alerts": [], "best": None, "has_games": False}
    client.force_login(owner)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert "No alert fired." in page and "No checkpoint of this run is rated yet" in page
