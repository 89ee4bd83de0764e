"""``trainers/`` (what a client may queue, its config schema and presets), ``validate/`` (a
config in, field errors out, nothing queued) and ``me/`` (limits and their use)."""

from __future__ import annotations

import pytest

from keisei.registry import available_trainers, get_trainer
from runs import services
from runs.models import Run, RunStatus, UserQuota
from tests.support.refusals import fields, refusal
from tests.support.runs import running_run

pytestmark = pytest.mark.django_db


def test_every_trainer_is_listed_with_its_schema_presets_and_capabilities(api_client, owner):
    listed = api_client(owner).get("/api/v1/trainers/").json()
    assert [t["name"] for t in listed] == sorted(available_trainers())
    shogi = next(t for t in listed if t["name"] == "shogi-ppo")
    assert "plays_games" in shogi["capabilities"]
    assert shogi["config_schema"]["type"] == "object" and shogi["config_schema"]["properties"]
    assert shogi["presets"] == {k: dict(v) for k, v in get_trainer("shogi-ppo").presets.items()}
    one = api_client(owner).get("/api/v1/trainers/digits/").json()
    assert one == next(t for t in listed if t["name"] == "digits")
    assert "epochs" in one["config_schema"]["properties"]


def test_an_unknown_trainer_is_404(api_client, owner):
    assert api_client(owner).get("/api/v1/trainers/chess/").status_code == 404
    response = api_client(owner).post("/api/v1/trainers/chess/validate/", {}, format="json")
    assert response.status_code == 404 and refusal(response)["code"] == "not_found"


def test_validate_fills_the_defaults_and_queues_nothing(api_client, owner):
    response = api_client(owner).post(
        "/api/v1/trainers/digits/validate/", {"config": {"epochs": 3}}, format="json"
    )
    assert response.status_code == 200
    config = response.json()["config"]
    assert config == services.config_validate(trainer="digits", config={"epochs": 3})
    assert config["epochs"] == 3 and len(config) > 1
    assert not Run.objects.exists()


def test_validate_names_every_bad_field(api_client, owner):
    response = api_client(owner).post(
        "/api/v1/trainers/digits/validate/",
        {"config": {"epochs": 0, "colour": "red"}},
        format="json",
    )
    assert response.status_code == 400
    assert refusal(response)["code"] == "config_invalid"
    assert {"config.epochs", "config.colour"} <= set(fields(response))
    not_an_object = api_client(owner).post(
        "/api/v1/trainers/digits/validate/", {"config": [1]}, format="json"
    )
    assert not_an_object.status_code == 400 and "config" in fields(not_an_object)


def test_me_tells_limits_and_use(api_client, owner, settings):
    UserQuota.objects.create(user=owner, max_running=2, max_queued=5)
    services.run_queue(owner=owner, trainer="digits", config={})
    services.run_queue(owner=owner, trainer="digits", config={})
    running_run(owner)
    Run.objects.create(owner=owner, trainer="digits", config={}, status=RunStatus.COMPLETED)
    me = api_client(owner).get("/api/v1/me/").json()
    assert me == {
        "username": "olivia",
        "is_staff": False,
        "role": "trainer",
        "quota": {
            "max_running": 2,
            "max_queued": 5,
            "max_storage_bytes": settings.KEISEI_DEFAULT_MAX_STORAGE_BYTES,
            "max_run_checkpoint_bytes": settings.KEISEI_MAX_RUN_CHECKPOINT_BYTES,
        },
        "usage": {"running": 1, "queued": 2, "storage_bytes": 0},
    }


def test_me_without_a_quota_row_reads_the_site_defaults(api_client, staff, settings):
    me = api_client(staff).get("/api/v1/me/").json()
    assert me["is_staff"] is True and me["role"] == "staff"
    assert me["quota"] == {
        "max_running": settings.KEISEI_DEFAULT_MAX_RUNNING,
        "max_queued": settings.KEISEI_DEFAULT_MAX_QUEUED,
        "max_storage_bytes": settings.KEISEI_DEFAULT_MAX_STORAGE_BYTES,
        "max_run_checkpoint_bytes": settings.KEISEI_MAX_RUN_CHECKPOINT_BYTES,
    }
    assert me["usage"] == {"running": 0, "queued": 0, "storage_bytes": 0}


def test_nobody_signed_in_gets_nothing(api_client):
    for url in ("/api/v1/trainers/", "/api/v1/trainers/digits/", "/api/v1/me/"):
        assert api_client().get(url).status_code in (401, 403), url
    assert api_client().post("/api/v1/trainers/digits/validate/", {}).status_code in (401, 403)
