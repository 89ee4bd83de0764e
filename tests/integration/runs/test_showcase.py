"""The showcase: two players chosen on the league page play one game on a real worker; its
page and state answer only someone who may see both checkpoints; bad input names its field."""

from __future__ import annotations

import pytest
from django.urls import reverse

from keisei.interfaces import CheckpointInfo
from runs import services
from runs.models import Evaluation, Run, RunStatus
from runs.services.showcase import ShowcaseRejected, showcase_request, showcase_speed
from tests.support.shogi import TINY_SHOGI, train_tiny_shogi
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory) -> list[CheckpointInfo]:
    return train_tiny_shogi(tmp_path_factory.mktemp("tiny-shogi-showcase"))


def checkpoint_of(user, info: CheckpointInfo, name: str):
    run = Run.objects.create(
        owner=user, name=name, trainer="shogi-ppo", config=TINY_SHOGI, status=RunStatus.COMPLETED
    )
    return services.checkpoint_record(run_id=run.pk, info=info)


def refused_fields(**kwargs) -> dict[str, list[str]]:
    with pytest.raises(ShowcaseRejected) as refused:
        showcase_request(**kwargs)
    return refused.value.fields


def test_bad_input_is_refused_by_field(owner, outsider, tiny_files):
    mine = checkpoint_of(owner, tiny_files[-1], "mine")
    theirs = checkpoint_of(outsider, tiny_files[-1], "theirs")
    fields = refused_fields(user=owner, black="abc", white="random", speed="1")
    assert list(fields) == ["black"]
    # an unknown id and another user's checkpoint get the same answer
    unknown = refused_fields(user=owner, black="999999", white="random", speed="1")
    hidden = refused_fields(user=owner, black=str(theirs.pk), white="random", speed="1")
    assert unknown["black"] == ["no checkpoint 999999 that you may see"]
    assert hidden["black"] == [f"no checkpoint {theirs.pk} that you may see"]
    fields = refused_fields(
        user=owner, black=str(mine.pk), white=f"checkpoint:{theirs.pk}", speed="1"
    )
    assert list(fields) == ["white"] and "that you may see" in fields["white"][0]
    fields = refused_fields(user=owner, black=str(mine.pk), white="nobody", speed="1")
    assert list(fields) == ["white"]
    for speed in ("0", "11", "fast", "nan", "inf"):
        assert list(
            refused_fields(user=owner, black=str(mine.pk), white="random", speed=speed)
        ) == ["speed"]
    assert showcase_speed("") == 1.0 and showcase_speed("0.1") == 0.1
    assert not Evaluation.objects.exists()


def test_the_form_names_the_field_it_refuses(client, owner, tiny_files):
    mine = checkpoint_of(owner, tiny_files[-1], "mine")
    client.force_login(owner)
    page = client.post(
        reverse("runs:showcase-new"), {"black": str(mine.pk), "white": "random", "speed": "99"}
    )
    assert page.status_code == 400
    html = page.content.decode()
    assert 'href="#id_speed"' in html and "seconds per move" in html
    assert 'id="id_speed"' in html and 'aria-invalid="true"' in html


def test_a_showcase_is_played_by_the_worker_and_only_its_viewers_see_it(
    celery_worker, client, owner, outsider, tiny_files
):
    mine = checkpoint_of(owner, tiny_files[-1], "mine")
    client.force_login(owner)
    # the same checkpoint on both sides is allowed: it plays itself
    response = client.post(
        reverse("runs:showcase-new"),
        {"black": str(mine.pk), "white": f"checkpoint:{mine.pk}", "speed": "0.5"},
    )
    job = Evaluation.objects.get()
    page_url = reverse("runs:showcase", args=[mine.run_id, job.pk])
    assert response.status_code == 302 and response["Location"] == f"{page_url}?speed=0.5"
    assert job.games == 1 and job.requested_by == owner
    state_url = reverse("runs:showcase-state", args=[mine.run_id, job.pk])

    def played():
        state = client.get(state_url).json()
        return state if state["game"] or state["state"] == "failed" else None

    state = wait_for(played, timeout=120, what="the showcase game to be played")
    assert state["state"] == "done", state
    game = state["game"]
    assert game["plies"] == len(game["moves"]) > 0 and game["start_sfen"]
    assert client.get(page_url).status_code == 200
    client.force_login(outsider)
    assert client.get(page_url).status_code == 404
    assert client.get(state_url).status_code == 404


def test_a_showcase_against_a_checkpoint_the_viewer_lost_sight_of_is_a_404(
    client, owner, outsider, staff, tiny_files
):
    # staff queue mine against Oscar's; I may see my run but not his checkpoint
    mine = checkpoint_of(owner, tiny_files[-1], "mine")
    theirs = checkpoint_of(outsider, tiny_files[-1], "theirs")
    job, _ = showcase_request(
        user=staff, black=str(mine.pk), white=f"checkpoint:{theirs.pk}", speed="1"
    )
    client.force_login(owner)
    assert client.get(reverse("runs:showcase", args=[mine.run_id, job.pk])).status_code == 404
    client.force_login(staff)
    assert client.get(reverse("runs:showcase", args=[mine.run_id, job.pk])).status_code == 200


def test_a_run_shared_read_only_cannot_be_the_first_player(client, owner, outsider, tiny_files):
    """The showcase's game is kept with its first player's run: a sharer may not add to it,
    though they may name the shared checkpoint as the second player."""
    from runs.services.sharing import run_share

    theirs = checkpoint_of(outsider, tiny_files[-1], "theirs")
    mine = checkpoint_of(owner, tiny_files[-1], "mine")
    run_share(run=theirs.run, by=outsider, users=[owner.get_username()])
    client.force_login(owner)
    page = client.post(
        reverse("runs:showcase-new"), {"black": str(theirs.pk), "white": "random", "speed": "1"}
    )
    assert page.status_code == 400
    assert "shared with you read-only" in page.content.decode()
    assert not Evaluation.objects.exists()
    form = client.get(reverse("runs:showcase-new")).content.decode()
    assert f'<option value="{theirs.pk}"' not in form  # not offered as the first player
    assert f'<option value="checkpoint:{theirs.pk}"' in form  # but offered as the second
    job, _ = showcase_request(
        user=owner, black=str(mine.pk), white=f"checkpoint:{theirs.pk}", speed="1"
    )
    assert job.run_id == mine.run_id and job.opponent_checkpoint_id == theirs.pk
