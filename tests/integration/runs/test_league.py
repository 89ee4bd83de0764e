"""The league: best and final checkpoints enter, neighbours in the rating list play, Elo moves
by the documented rule, and standings name only the runs a user may see."""

from __future__ import annotations

import math

import pytest
from celery import current_app
from django.conf import settings

from keisei.interfaces import CheckpointInfo
from keisei.shogi.trainer import ShogiPPOTrainer
from monitoring.queues import DEFAULT_QUEUE
from runs import services
from runs.execution import run_execute
from runs.models import Checkpoint, GameRecord, LeagueEntry, LeagueMatch, Run, RunStatus
from runs.services.league import LEAGUE_RECORDED_GAMES, Contender, league_anchors_ensure
from tests.support.shogi import TINY_SHOGI, train_tiny_shogi
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory) -> list[CheckpointInfo]:
    return train_tiny_shogi(tmp_path_factory.mktemp("tiny-shogi"))


def entered(user, info: CheckpointInfo, name: str = "") -> LeagueEntry:
    """A finished shogi-ppo run whose final checkpoint is in the league."""
    run = Run.objects.create(
        owner=user, name=name, trainer="shogi-ppo", config=TINY_SHOGI, status=RunStatus.COMPLETED
    )
    final = CheckpointInfo(path=info.path, step=info.step, kind="final")
    checkpoint = services.checkpoint_record(run_id=run.pk, info=final)
    entry = services.league_consider(checkpoint)
    assert entry is not None
    return entry


def without_anchors() -> None:
    """Retire the anchors (as staff may in the admin): rounds then pair checkpoints only."""
    league_anchors_ensure()
    LeagueEntry.objects.filter(checkpoint__isnull=True).update(is_active=False)


# ----- Elo and pairing: known answers -------------------------------------------------------


def test_elo_change_on_known_results():
    # Equal ratings expect 5 of 10; 7.5 scored is 2.5 above: K=16 per game gives +40.
    assert services.elo_change(rating=1000, other=1000, wins=7, draws=1, losses=2) == 40.0
    # 200 points stronger expects 0.7597 a game; a single draw costs 16 * 0.2597.
    expected = 1 / (1 + 10 ** (-200 / 400))
    change = services.elo_change(rating=1200, other=1000, wins=0, draws=1, losses=0)
    assert math.isclose(change, 16 * (0.5 - expected)) and math.isclose(
        change, -4.155, abs_tol=1e-3
    )
    # Zero-sum: what one gains the other loses.
    assert services.elo_change(rating=1000, other=1200, wins=0, draws=1, losses=0) == pytest.approx(
        -change
    )


def test_recorded_match_moves_both_ratings_and_counts(owner, tiny_files):
    a = entered(owner, tiny_files[-1])
    b = entered(owner, tiny_files[0])
    LeagueEntry.objects.filter(pk=b.pk).update(rating=1200.0)
    match = services.league_record_match(first_id=a.pk, second_id=b.pk, wins=6, draws=2, losses=2)
    a.refresh_from_db()
    b.refresh_from_db()
    expected = 1 / (1 + 10 ** (200 / 400))  # a's expected score a game, 200 below
    assert match.rating_change == pytest.approx(16 * (7.0 - 10 * expected))
    assert a.rating == pytest.approx(1000 + match.rating_change)
    assert b.rating == pytest.approx(1200 - match.rating_change)
    assert (a.games, a.wins, a.draws, a.losses) == (10, 6, 2, 2)
    assert (b.games, b.wins, b.draws, b.losses) == (10, 2, 2, 6)
    assert (match.first_rating_before, match.second_rating_before) == (1000.0, 1200.0)


def test_entries_with_fewest_games_pair_with_their_rating_neighbours():
    field = [
        Contender(id=1, rating=1200, games=10),
        Contender(id=2, rating=1100, games=0),
        Contender(id=3, rating=1000, games=10),
        Contender(id=4, rating=900, games=3),
        Contender(id=5, rating=800, games=3),
    ]
    # 2 chooses first: 1 and 3 are as near and as busy, the older (1) wins. 4 next: 5 has
    # fewer games than 3. 3 is left with nobody near who is free.
    assert services.league_pairings(field, max_matches=4) == [(2, 1), (4, 5)]
    assert services.league_pairings(field, max_matches=1) == [(2, 1)]
    # When both neighbours are taken, the next nearest free entry is taken.
    assert services.league_pairings(
        [
            Contender(id=1, rating=1000, games=0),
            Contender(id=2, rating=990, games=0),
            Contender(id=3, rating=500, games=9),
        ],
        max_matches=4,
    ) == [(1, 2)]
    spread = [Contender(id=i, rating=1000 - 10 * i, games=5) for i in range(1, 5)]
    # Anchors answer but never choose, so they never meet each other; nobody meets another
    # trainer's entry.
    anchored = [
        Contender(id=1, rating=1000, games=50, is_anchor=True),
        Contender(id=2, rating=2000, games=50, is_anchor=True),
        Contender(id=3, rating=1900, games=0),
        Contender(id=4, rating=1950, games=0, trainer="other"),
    ]
    assert services.league_pairings(anchored, max_matches=4) == [(3, 2)]
    assert services.league_pairings(spread, max_matches=4) == [(1, 2), (3, 4)]
    assert services.league_pairings(field[:1], max_matches=4) == []
    assert services.league_pairings([], max_matches=4) == []


# ----- entering -----------------------------------------------------------------------------


def test_best_and_final_shogi_checkpoints_enter_once_others_never(owner, tiny_files, tmp_path):
    run = Run.objects.create(owner=owner, trainer="shogi-ppo", config=TINY_SHOGI)
    recorded = {
        kind: services.checkpoint_record(
            run_id=run.pk,
            info=CheckpointInfo(path=tiny_files[0].path, step=step, kind=kind),
        )
        for step, kind in enumerate(("periodic", "manual", "backup", "best", "final"), start=1)
    }
    entries = {kind: services.league_consider(c) for kind, c in recorded.items()}
    assert {k for k, e in entries.items() if e is not None} == {"best", "final"}
    assert services.league_consider(recorded["best"]).pk == entries["best"].pk  # once
    assert entries["best"].rating == 1000.0

    digits = Run.objects.create(owner=owner, trainer="digits", config={})
    path = tmp_path / "digits.pt"
    path.write_bytes(b"digits")
    final = services.checkpoint_record(
        run_id=digits.pk, info=CheckpointInfo(path=path, step=1, kind="final")
    )
    assert services.league_consider(final) is None
    assert LeagueEntry.objects.count() == 2


def test_a_trained_runs_final_checkpoint_enters_the_league(owner):
    run = services.run_queue(
        owner=owner, trainer="shogi-ppo", config={**TINY_SHOGI, "checkpoint_every": 0}
    )
    # Trained here: the worker that run_queue woke may claim it first, so wait on the row.
    run_execute(worker="test:league")
    wait_for(
        lambda: Run.objects.get(pk=run.pk).status == RunStatus.COMPLETED,
        timeout=120,
        what="the tiny run to complete",
    )
    final = Checkpoint.objects.get(run=run, kind="final")
    assert LeagueEntry.objects.filter(checkpoint=final).exists()


# ----- rounds -------------------------------------------------------------------------------


def test_beat_schedules_league_rounds_on_the_default_queue():
    entry = settings.CELERY_BEAT_SCHEDULE["league-round"]
    assert entry["task"] == "runs.league_round"
    assert entry["options"]["queue"] == DEFAULT_QUEUE
    assert entry["schedule"] == float(settings.KEISEI_LEAGUE_SECONDS)


def test_round_on_a_worker_plays_neighbours_and_keeps_the_rating_sum(
    celery_worker, owner, outsider, tiny_files
):
    without_anchors()
    entries = [
        entered(owner, tiny_files[-1]),
        entered(owner, tiny_files[0]),
        entered(outsider, tiny_files[-1]),
    ]
    current_app.send_task("runs.league_round", queue=DEFAULT_QUEUE)
    match = wait_for(LeagueMatch.objects.first, timeout=120, what="a league match")
    assert match.games == settings.KEISEI_LEAGUE_GAMES
    assert match.wins + match.draws + match.losses == match.games
    assert {match.first_id, match.second_id} <= {e.pk for e in entries}
    assert LeagueMatch.objects.count() == 1  # three entries make one pair
    ratings = list(LeagueEntry.objects.filter(is_active=True).values_list("rating", flat=True))
    assert sum(ratings) == pytest.approx(3000.0)
    played = LeagueEntry.objects.filter(pk__in=[match.first_id, match.second_id])
    assert all(e.games == match.games and e.last_played_at for e in played)
    # The first games are records on each side's run, the players named by league id only.
    names = {f"league entry {match.first_id}", f"league entry {match.second_id}"}
    for entry in played.select_related("checkpoint"):
        records = GameRecord.objects.filter(run_id=entry.checkpoint.run_id, source="league")
        assert records.count() == LEAGUE_RECORDED_GAMES
        assert all({r.black, r.white} == names and r.kif and r.moves for r in records)
        assert all(r.step == entry.checkpoint.step for r in records)


def test_an_entry_whose_file_is_corrupt_is_retired_not_played(owner, tiny_files):
    without_anchors()
    good = entered(owner, tiny_files[-1])
    bad = entered(owner, tiny_files[0])
    with bad.checkpoint.file.storage.open(bad.checkpoint.file.name, "wb") as fh:
        fh.write(b"tampered")
    assert services.league_round(matches=4, games=2) == []
    bad.refresh_from_db()
    assert not bad.is_active and "does not match the recorded" in bad.retired_reason
    good.refresh_from_db()
    assert good.is_active and good.games == 0 and good.rating == 1000.0
    assert not LeagueMatch.objects.exists()


def test_a_round_pairs_a_checkpoint_with_an_anchor_whose_rating_stays_fixed(owner, tiny_files):
    entry = entered(owner, tiny_files[-1])
    # Seated just under the greedy anchor: its nearest neighbour is that anchor.
    LeagueEntry.objects.filter(pk=entry.pk).update(rating=1990.0)
    played = services.league_round(matches=4, games=4)
    assert len(played) == 1  # one checkpoint: one match; anchors never play each other
    match = LeagueMatch.objects.get(pk=played[0])
    greedy = LeagueEntry.objects.get(builtin="greedy", trainer="shogi-ppo")
    assert (match.first_id, match.second_id) == (entry.pk, greedy.pk)
    greedy_rating = ShogiPPOTrainer.anchor_ratings["greedy"]
    assert match.second_rating_before == greedy_rating
    greedy.refresh_from_db()
    entry.refresh_from_db()
    assert greedy.rating == greedy_rating and greedy.games == 4  # counted, never moved
    assert entry.rating == pytest.approx(1990.0 + match.rating_change)
    assert match.rating_change != 0.0  # a tiny net against greedy: it loses points
    # The checkpoint's run keeps the first games, the anchor named as itself.
    records = GameRecord.objects.filter(run_id=entry.checkpoint.run_id, source="league")
    assert records.count() == LEAGUE_RECORDED_GAMES
    assert all({r.black, r.white} == {f"league entry {entry.pk}", "anchor greedy"} for r in records)
    assert all(r.checkpoint_id == entry.checkpoint_id for r in records)  # the one that played
    # Every anchor the trainer states is in the league at its rating, once.
    anchors = LeagueEntry.objects.filter(checkpoint__isnull=True)
    assert {a.builtin: a.rating for a in anchors} == dict(ShogiPPOTrainer.anchor_ratings)
    league_anchors_ensure()
    assert LeagueEntry.objects.filter(checkpoint__isnull=True).count() == len(anchors)


# ----- standings ----------------------------------------------------------------------------


def test_standings_name_only_the_runs_a_user_may_see(
    owner, outsider, staff, tiny_files, api_client, client
):
    mine = entered(owner, tiny_files[-1], name="olivias-secret-agent")
    theirs = entered(outsider, tiny_files[0], name="oscars-agent")
    LeagueEntry.objects.filter(pk=mine.pk).update(rating=1100.0)

    anchor = LeagueEntry.objects.create(trainer="shogi-ppo", builtin="greedy", rating=2000.0)

    seen = api_client(outsider).get("/api/v1/league/")
    assert seen.status_code == 200
    rows = {row["id"]: row for row in seen.data["entries"]}
    assert [row["id"] for row in seen.data["entries"]] == [anchor.pk, mine.pk, theirs.pk]
    assert rows[anchor.pk]["anchor"] == "greedy" and rows[anchor.pk]["run"] is None
    assert rows[anchor.pk]["label"] == "anchor: greedy (shogi-ppo, fixed rating)"
    assert rows[mine.pk]["anchor"] is None
    assert rows[mine.pk]["rating"] == 1100.0
    assert rows[mine.pk]["label"] == "hidden run"
    assert rows[mine.pk]["run"] is None and rows[mine.pk]["checkpoint"] is None
    assert rows[theirs.pk]["run"]["name"] == "oscars-agent"
    assert "olivias-secret-agent" not in str(seen.data)

    for user in (owner, staff):
        row = next(
            r for r in api_client(user).get("/api/v1/league/").data["entries"] if not r["anchor"]
        )
        assert row["run"] == {
            "id": mine.checkpoint.run_id,
            "name": "olivias-secret-agent",
            "owner": "olivia",
        }
    assert api_client().get("/api/v1/league/").status_code in (401, 403)

    client.force_login(outsider)
    page = client.get("/runs/league/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "hidden run" in html and "oscars-agent" in html
    assert "anchor: greedy (shogi-ppo, fixed rating)" in html
    assert "olivias-secret-agent" not in html
    assert 'href="/runs/league/"' in html  # in the navigation
