"""The run page's own actions through Django's test client: commands answered as JSON for
the page's fetch, the timeline's older pages, the config sections and the compare diff."""

from __future__ import annotations

import pytest

from monitoring.services import event_record
from runs import selectors
from runs.models import Command, Run, RunStatus

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture
def running(owner):
    return Run.objects.create(owner=owner, trainer="digits", config={}, status=RunStatus.RUNNING)


def test_a_command_sent_by_fetch_is_answered_in_json(client, owner, running):
    client.force_login(owner)
    response = client.post(f"/runs/{running.pk}/command/", {"kind": "pause"}, **JSON)
    assert response.status_code == 200
    assert response.json() == {"message": "pause requested"}
    assert Command.objects.filter(run=running, kind="pause").count() == 1


def test_a_refused_command_says_why_in_json(client, owner, running):
    client.force_login(owner)
    response = client.post(f"/runs/{running.pk}/command/", {"kind": "resume"}, **JSON)
    assert response.status_code >= 400
    assert "resume" in response.json()["error"]
    response = client.post(f"/runs/{running.pk}/command/", {"kind": ""}, **JSON)
    assert response.status_code == 400
    assert response.json()["error"].startswith("kind:")


def test_without_javascript_a_command_redirects_to_the_run_page(client, owner, running):
    client.force_login(owner)
    response = client.post(f"/runs/{running.pk}/command/", {"kind": "pause"})
    assert response.status_code == 302
    assert response["Location"] == f"/runs/{running.pk}/"


def test_the_timeline_pages_back_by_seq_and_refuses_a_bad_one(client, owner, running):
    for n in range(1, 8):
        event_record(run_id=running.pk, type="log", message=f"note {n}")
    client.force_login(owner)
    response = client.get(f"/runs/{running.pk}/timeline/?before_seq=4")
    assert response.status_code == 200
    body = response.content.decode()
    assert "note 3" in body and "note 1" in body and "note 4" not in body
    response = client.get(f"/runs/{running.pk}/timeline/?before_seq=x")
    assert response.status_code == 400
    assert b"before_seq" in response.content

    page = selectors.run_timeline_page(running, limit=3)
    assert [e["seq"] for e in page["events"]] == [7, 6, 5]
    assert (page["older"], page["last_seq"]) == (5, 7)


def test_config_sections_follow_the_form_and_mark_changes(owner):
    run = Run.objects.create(
        owner=owner, trainer="digits", config={"learning_rate": 0.01, "epochs": 10}
    )
    sections = selectors.run_config_sections(run)
    assert [s["title"] for s in sections][0] == "Training"
    fields = {f["name"]: f for s in sections for f in s["fields"]}
    assert fields["learning_rate"]["changed"] and fields["learning_rate"]["default"] == 0.001
    assert not fields["epochs"]["changed"]  # set, but to the default
    assert not fields["dropout"]["changed"] and fields["dropout"]["value"] == 0.1


def test_compare_diff_lists_only_differing_fields(owner):
    a = Run.objects.create(owner=owner, trainer="digits", config={"learning_rate": 0.01})
    b = Run.objects.create(owner=owner, trainer="digits", config={"learning_rate": 0.001})
    c = Run.objects.create(owner=owner, trainer="digits", config={})
    assert selectors.compare_config_diff([b, c]) == []  # 0.001 is the default
    rows = selectors.compare_config_diff([a, b])
    assert [(r["name"], r["values"]) for r in rows] == [("learning_rate", [0.01, 0.001])]
