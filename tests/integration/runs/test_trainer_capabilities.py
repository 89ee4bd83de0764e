"""The site asks a trainer what it can do, never what it is called: a trainer registered under
another name that declares PLAYS_GAMES gets evaluation jobs and the league; one that does not
is refused by reason."""

from __future__ import annotations

import pytest

from keisei.interfaces import CheckpointInfo
from runs import services
from runs.models import Checkpoint, Evaluation, Run, RunStatus
from tests.support.shogi import TINY_SHOGI, train_tiny_shogi
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

THIRD_PARTY = "third-party-shogi"  # registered for tests in tests/conftest.py


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory) -> list[CheckpointInfo]:
    return train_tiny_shogi(tmp_path_factory.mktemp("tiny-shogi"))


def final_checkpoint(user, trainer: str, info: CheckpointInfo) -> Checkpoint:
    run = Run.objects.create(
        owner=user, trainer=trainer, config=TINY_SHOGI, status=RunStatus.COMPLETED
    )
    final = CheckpointInfo(path=info.path, step=info.step, kind="final")
    return services.checkpoint_record(run_id=run.pk, info=final)


def test_a_third_party_trainer_that_plays_games_is_evaluated_and_enters_the_league(
    owner, tiny_files
):
    checkpoint = final_checkpoint(owner, THIRD_PARTY, tiny_files[-1])
    assert services.league_consider(checkpoint) is not None
    rival = final_checkpoint(owner, THIRD_PARTY, tiny_files[0])
    job = services.evaluation_request(
        user=owner, checkpoint=checkpoint, opponent=f"checkpoint:{rival.pk}", games=2
    )
    services.evaluation_execute(evaluation_id=job.pk)  # here, or by whichever worker is up
    job = wait_for(
        lambda: Evaluation.objects.filter(pk=job.pk, state__in=("done", "failed")).first(),
        timeout=120,
        what="the evaluation to finish",
    )
    assert job.state == "done", job.error
    assert job.wins + job.draws + job.losses == 2


def test_a_trainer_that_does_not_play_games_is_refused_by_reason(owner, tmp_path):
    run = Run.objects.create(owner=owner, trainer="broken", config={}, status=RunStatus.FAILED)
    path = tmp_path / "broken.pt"
    path.write_bytes(b"weights")
    checkpoint = services.checkpoint_record(
        run_id=run.pk, info=CheckpointInfo(path=path, step=1, kind="final")
    )
    assert services.league_consider(checkpoint) is None
    with pytest.raises(services.EvaluationRejected) as refused:
        services.evaluation_request(user=owner, checkpoint=checkpoint, opponent="random", games=2)
    assert refused.value.fields == {"checkpoint": ["checkpoints of a broken run do not play games"]}


def test_an_opponent_of_another_trainer_is_refused(owner, tiny_files):
    mine = final_checkpoint(owner, "shogi-ppo", tiny_files[-1])
    other = final_checkpoint(owner, THIRD_PARTY, tiny_files[0])
    with pytest.raises(services.EvaluationRejected) as refused:
        services.evaluation_request(
            user=owner, checkpoint=mine, opponent=f"checkpoint:{other.pk}", games=2
        )
    assert "is of a third-party-shogi run, not shogi-ppo" in refused.value.fields["opponent"][0]
