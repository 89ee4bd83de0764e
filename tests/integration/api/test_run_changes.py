"""PATCH, DELETE and requeue of ``/api/v1/runs/<id>/`` for every caller: the owner, staff,
another user (404, as if absent) and nobody (401/403); and the rules of each."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from monitoring.models import RunEvent
from monitoring.services import event_record
from runs import services
from runs.models import Checkpoint, Evaluation, GameRecord, Run, RunStatus
from tests.support.refusals import fields, refusal
from tests.support.runs import running_run

pytestmark = pytest.mark.django_db


def finished_run(owner, status: str = RunStatus.COMPLETED, **extra) -> Run:
    return Run.objects.create(owner=owner, trainer="digits", config={}, status=status, **extra)


def with_checkpoint(run: Run, name: str) -> Checkpoint:
    checkpoint = Checkpoint(run=run, step=4, kind="final", size=3, sha256="0" * 64)
    checkpoint.file.save(name, ContentFile(b"net"))  # saves the row too
    return checkpoint


# ----- PATCH ----------------------------------------------------------------------------------


def test_owner_renames_tags_and_annotates_a_run_and_sees_it(api_client, owner):
    run = finished_run(owner)
    response = api_client(owner).patch(
        f"/api/v1/runs/{run.pk}/",
        {"name": "  wide net ", "tags": ["lr:3e-4", "baseline", "lr:3e-4"], "notes": "first\ntry"},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["name"], body["tags"], body["notes"]) == (
        "wide net",
        ["lr:3e-4", "baseline"],
        "first\ntry",
    )
    run.refresh_from_db()
    assert (run.name, run.tags, run.notes, run.status) == (
        "wide net",
        ["lr:3e-4", "baseline"],
        "first\ntry",
        RunStatus.COMPLETED,
    )
    assert api_client(owner).get(f"/api/v1/runs/{run.pk}/").json()["tags"] == [
        "lr:3e-4",
        "baseline",
    ]


def test_priority_changes_while_queued_only(api_client, owner):
    queued = services.run_queue(owner=owner, trainer="digits", config={"epochs": 1})
    api = api_client(owner)
    assert (
        api.patch(f"/api/v1/runs/{queued.pk}/", {"priority": 7}, format="json").json()["priority"]
        == 7
    )
    running = running_run(owner)
    refused = api.patch(
        f"/api/v1/runs/{running.pk}/", {"priority": 9, "name": "renamed"}, format="json"
    )
    assert refused.status_code == 409
    assert refusal(refused)["code"] == "run_not_queued" and "priority" in fields(refused)
    running.refresh_from_db()
    assert (running.priority, running.name) == (0, "")  # nothing of the request was written
    # Sending the priority it has back (a client PATCHing what it read) is no change.
    same = api.patch(f"/api/v1/runs/{running.pk}/", {"priority": 0, "name": "ok"}, format="json")
    assert same.status_code == 200 and same.json()["name"] == "ok"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tags": ["has space"]}, "tags.0"),
        ({"tags": ["ok", "x" * 41]}, "tags.1"),
        ({"tags": [f"t{i}" for i in range(21)]}, "tags"),
        ({"tags": "baseline"}, "tags"),
        ({"notes": "x" * 10_001}, "notes"),
        ({"name": "x" * 121}, "name"),
        ({"priority": 101}, "priority"),
    ],
)
def test_bad_edits_are_refused_by_field(api_client, owner, body, field):
    run = services.run_queue(owner=owner, trainer="digits", config={"epochs": 1})
    response = api_client(owner).patch(f"/api/v1/runs/{run.pk}/", body, format="json")
    assert response.status_code == 400
    assert field in fields(response)
    run.refresh_from_db()
    assert (run.tags, run.notes, run.priority) == ([], "", 0)


def test_the_service_refuses_what_the_admin_could_send(owner):
    run = finished_run(owner)
    with pytest.raises(services.RunConfigError) as refused:
        services.run_edit(run_id=run.pk, tags=["ok", "not ok"], notes="x" * 10_001)
    assert set(refused.value.fields) == {"tags.1", "notes"}


# ----- DELETE ---------------------------------------------------------------------------------


def test_deleting_a_finished_run_removes_its_rows_and_files(api_client, owner):
    run = finished_run(owner)
    checkpoint = with_checkpoint(run, "doomed.pt")
    name = checkpoint.file.name
    GameRecord.objects.create(
        run=run, source="sample", black="a", white="b", result="draw", plies=0, start_sfen="x"
    )
    event_record(run_id=run.pk, type="log", message="hello")
    kept = finished_run(owner)
    kept_checkpoint = with_checkpoint(kept, "kept.pt")
    assert default_storage.exists(name)

    response = api_client(owner).delete(f"/api/v1/runs/{run.pk}/")
    assert response.status_code == 204
    assert not Run.objects.filter(pk=run.pk).exists()
    assert not Checkpoint.objects.filter(run_id=run.pk).exists()
    assert not GameRecord.objects.filter(run_id=run.pk).exists()
    assert not RunEvent.objects.filter(run_id=run.pk).exists()
    assert api_client(owner).get(f"/api/v1/runs/{run.pk}/").status_code == 404
    assert default_storage.exists(kept_checkpoint.file.name)  # another run's file stays


@pytest.mark.django_db(transaction=True)
def test_the_files_go_once_the_delete_commits(api_client, owner):
    run = finished_run(owner, RunStatus.STOPPED)
    name = with_checkpoint(run, "committed.pt").file.name
    assert api_client(owner).delete(f"/api/v1/runs/{run.pk}/").status_code == 204
    assert not default_storage.exists(name)


@pytest.mark.parametrize("status", [RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.PAUSED])
def test_an_active_run_is_not_deleted(api_client, owner, status):
    run = finished_run(owner, status)
    checkpoint = with_checkpoint(run, "active.pt")
    response = api_client(owner).delete(f"/api/v1/runs/{run.pk}/")
    assert response.status_code == 409
    assert refusal(response)["code"] == "run_not_finished" and "status" in fields(response)
    assert Run.objects.filter(pk=run.pk).exists()
    assert default_storage.exists(checkpoint.file.name)


def test_a_run_another_is_to_start_from_or_play_against_is_not_deleted(api_client, owner):
    run = finished_run(owner)
    checkpoint = with_checkpoint(run, "parent.pt")
    fork = Run.objects.create(
        owner=owner, trainer="digits", config={}, parent=run, start_checkpoint=checkpoint
    )
    response = api_client(owner).delete(f"/api/v1/runs/{run.pk}/")
    assert response.status_code == 409 and "checkpoints" in fields(response)
    Run.objects.filter(pk=fork.pk).update(status=RunStatus.COMPLETED)
    Evaluation.objects.create(
        run=fork, opponent="checkpoint", opponent_checkpoint=checkpoint, state="pending"
    )
    response = api_client(owner).delete(f"/api/v1/runs/{run.pk}/")
    assert response.status_code == 409 and "evaluations" in fields(response)
    assert Run.objects.filter(pk=run.pk).exists()


# ----- requeue --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [RunStatus.FAILED, RunStatus.STOPPED])
def test_a_failed_or_stopped_run_is_queued_again_under_its_id(api_client, owner, status):
    run = finished_run(owner, status, error="worker lost", attempts=3)
    response = api_client(owner).post(f"/api/v1/runs/{run.pk}/requeue/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["status"], body["error"], body["attempts"]) == (
        run.pk,
        "queued",
        "",
        0,
    )
    assert body["queue_position"] == 1
    assert Run.objects.filter(owner=owner).count() == 1
    event = RunEvent.objects.filter(run=run).order_by("-seq").first()
    assert event is not None and event.data["status"] == "queued"


@pytest.mark.parametrize(
    "status",
    [
        RunStatus.QUEUED,
        RunStatus.RUNNING,
        RunStatus.PAUSED,
        RunStatus.COMPLETED,
        RunStatus.CANCELLED,
    ],
)
def test_other_states_are_not_requeued(api_client, owner, status):
    run = finished_run(owner, status)
    response = api_client(owner).post(f"/api/v1/runs/{run.pk}/requeue/")
    assert response.status_code == 409
    assert refusal(response)["code"] == "run_not_requeueable" and "status" in fields(response)
    run.refresh_from_db()
    assert run.status == status


# ----- every caller ---------------------------------------------------------------------------


def test_every_caller_of_every_change(api_client, owner, outsider, staff):
    """The owner and staff may; another user gets 404 (as if absent); nobody gets 401/403."""

    def attempts(run: Run) -> dict[str, tuple]:
        url = f"/api/v1/runs/{run.pk}/"
        return {
            "patch": ("patch", url, {"notes": "seen"}),
            "requeue": ("post", f"{url}requeue/", None),
            "delete": ("delete", url, None),
        }

    for caller, allowed in ((None, {401, 403}), (outsider, {404})):
        run = finished_run(owner, RunStatus.FAILED)
        client = api_client(caller)
        for what, (method, url, body) in attempts(run).items():
            status = getattr(client, method)(url, body, format="json").status_code
            assert status in allowed, (caller, what, status)
        run.refresh_from_db()
        assert (run.status, run.notes) == (RunStatus.FAILED, "")

    for caller in (owner, staff):
        run = finished_run(owner, RunStatus.FAILED)
        client = api_client(caller)
        steps = attempts(run)
        method, url, body = steps["patch"]
        assert getattr(client, method)(url, body, format="json").status_code == 200
        method, url, body = steps["requeue"]
        assert getattr(client, method)(url).status_code == 200
        Run.objects.filter(pk=run.pk).update(status=RunStatus.CANCELLED)
        method, url, body = steps["delete"]
        assert getattr(client, method)(url).status_code == 204
        assert not Run.objects.filter(pk=run.pk).exists()


def test_a_run_is_queued_with_its_tags_and_notes(api_client, owner):
    body = {"trainer": "digits", "tags": ["sweep-4", "wide", "wide"], "notes": "first try\n"}
    response = api_client(owner).post("/api/v1/runs/", body, format="json")
    assert response.status_code == 201, response.content
    run = Run.objects.get(pk=response.json()["id"])
    assert (run.tags, run.notes) == (["sweep-4", "wide"], "first try\n")


def test_the_service_refuses_bad_labels_with_the_configs_errors_and_queues_nothing(owner):
    with pytest.raises(services.RunConfigError) as refused:
        services.run_queue(
            owner=owner, trainer="digits", config={"epochs": 0}, tags=["no spaces"], notes=7
        )
    assert {"tags.0", "notes", "config.epochs"} <= set(refused.value.errors)
    assert not Run.objects.exists()
