"""The league page: the head-to-head matrix adds up the stored matches, recent matches link
their games only on runs the viewer may see, a hidden run is never named, and every visible
entry's rating after each match is drawn from the stored matches."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from keisei.interfaces import CheckpointInfo
from runs import selectors, services
from runs.models import Checkpoint, GameRecord, LeagueEntry, LeagueMatch, Run, RunStatus
from runs.services.league import _league_play, league_anchors_ensure
from tests.support.shogi import TINY_SHOGI, train_tiny_shogi

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "oscars-secret-run"


def entry_of(user, name: str, step: int) -> LeagueEntry:
    """A finished shogi-ppo run whose final checkpoint (a stub file) is in the league."""
    run = Run.objects.create(
        owner=user, name=name, trainer="shogi-ppo", config={}, status=RunStatus.COMPLETED
    )
    checkpoint = Checkpoint(run=run, step=step, kind="final", size=1, sha256="0" * 64)
    checkpoint.file.save(f"league-{name}.pt", ContentFile(b"x"))
    return services.league_enter(checkpoint=checkpoint)


def game_of(entry: LeagueEntry, match: LeagueMatch) -> GameRecord:
    record = GameRecord.objects.create(
        run_id=entry.checkpoint.run_id,
        source="league",
        black=f"league entry {match.first_id}",
        white=f"league entry {match.second_id}",
        result="black_win",
        plies=0,
        start_sfen="startpos",
    )
    match.game_records.add(record)
    return record


@pytest.fixture
def league(owner, outsider):
    """Olivia's two entries and Oscar's one; three matches, one game kept on each side."""
    a = entry_of(owner, "olivia-a", 100)
    b = entry_of(owner, "olivia-b", 200)
    hidden = entry_of(outsider, SECRET, 300)
    m1 = services.league_record_match(first_id=a.pk, second_id=b.pk, wins=3, draws=1, losses=0)
    m2 = services.league_record_match(first_id=b.pk, second_id=a.pk, wins=1, draws=0, losses=3)
    m3 = services.league_record_match(first_id=a.pk, second_id=hidden.pk, wins=0, draws=2, losses=2)
    games = {"mine": game_of(a, m3), "secret": game_of(hidden, m3)}
    return {"a": a, "b": b, "hidden": hidden, "matches": [m1, m2, m3], "games": games}


def test_matrix_counts_equal_the_stored_matches(owner, league):
    page = selectors.league_page(user=owner)
    a, b, hidden = league["a"].pk, league["b"].pk, league["hidden"].pk
    cells = {
        (row["entry"]["id"], col["id"]): cell
        for row in page.matrix
        for col, cell in zip(page.matrix_entries, row["cells"], strict=True)
    }
    # a vs b: 3-1-0 with a first, then b first 1-0-3 (a's 3-0-1): 6-1-1 in all.
    assert cells[(a, b)] == {"wins": 6, "draws": 1, "losses": 1}
    assert cells[(b, a)] == {"wins": 1, "draws": 1, "losses": 6}
    assert cells[(a, hidden)] == {"wins": 0, "draws": 2, "losses": 2}
    assert cells[(hidden, a)] == {"wins": 2, "draws": 2, "losses": 0}
    assert cells[(b, hidden)] is None and cells[(a, a)] is None
    # Every game of every match is in the matrix, counted once from each side.
    total = sum(c["wins"] + c["draws"] + c["losses"] for c in cells.values() if c)
    assert total == 2 * sum(m.games for m in LeagueMatch.objects.all())


def test_a_hidden_run_is_never_named_nor_its_games_linked(client, owner, league):
    client.force_login(owner)
    html = client.get(reverse("runs:league")).content.decode()
    assert "olivia-a" in html and "hidden run" in html
    assert SECRET not in html and "oscar" not in html
    mine, secret = league["games"]["mine"], league["games"]["secret"]
    assert reverse("runs:game", args=[mine.run_id, mine.pk]) in html
    assert reverse("runs:game", args=[secret.run_id, secret.pk]) not in html
    assert f"/runs/{secret.run_id}/" not in html


def test_the_owner_of_the_hidden_run_sees_their_own_game(client, outsider, league):
    client.force_login(outsider)
    html = client.get(reverse("runs:league")).content.decode()
    secret, mine = league["games"]["secret"], league["games"]["mine"]
    assert SECRET in html and "olivia-a" not in html
    assert reverse("runs:game", args=[secret.run_id, secret.pk]) in html
    assert reverse("runs:game", args=[mine.run_id, mine.pk]) not in html


def test_recent_matches_newest_first_with_human_times(client, owner, league):
    page = selectors.league_page(user=owner)
    assert [m.id for m in page.recent] == [m.pk for m in reversed(league["matches"])]
    client.force_login(owner)
    html = client.get(reverse("runs:league")).content.decode()
    assert "ago</time>" in html and 'title="20' in html


def test_rating_after_each_match_is_drawn_for_visible_entries_only(owner, league):
    ratings = selectors.league_page(user=owner).ratings
    by_id = {
        s["id"]: values for s, values in zip(ratings["series"], ratings["values"], strict=True)
    }
    assert set(by_id) == {league["a"].pk, league["b"].pk}
    assert all(s["label"] != "hidden run" for s in ratings["series"])
    a = LeagueEntry.objects.get(pk=league["a"].pk)
    drawn = [v for v in by_id[a.pk] if v is not None]
    # its start, then one point per match it played (three), the last its current rating
    assert len(drawn) == 4 and drawn[0] == 1000.0
    assert drawn[-1] == pytest.approx(a.rating, abs=0.05)
    m1 = league["matches"][0]
    assert drawn[1] == pytest.approx(m1.first_rating_before + m1.rating_change, abs=0.05)
    assert len(ratings["time"]) == len(by_id[a.pk])


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    return train_tiny_shogi(tmp_path_factory.mktemp("tiny-shogi-league-page"))


def test_a_played_match_links_the_games_it_kept(owner, tiny_files):
    league_anchors_ensure()
    run = Run.objects.create(
        owner=owner, trainer="shogi-ppo", config=TINY_SHOGI, status=RunStatus.COMPLETED
    )
    info = CheckpointInfo(path=tiny_files[-1].path, step=tiny_files[-1].step, kind="final")
    entry = services.league_consider(services.checkpoint_record(run_id=run.pk, info=info))
    anchor = LeagueEntry.objects.get(trainer="shogi-ppo", builtin="random")
    match = _league_play(first_id=entry.pk, second_id=anchor.pk, games=2)
    assert match is not None
    linked = list(match.game_records.order_by("id"))
    assert linked and all(g.run_id == run.pk and g.source == "league" for g in linked)
    assert linked == list(GameRecord.objects.filter(run=run, source="league").order_by("id"))
