"""The play form's checkpoints: the newest ones the person may play, and one named by a
checkpoint's link (``?checkpoint=``) even when older than those, never one they may not see;
the game page is its player's alone."""

from __future__ import annotations

import pytest

from play import selectors
from play.models import PlayGame
from tests.integration.play.test_play_api import checkpoint_of
from tests.support.shogi import train_tiny_shogi

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    return train_tiny_shogi(tmp_path_factory.mktemp("tiny-shogi-play-pages"))


def test_a_linked_checkpoint_is_offered_even_if_older_than_the_newest(
    owner, outsider, tiny_files, monkeypatch, client
):
    monkeypatch.setattr(selectors, "CHOICES", 1)
    older = checkpoint_of(owner, tiny_files[0], "older")
    newer = checkpoint_of(owner, tiny_files[-1], "newer")
    theirs = checkpoint_of(outsider, tiny_files[-1], "theirs")
    offered = [c["id"] for c in selectors.play_checkpoint_choices(user=owner)]
    assert offered == [newer.pk]
    linked = selectors.play_checkpoint_choices(user=owner, chosen=str(older.pk))
    assert [c["id"] for c in linked] == [older.pk, newer.pk]
    hidden = selectors.play_checkpoint_choices(user=owner, chosen=str(theirs.pk))
    assert [c["id"] for c in hidden] == [newer.pk]
    client.force_login(owner)
    page = client.get(f"/play/?checkpoint={older.pk}")
    assert page.status_code == 200
    assert f'<option value="{older.pk}" selected>' in page.content.decode()


def test_the_game_page_is_its_players_alone(owner, outsider, tiny_files, client):
    checkpoint = checkpoint_of(owner, tiny_files[-1])
    game = PlayGame.objects.create(user=owner, checkpoint=checkpoint, side="black", state={})
    client.force_login(outsider)
    assert client.get(f"/play/{game.pk}/").status_code == 404
    client.force_login(owner)
    assert client.get(f"/play/{game.pk}/").status_code == 200


def test_a_shogi_runs_checkpoints_link_to_the_play_page_and_a_digits_runs_do_not(
    owner, tiny_files, client
):
    from django.core.files.base import ContentFile

    from runs.models import Checkpoint, Run, RunStatus

    checkpoint = checkpoint_of(owner, tiny_files[-1])
    digits = Run.objects.create(
        owner=owner, trainer="digits", config={}, status=RunStatus.COMPLETED
    )
    numbers = Checkpoint(run=digits, step=8, kind="final", size=1, sha256="0" * 64)
    numbers.file.save("digits.pt", ContentFile(b"x"))
    client.force_login(owner)
    shogi_page = client.get(f"/runs/{checkpoint.run_id}/").content.decode()
    assert f'class="play-link" href="/play/?checkpoint={checkpoint.pk}"' in shogi_page
    assert 'class="play-link"' not in client.get(f"/runs/{digits.pk}/").content.decode()
