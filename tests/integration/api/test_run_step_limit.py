"""A run may plan at most ``KEISEI_MAX_RUN_STEPS`` steps (its trainer's budget field): over it
the config is refused at queueing and at validation, on that field, naming the limit."""

from __future__ import annotations

import pytest

from runs.models import Run
from tests.support.refusals import refusal

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_limit(settings):
    settings.KEISEI_MAX_RUN_STEPS = 100_000


def test_a_run_planning_more_steps_than_the_limit_is_refused(api_client, owner, small_limit):
    """Seen failing with the check removed from config_validate: 201, the run queued."""
    api = api_client(owner)
    refused = api.post(
        "/api/v1/runs/",
        {"trainer": "shogi-ppo", "config": {"total_steps": 100_001}},
        format="json",
    )
    assert refused.status_code == 400
    reasons = refusal(refused)["fields"]["config.total_steps"]
    assert reasons == ["at most 100000 on this site (KEISEI_MAX_RUN_STEPS)"]
    assert not Run.objects.exists()
    within = api.post(
        "/api/v1/runs/", {"trainer": "shogi-ppo", "config": {"total_steps": 100_000}}, format="json"
    )
    assert within.status_code == 201


def test_each_trainer_is_capped_on_its_own_budget_field(api_client, owner, settings):
    settings.KEISEI_MAX_RUN_STEPS = 10
    checked = api_client(owner).post(
        "/api/v1/trainers/digits/validate/", {"config": {"epochs": 11}}, format="json"
    )
    assert checked.status_code == 400
    assert "config.epochs" in refusal(checked)["fields"]
