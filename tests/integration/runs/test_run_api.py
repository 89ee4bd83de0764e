"""Queueing runs through the API: validation, authentication, and who sees what."""

from __future__ import annotations

import pytest

from monitoring.models import RunEvent
from runs.models import Run, RunStatus
from tests.support.refusals import fields

pytestmark = pytest.mark.django_db


def test_owner_queues_a_digits_run_with_a_token(owner, api_client):
    response = api_client(owner).post(
        "/api/v1/runs/", {"trainer": "digits", "config": {"epochs": 2}}, format="json"
    )
    assert response.status_code == 201, response.content
    run = Run.objects.get(pk=response.json()["id"])
    assert run.owner == owner
    assert run.status == RunStatus.QUEUED
    assert run.config["epochs"] == 2
    assert run.config["batch_size"] == 64  # defaults are filled in and stored
    event = RunEvent.objects.get(run=run)
    assert (event.seq, event.type, event.data["status"]) == (1, "status", "queued")


def test_out_of_bounds_config_is_refused_with_the_field_and_reason(owner, api_client):
    response = api_client(owner).post(
        "/api/v1/runs/",
        {"trainer": "digits", "config": {"epochs": 0, "learning_rate": "fast", "colour": "red"}},
        format="json",
    )
    assert response.status_code == 400
    errors = fields(response)
    assert "greater than or equal to 1" in errors["config.epochs"][0]
    assert "valid number" in errors["config.learning_rate"][0]
    assert "Extra inputs are not permitted" in errors["config.colour"][0]
    assert not Run.objects.exists()


def test_unknown_trainer_is_refused(owner, api_client):
    response = api_client(owner).post("/api/v1/runs/", {"trainer": "chess"}, format="json")
    assert response.status_code == 400
    assert "unknown trainer 'chess'" in fields(response)["trainer"][0]


def test_config_that_is_not_an_object_is_refused(owner, api_client):
    response = api_client(owner).post(
        "/api/v1/runs/", {"trainer": "digits", "config": [1, 2]}, format="json"
    )
    assert response.status_code == 400
    assert "object" in fields(response)["config"][0]


def test_anonymous_client_cannot_queue_or_read(api_client, owner):
    assert api_client().post("/api/v1/runs/", {"trainer": "digits"}, format="json").status_code in (
        401,
        403,
    )
    run = Run.objects.create(owner=owner, trainer="digits", config={})
    assert api_client().get(f"/api/v1/runs/{run.pk}/").status_code in (401, 403)


def test_session_login_works_for_the_api(client, owner):
    # Through the login page, as a person signs in (Client.login() passes no request, which
    # the sign-in lockout's backend needs).
    signed_in = client.post(
        "/accounts/login/", {"username": "olivia", "password": "correct-horse-battery-staple"}
    )
    assert signed_in.status_code == 302
    run = Run.objects.create(owner=owner, trainer="digits", config={})
    response = client.get(f"/api/v1/runs/{run.pk}/")
    assert response.status_code == 200
    assert response.json()["owner"] == "olivia"


def test_outsider_cannot_see_or_steer_the_owners_run(owner, outsider, api_client):
    run = Run.objects.create(owner=owner, trainer="digits", config={})
    client = api_client(outsider)
    assert client.get(f"/api/v1/runs/{run.pk}/").status_code == 404
    assert client.get(f"/api/v1/runs/{run.pk}/commands/").status_code == 404
    assert (
        client.post(
            f"/api/v1/runs/{run.pk}/commands/", {"kind": "cancel"}, format="json"
        ).status_code
        == 404
    )
    assert client.get("/api/v1/runs/").json()["results"] == []
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED


def test_staff_sees_every_run(owner, staff, api_client):
    run = Run.objects.create(owner=owner, trainer="digits", config={})
    assert api_client(staff).get(f"/api/v1/runs/{run.pk}/").status_code == 200
    ids = [r["id"] for r in api_client(staff).get("/api/v1/runs/").json()["results"]]
    assert ids == [run.pk]


def test_owner_cancels_a_queued_run(owner, api_client):
    run = Run.objects.create(owner=owner, trainer="digits", config={})
    response = api_client(owner).post(
        f"/api/v1/runs/{run.pk}/commands/", {"kind": "cancel"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["state"] == "done"
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED


def test_command_that_does_not_fit_the_state_is_rejected_with_the_reason(owner, api_client):
    run = Run.objects.create(owner=owner, trainer="digits", config={})
    response = api_client(owner).post(
        f"/api/v1/runs/{run.pk}/commands/", {"kind": "pause"}, format="json"
    )
    assert response.status_code == 409
    assert "cannot pause a run that is queued" in fields(response)["kind"][0]
    bogus = api_client(owner).post(
        f"/api/v1/runs/{run.pk}/commands/", {"kind": "explode"}, format="json"
    )
    assert bogus.status_code == 409
    assert "unknown command 'explode'" in fields(bogus)["kind"][0]
