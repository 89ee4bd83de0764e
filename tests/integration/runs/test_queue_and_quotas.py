"""Priorities, queue positions and quotas, on the real database."""

from __future__ import annotations

import pytest

from runs import selectors, services
from runs.models import Run, RunStatus, UserQuota
from tests.support.refusals import fields, refusal

pytestmark = pytest.mark.django_db


def queue(owner, priority=0, **config):
    return services.run_queue(
        owner=owner, trainer="digits", config=config or {"epochs": 1}, priority=priority
    )


def test_claims_take_the_highest_priority_then_the_oldest(owner, outsider):
    first = queue(owner)
    urgent = queue(outsider, priority=5)
    second = queue(owner)
    assert [selectors.run_queue_position(r) for r in (urgent, first, second)] == [1, 2, 3]
    order = [services.run_claim_next(worker=f"w:{i}") for i in range(3)]
    assert [r.pk for r in order] == [urgent.pk, first.pk, second.pk]
    assert services.run_claim_next(worker="w:9") is None
    first.refresh_from_db()
    assert selectors.run_queue_position(first) is None  # running now


def test_owner_at_the_running_limit_waits_while_others_go_first(owner, outsider):
    UserQuota.objects.create(user=owner, max_running=1, max_queued=10)
    a = queue(owner)
    b = queue(owner)
    c = queue(outsider)
    assert services.run_claim_next(worker="w:1").pk == a.pk
    assert services.run_claim_next(worker="w:2").pk == c.pk  # b waits for a
    assert services.run_claim_next(worker="w:3") is None
    assert services.run_finish(run_id=a.pk, worker="w:1", status=RunStatus.COMPLETED)
    assert services.run_claim_next(worker="w:4").pk == b.pk


def test_queue_limit_is_refused_with_the_limit_named(owner, api_client):
    UserQuota.objects.create(user=owner, max_running=1, max_queued=2)
    queue(owner)
    queue(owner)
    response = api_client(owner).post(
        "/api/v1/runs/", {"trainer": "digits", "config": {}}, format="json"
    )
    assert response.status_code == 429
    error = refusal(response)
    assert (error["code"], error["limit"], error["value"]) == ("quota_exceeded", "max_queued", 2)
    assert "your limit is 2" in error["message"]
    assert Run.objects.filter(owner=owner).count() == 2


def test_global_limit_is_refused(owner, outsider, settings):
    settings.KEISEI_GLOBAL_MAX_QUEUED = 1
    queue(owner)
    with pytest.raises(services.QuotaExceeded) as refused:
        queue(outsider)
    assert refused.value.limit == "global_max_queued"


def test_queue_position_is_on_the_api_and_the_page(owner, api_client, client):
    queue(owner)
    second = queue(owner)
    assert api_client(owner).get(f"/api/v1/runs/{second.pk}/").json()["queue_position"] == 2
    client.force_login(owner)
    assert b"number 2 in the queue" in client.get(f"/runs/{second.pk}/").content


def test_clone_makes_a_fresh_run_for_whoever_asks(owner, staff, api_client):
    original = queue(owner, epochs=3)
    response = api_client(staff).post(f"/api/v1/runs/{original.pk}/clone/", {}, format="json")
    assert response.status_code == 201
    clone = Run.objects.get(pk=response.json()["id"])
    assert (clone.owner, clone.parent, clone.config) == (staff, original, original.config)
    assert clone.status == RunStatus.QUEUED


def test_outsider_cannot_clone_or_fork(owner, outsider, api_client):
    original = queue(owner)
    client = api_client(outsider)
    assert client.post(f"/api/v1/runs/{original.pk}/clone/", {}, format="json").status_code == 404
    fork = client.post(f"/api/v1/runs/{original.pk}/fork/", {"checkpoint": 1}, format="json")
    assert fork.status_code == 404
    assert Run.objects.count() == 1


def test_presets_saved_shared_and_used_to_queue(owner, outsider, api_client):
    saved = api_client(owner).post(
        "/api/v1/presets/",
        {"name": "long", "trainer": "digits", "config": {"epochs": 40}, "shared": True},
        format="json",
    )
    assert saved.status_code == 201, saved.content
    preset_id = saved.json()["id"]
    assert saved.json()["config"]["batch_size"] == 64  # stored validated, defaults filled in
    bad = api_client(owner).post(
        "/api/v1/presets/",
        {"name": "bad", "trainer": "digits", "config": {"epochs": 0}},
        format="json",
    )
    assert bad.status_code == 400 and "config.epochs" in fields(bad)
    listing = api_client(outsider).get("/api/v1/presets/").json()
    assert [p["name"] for p in listing["saved"]] == ["long"]
    assert {"digits", "shogi-ppo"} <= {p["trainer"] for p in listing["builtin"]}

    run = api_client(outsider).post(
        "/api/v1/runs/",
        {"trainer": "digits", "preset": str(preset_id), "config": {"seed": 5}},
        format="json",
    )
    assert run.status_code == 201, run.content
    assert (run.json()["config"]["epochs"], run.json()["config"]["seed"]) == (40, 5)
    builtin = api_client(owner).post(
        "/api/v1/runs/", {"trainer": "digits", "preset": "quick"}, format="json"
    )
    assert builtin.json()["config"]["epochs"] == 5
    unknown = api_client(owner).post(
        "/api/v1/runs/", {"trainer": "digits", "preset": "nope"}, format="json"
    )
    assert unknown.status_code == 400 and "no preset 'nope'" in fields(unknown)["preset"][0]
    assert api_client(outsider).delete(f"/api/v1/presets/{preset_id}/").status_code == 404
    assert api_client(owner).delete(f"/api/v1/presets/{preset_id}/").status_code == 204


def test_private_presets_stay_private(owner, outsider, api_client, client):
    api_client(owner).post(
        "/api/v1/presets/",
        {"name": "mine", "trainer": "digits", "config": {"epochs": 7}},
        format="json",
    )
    assert api_client(outsider).get("/api/v1/presets/").json()["saved"] == []
    client.force_login(owner)
    page = client.get("/runs/new/?trainer=digits&preset=quick")
    assert page.context["form"].initial["epochs"] == 5
    assert b"mine" in page.content


def test_queue_positions_of_many_runs_are_the_claim_order_in_one_query(
    owner, outsider, django_assert_num_queries
):
    runs = [queue(owner), queue(outsider, priority=3), queue(owner, priority=-2), queue(owner)]
    runs.append(queue(outsider, priority=3))
    with django_assert_num_queries(1):
        positions = selectors.queue_positions()
    by_position = sorted((positions[r.pk], r.pk) for r in runs)
    assert [p for p, _ in by_position] == [1, 2, 3, 4, 5]
    claimed = []
    for i in range(len(runs)):  # each finishes before the next claim: no running limit applies
        run = services.run_claim_next(worker=f"w:{i}")
        claimed.append(run.pk)
        services.run_finish(run_id=run.pk, worker=f"w:{i}", status=RunStatus.COMPLETED)
    assert [pk for _, pk in by_position] == claimed
    assert selectors.queue_positions() == {}


def test_the_runs_list_costs_a_bounded_number_of_queries(
    owner, client, api_client, django_assert_max_num_queries
):
    for priority in range(12):
        queue(owner, priority=priority % 3)
    client.force_login(owner)
    with django_assert_max_num_queries(8):  # one COUNT per run would be 12 more
        page = client.get("/runs/")
    assert page.status_code == 200 and page.content.count(b"queue-position") == 12
    api = api_client(owner)
    with django_assert_max_num_queries(8):
        listed = api.get("/api/v1/runs/").json()["results"]
    assert sorted(r["queue_position"] for r in listed) == list(range(1, 13))
