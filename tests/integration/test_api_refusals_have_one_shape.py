"""Every kind of API refusal (bad body, not found, not allowed, quota, conflict, DRF's own)
answers one body: ``{"error": {"code", "message", "fields"}, "detail"}`` (docs/api.md)."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from rest_framework.exceptions import Throttled

from monitoring.errors import api_exception_handler
from runs import services
from runs.models import Checkpoint, Run, RunStatus, UserQuota
from tests.support.refusals import refusal

pytestmark = pytest.mark.django_db


@pytest.fixture
def olivias(owner):
    run = services.run_queue(owner=owner, trainer="digits", config={"epochs": 1})
    shogi = Run.objects.create(
        owner=owner, trainer="shogi-ppo", config={}, status=RunStatus.COMPLETED
    )
    checkpoint = Checkpoint(run=shogi, step=8, kind="final", size=1, sha256="0" * 64)
    checkpoint.file.save("shape.pt", ContentFile(b"x"))
    return run, shogi, checkpoint


def test_every_refusal_has_the_one_shape(api_client, owner, outsider, olivias):
    run, shogi, checkpoint = olivias
    mine, theirs, nobody = api_client(owner), api_client(outsider), api_client()
    UserQuota.objects.create(user=owner, max_running=1, max_queued=1)
    evaluate = f"/api/v1/runs/{shogi.pk}/checkpoints/{checkpoint.pk}/evaluate/"
    cases = [
        # (what, response, status, code, a field it names or None)
        (
            "bad config",
            mine.post(
                "/api/v1/runs/", {"trainer": "digits", "config": {"epochs": 0}}, format="json"
            ),
            400,
            "config_invalid",
            "config.epochs",
        ),
        ("serializer", mine.post("/api/v1/runs/", {}, format="json"), 400, "invalid", "trainer"),
        (
            "query",
            mine.get(f"/api/v1/runs/{run.pk}/games/", {"limit": "0"}),
            400,
            "invalid",
            "limit",
        ),
        (
            "metrics query",
            mine.get(f"/api/v1/runs/{run.pk}/metrics/", {"max_points": "1"}),
            400,
            "invalid",
            "max_points",
        ),
        (
            "compare",
            mine.get("/api/v1/metrics/compare/", {"runs": "x", "key": "k"}),
            400,
            "compare_refused",
            "runs",
        ),
        (
            "evaluation",
            mine.post(evaluate, {"opponent": "checkpoint:999999", "games": 10}, format="json"),
            400,
            "evaluation_rejected",
            "opponent",
        ),
        (
            "malformed JSON",
            mine.post("/api/v1/runs/", "{nope", content_type="application/json"),
            400,
            "parse_error",
            None,
        ),
        ("absent run", mine.get("/api/v1/runs/999999/"), 404, "not_found", None),
        ("another's run", theirs.get(f"/api/v1/runs/{run.pk}/"), 404, "not_found", None),
        (
            "another's steer",
            theirs.post(f"/api/v1/runs/{run.pk}/commands/", {"kind": "stop"}, format="json"),
            404,
            "not_found",
            None,
        ),
        (
            "another's metrics",
            theirs.get(f"/api/v1/runs/{run.pk}/metrics/"),
            404,
            "not_found",
            None,
        ),
        (
            "another's checkpoint",
            theirs.get(f"/api/v1/runs/{shogi.pk}/checkpoints/{checkpoint.pk}/download/"),
            404,
            "not_found",
            None,
        ),
        ("another's preset", theirs.delete("/api/v1/presets/999999/"), 404, "not_found", None),
        ("method", mine.put(f"/api/v1/runs/{run.pk}/"), 405, "method_not_allowed", None),
        (
            "delete a queued run",
            mine.delete(f"/api/v1/runs/{run.pk}/"),
            409,
            "run_not_finished",
            "status",
        ),
        (
            "priority of a finished run",
            mine.patch(f"/api/v1/runs/{shogi.pk}/", {"priority": 5}, format="json"),
            409,
            "run_not_queued",
            "priority",
        ),
        (
            "requeue a queued run",
            mine.post(f"/api/v1/runs/{run.pk}/requeue/"),
            409,
            "run_not_requeueable",
            "status",
        ),
        (
            "bad tag",
            mine.patch(f"/api/v1/runs/{run.pk}/", {"tags": ["no spaces"]}, format="json"),
            400,
            "invalid",
            "tags.0",
        ),
        ("page size", mine.get("/api/v1/runs/", {"page_size": "0"}), 400, "invalid", "page_size"),
        (
            "owner filter",
            mine.get("/api/v1/runs/", {"owner": "oscar"}),
            400,
            "invalid",
            "owner",
        ),
        (
            "config to validate",
            mine.post(
                "/api/v1/trainers/digits/validate/", {"config": {"epochs": 0}}, format="json"
            ),
            400,
            "config_invalid",
            "config.epochs",
        ),
        ("anonymous", nobody.get("/api/v1/runs/"), 401, "not_authenticated", None),
        (
            "quota",
            mine.post("/api/v1/runs/", {"trainer": "digits"}, format="json"),
            429,
            "quota_exceeded",
            None,
        ),
        (
            "conflict",
            mine.post(f"/api/v1/runs/{run.pk}/commands/", {"kind": "pause"}, format="json"),
            409,
            "command_rejected",
            "kind",
        ),
    ]
    for what, response, status, code, field in cases:
        assert response.status_code in ({401, 403} if status == 401 else {status}), what
        error = refusal(response)
        assert error["code"] == code, (what, error)
        if field is not None:
            assert field in error["fields"] and error["fields"][field], (what, error)


def test_throttling_has_the_one_shape_and_keeps_retry_after():
    response = api_exception_handler(Throttled(wait=7), {})
    assert response.status_code == 429 and response["Retry-After"] == "7"
    assert response.data["error"]["code"] == "throttled" and response.data["detail"]


def test_refusals_are_json_whatever_was_asked_for(api_client, client, owner, outsider, olivias):
    run, _, _ = olivias
    csv = api_client(outsider).get(f"/api/v1/runs/{run.pk}/metrics.csv", {"format": "csv"})
    assert csv.status_code == 404 and csv["Content-Type"] == "application/json"
    assert refusal(csv)["code"] == "not_found"
    nowhere = api_client(owner).get("/api/v1/no-such-endpoint/")
    assert nowhere.status_code == 404 and nowhere["Content-Type"] == "application/json"
    assert refusal(nowhere)["code"] == "not_found"
    page = client.get("/no-such-page/")  # outside /api/ a person gets the page, not JSON
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
