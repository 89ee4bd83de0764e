"""The admin edits runs through the services: it never writes a whole row back over what a
worker changed meanwhile, and its actions are the API's services."""

from __future__ import annotations

import pytest

from runs import services
from runs.admin import RunAdmin
from runs.models import Command, Run, RunStatus
from tests.support.runs import running_run

pytestmark = pytest.mark.django_db

WORKER = "host:123"


def change_form(run: Run, **fields) -> dict:
    """What the admin's change form posts: the editable fields and the empty commands inline."""
    return {
        "name": run.name,
        "priority": run.priority,
        "commands-TOTAL_FORMS": "0",
        "commands-INITIAL_FORMS": "0",
        "commands-MIN_NUM_FORMS": "0",
        "commands-MAX_NUM_FORMS": "1000",
        **fields,
    }


def test_a_priority_edit_racing_the_end_of_a_run_does_not_bring_it_back(
    client, admin_user, owner, monkeypatch
):
    run = running_run(owner, worker=WORKER)
    read_object = RunAdmin.get_object

    def read_then_the_worker_finishes(self, request, object_id, from_field=None):
        obj = read_object(self, request, object_id, from_field)
        # The run ends between the admin's read of the row and its save.
        assert services.run_finish(run_id=run.pk, worker=WORKER, status=RunStatus.COMPLETED)
        return obj

    monkeypatch.setattr(RunAdmin, "get_object", read_then_the_worker_finishes)
    client.force_login(admin_user)
    response = client.post(f"/admin/runs/run/{run.pk}/change/", change_form(run, priority=5))
    assert response.status_code == 302, response.content[:2000]
    run.refresh_from_db()
    assert run.priority == 5
    assert (run.status, run.lease_owner, run.lease_expires_at) == (RunStatus.COMPLETED, "", None)


def test_the_runs_list_edits_priority_alone(client, admin_user, owner):
    run = running_run(owner, worker=WORKER)
    client.force_login(admin_user)
    response = client.post(
        "/admin/runs/run/",
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-MIN_NUM_FORMS": "0",
            "form-MAX_NUM_FORMS": "1000",
            "form-0-id": str(run.pk),
            "form-0-priority": "7",
            "_save": "Save",
        },
    )
    assert response.status_code == 302
    run.refresh_from_db()
    assert (run.priority, run.status, run.lease_owner) == (7, RunStatus.RUNNING, WORKER)


def test_a_priority_out_of_range_is_refused_by_field(owner):
    run = running_run(owner, worker=WORKER)
    with pytest.raises(services.RunConfigError) as refused:
        services.run_edit(run_id=run.pk, priority=10_000)
    assert list(refused.value.fields) == ["priority"]
    run.refresh_from_db()
    assert run.priority == 0


def test_admin_actions_call_the_services(client, admin_user, owner):
    queued = Run.objects.create(owner=owner, trainer="digits", config={})
    stopped = Run.objects.create(
        owner=owner, trainer="digits", config={}, status=RunStatus.STOPPED, error="x"
    )
    client.force_login(admin_user)

    def act(action: str, *runs: Run):
        return client.post(
            "/admin/runs/run/",
            {"action": action, "_selected_action": [str(r.pk) for r in runs]},
            follow=True,
        )

    act("cancel_runs", queued)
    queued.refresh_from_db()
    assert queued.status == RunStatus.CANCELLED
    cancel = Command.objects.get(run=queued)
    assert (cancel.kind, cancel.state, cancel.requested_by) == ("cancel", "done", admin_user)

    refused = act("requeue_runs", queued, stopped)  # a cancelled run may go back; both do
    assert refused.status_code == 200
    stopped.refresh_from_db()
    assert (stopped.status, stopped.error) == (RunStatus.QUEUED, "")

    running = running_run(owner, worker=WORKER)
    page = act("requeue_runs", running)
    assert b"cannot requeue a run that is running" in page.content
    running.refresh_from_db()
    assert running.status == RunStatus.RUNNING

    act("clone_runs", stopped)
    clone = Run.objects.get(parent=stopped)
    assert clone.owner == admin_user and clone.status == RunStatus.QUEUED
