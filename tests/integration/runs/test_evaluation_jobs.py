"""Evaluation jobs: a checkpoint plays a match on the default queue of a real worker, against
the random mover or a checkpoint the asker may see; its result and games become rows."""

from __future__ import annotations

import datetime as dt
import os
import signal

import pytest
from django.utils import timezone

from keisei.interfaces import CheckpointInfo
from monitoring.models import RunEvent
from runs import services
from runs.models import Checkpoint, Evaluation, GameRecord, Run, RunStatus
from tests.support.refusals import fields
from tests.support.servers import worker_holding
from tests.support.shogi import TINY_SHOGI, train_tiny_shogi
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

# Long enough that the worker is still playing when it is killed: about 6 s on one core.
LONG_MATCH_GAMES, LONG_MATCH_PLIES = 400, 300


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory) -> list[CheckpointInfo]:
    """The checkpoint files of one tiny training run, shared by the module's tests."""
    return train_tiny_shogi(tmp_path_factory.mktemp("tiny-shogi"))


def shogi_run(user, infos: list[CheckpointInfo]) -> tuple[Run, list[Checkpoint]]:
    run = Run.objects.create(
        owner=user, trainer="shogi-ppo", config=TINY_SHOGI, status=RunStatus.COMPLETED
    )
    return run, [services.checkpoint_record(run_id=run.pk, info=info) for info in infos]


def wait_finished(evaluation_id: int, timeout: float = 120) -> Evaluation:
    def finished():
        row = Evaluation.objects.get(pk=evaluation_id)
        return row if row.state in ("done", "failed") else None

    return wait_for(finished, timeout=timeout, what=f"evaluation {evaluation_id} to finish")


def evaluate_url(checkpoint: Checkpoint) -> str:
    return f"/api/v1/runs/{checkpoint.run_id}/checkpoints/{checkpoint.pk}/evaluate/"


def test_evaluation_job_on_a_worker_stores_the_result_and_its_games(
    celery_worker, owner, api_client, tiny_files
):
    run, checkpoints = shogi_run(owner, tiny_files)
    final = checkpoints[-1]
    response = api_client(owner).post(
        evaluate_url(final), {"opponent": "random", "games": 4}, format="json"
    )
    assert response.status_code == 202, response.data
    assert response.data["state"] == "pending"

    evaluation = wait_finished(response.data["id"])
    assert evaluation.state == "done", evaluation.error
    assert evaluation.wins + evaluation.draws + evaluation.losses == evaluation.games == 4
    assert (evaluation.checkpoint_id, evaluation.step, evaluation.opponent) == (
        final.pk,
        final.step,
        "random",
    )
    assert evaluation.elo_low <= evaluation.elo <= evaluation.elo_high
    games = GameRecord.objects.filter(run=run, source="evaluation").order_by("pk")
    assert games.count() == 4
    assert sorted(evaluation.data["game_records"]) == [g.pk for g in games]
    assert all(g.plies == len(g.moves) and g.kif and g.csa for g in games)
    assert all(g.checkpoint_id == final.pk for g in games)  # the checkpoint that played them
    event = RunEvent.objects.get(run=run, type="evaluation")
    assert event.data["evaluation"] == evaluation.pk and event.data["wins"] == evaluation.wins

    listed = api_client(owner).get(f"/api/v1/runs/{run.pk}/evaluations/")
    assert listed.status_code == 200
    assert [e["id"] for e in listed.data] == [evaluation.pk]
    assert listed.data[0]["state"] == "done" and listed.data[0]["requested_by"] == "olivia"


def test_checkpoint_plays_a_checkpoint_of_another_visible_run(
    staff, owner, outsider, tiny_files, api_client
):
    _, mine = shogi_run(owner, tiny_files)
    _, theirs = shogi_run(outsider, tiny_files[:1])
    # Staff may see both runs, so may match them.
    response = api_client(staff).post(
        evaluate_url(mine[-1]),
        {"opponent": f"checkpoint:{theirs[0].pk}", "games": 2},
        format="json",
    )
    assert response.status_code == 202, response.data
    job = response.data["id"]
    services.evaluation_execute(evaluation_id=job)  # here, or by whichever worker is up
    evaluation = wait_finished(job)
    assert evaluation.state == "done", evaluation.error
    assert evaluation.opponent_checkpoint_id == theirs[0].pk
    assert evaluation.wins + evaluation.draws + evaluation.losses == 2
    assert f"checkpoint {theirs[0].pk}" in evaluation.opponent


def test_outsider_cannot_evaluate_or_list_another_users_evaluations(
    owner, outsider, tiny_files, api_client
):
    run, checkpoints = shogi_run(owner, tiny_files[:1])
    client = api_client(outsider)
    response = client.post(
        evaluate_url(checkpoints[0]), {"opponent": "random", "games": 2}, format="json"
    )
    assert response.status_code == 404
    assert client.get(f"/api/v1/runs/{run.pk}/evaluations/").status_code == 404
    assert not Evaluation.objects.exists()


def test_opponents_the_user_may_not_see_and_bad_counts_are_refused_by_field(
    owner, outsider, tiny_files, api_client, tmp_path
):
    _, mine = shogi_run(owner, tiny_files[:1])
    _, theirs = shogi_run(outsider, tiny_files[:1])
    client = api_client(owner)
    url = evaluate_url(mine[0])

    hidden = client.post(url, {"opponent": f"checkpoint:{theirs[0].pk}", "games": 2}, format="json")
    assert hidden.status_code == 400
    assert f"no checkpoint {theirs[0].pk}" in fields(hidden)["opponent"][0]
    absent = client.post(url, {"opponent": "checkpoint:999999", "games": 2}, format="json")
    assert absent.status_code == 400 and fields(absent)["opponent"] == [
        "no checkpoint 999999 that you may see"
    ]  # the same answer as for a checkpoint that exists but is hidden
    # One grammar everywhere: a bare id, or a word only a running run knows, is refused.
    for opponent in ("self", theirs[0].pk, "/etc/passwd"):
        refused = client.post(url, {"opponent": opponent, "games": 2}, format="json")
        assert fields(refused).keys() == {"opponent"}
        assert "greedy, random, two_ply or checkpoint:<id>" in fields(refused)["opponent"][0]
    for games in (1, 401):
        response = client.post(url, {"opponent": "random", "games": games}, format="json")
        assert response.status_code == 400 and "games" in fields(response)

    digits = Run.objects.create(owner=owner, trainer="digits", config={})
    path = tmp_path / "digits.pt"
    path.write_bytes(b"digits weights")
    digits_checkpoint = services.checkpoint_record(
        run_id=digits.pk, info=CheckpointInfo(path=path, step=1, kind="final")
    )
    refused = client.post(
        evaluate_url(digits_checkpoint), {"opponent": "random", "games": 2}, format="json"
    )
    assert refused.status_code == 400 and "checkpoint" in fields(refused)
    assert not Evaluation.objects.exists()


def test_corrupt_checkpoint_fails_the_job_with_the_reason_and_writes_nothing_else(
    celery_worker, owner, api_client, tiny_files, tmp_path
):
    run = Run.objects.create(owner=owner, trainer="shogi-ppo", config=TINY_SHOGI)
    corrupt_file = tmp_path / "corrupt.pt"
    corrupt_file.write_bytes(tiny_files[-1].path.read_bytes()[:300])  # hash recorded as is
    corrupt = services.checkpoint_record(
        run_id=run.pk, info=CheckpointInfo(path=corrupt_file, step=64, kind="final")
    )
    response = api_client(owner).post(
        evaluate_url(corrupt), {"opponent": "random", "games": 2}, format="json"
    )
    assert response.status_code == 202
    evaluation = wait_finished(response.data["id"])
    assert evaluation.state == "failed"
    assert "is not a readable checkpoint" in evaluation.error
    # A failed job holds no lease: nothing of it looks as if a worker still had it.
    assert (evaluation.lease_owner, evaluation.lease_expires_at) == ("", None)
    assert (evaluation.wins, evaluation.draws, evaluation.losses) == (0, 0, 0)
    assert evaluation.elo is None
    assert not GameRecord.objects.filter(run=run).exists()
    assert not RunEvent.objects.filter(run=run, type="evaluation").exists()
    failure = RunEvent.objects.get(run=run, type="log")
    assert failure.message.startswith(f"evaluation {evaluation.pk} failed:")

    # A file changed in storage after it was recorded is refused by its hash, before loading.
    good = services.checkpoint_record(run_id=run.pk, info=tiny_files[0])
    with good.file.storage.open(good.file.name, "wb") as fh:
        fh.write(b"tampered")
    tampered = services.evaluation_request(user=owner, checkpoint=good, opponent="random", games=2)
    services.evaluation_execute(evaluation_id=tampered.pk)
    tampered = wait_finished(tampered.pk)
    assert tampered.state == "failed" and "does not match the recorded" in tampered.error
    assert (tampered.lease_owner, tampered.lease_expires_at) == ("", None)
    assert not GameRecord.objects.filter(run=run).exists()


def test_a_job_whose_worker_dies_is_played_again_by_another_worker(
    celery_worker, second_worker, celery_beat, owner, tiny_files
):
    _, checkpoints = shogi_run(owner, tiny_files)
    evaluation = services.evaluation_request(
        user=owner,
        checkpoint=checkpoints[-1],
        opponent="random",
        games=LONG_MATCH_GAMES,
        max_plies=LONG_MATCH_PLIES,
    )
    running = wait_for(
        lambda: Evaluation.objects.filter(pk=evaluation.pk, state="running").first(),
        timeout=60,
        what="a worker to start the match",
    )
    victim = worker_holding(running.lease_owner, [celery_worker, second_worker])
    os.killpg(victim.process.pid, signal.SIGKILL)  # the worker and its child, no goodbyes
    victim.process.wait(10)

    finished = wait_finished(evaluation.pk, timeout=180)
    assert finished.state == "done", finished.error
    assert finished.attempts == 2
    assert finished.wins + finished.draws + finished.losses == LONG_MATCH_GAMES
    assert finished.lease_owner == "" and finished.lease_expires_at is None
    # One result on the timeline: the dead worker's attempt left nothing behind.
    assert RunEvent.objects.filter(run=finished.run, type="evaluation").count() == 1


def job_out_of_attempts(owner, tiny_files, settings) -> Evaluation:
    """A running job whose worker is gone (its lease expired) and that has had every try."""
    _, checkpoints = shogi_run(owner, tiny_files)
    return Evaluation.objects.create(
        run=checkpoints[-1].run,
        checkpoint=checkpoints[-1],
        opponent="random",
        games=2,
        state="running",
        lease_owner="gone:1",
        lease_expires_at=timezone.now() - dt.timedelta(seconds=1),
        attempts=settings.KEISEI_MAX_ATTEMPTS,
    )


def test_the_reaper_fails_a_job_out_of_attempts_with_the_reason(owner, tiny_files, settings):
    evaluation = job_out_of_attempts(owner, tiny_files, settings)
    assert services.evaluations_reap_expired() == [evaluation.pk]
    evaluation.refresh_from_db()
    assert evaluation.state == "failed"
    assert "gone:1 stopped renewing its lease" in evaluation.error
    assert RunEvent.objects.filter(run=evaluation.run, data__evaluation=evaluation.pk).exists()
    assert services.evaluations_reap_expired() == []  # once


def test_the_reapers_give_up_is_one_transaction(owner, tiny_files, settings, monkeypatch):
    """If recording why a job was given up fails, the job is not half given up: it stays
    running with its lease, and the next reap gives it up whole."""
    from runs.services import evaluations

    evaluation = job_out_of_attempts(owner, tiny_files, settings)

    def event_record_fails(**kwargs):
        raise RuntimeError("the timeline cannot be written")

    with monkeypatch.context() as patch:
        patch.setattr(evaluations, "event_record", event_record_fails)
        with pytest.raises(RuntimeError):
            services.evaluations_reap_expired()
    evaluation.refresh_from_db()
    assert (evaluation.state, evaluation.lease_owner, evaluation.error) == ("running", "gone:1", "")

    assert services.evaluations_reap_expired() == [evaluation.pk]
    evaluation.refresh_from_db()
    assert (evaluation.state, evaluation.lease_owner) == ("failed", "")
