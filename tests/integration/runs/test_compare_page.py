"""``/runs/compare/``: one metric of several runs on one chart, for the runs a user may see."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from monitoring.services import metrics_record
from runs.models import Run

pytestmark = pytest.mark.django_db


def run_with_points(owner, name: str, key: str, steps: range) -> Run:
    run = Run.objects.create(owner=owner, trainer="digits", config={}, name=name)
    wall = dt.datetime.now(dt.UTC)
    metrics_record(run_id=run.pk, points=[(key, s, s / 10, wall) for s in steps])
    return run


def chart_of(response) -> dict:
    match = re.search(
        r'<script id="compare-data" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match, "no chart data on the page"
    return json.loads(match.group(1))


def test_two_runs_on_one_chart_with_the_preferred_key_first(client, owner):
    first = run_with_points(owner, "first", "losses/train_loss", range(0, 5))
    second = run_with_points(owner, "second", "losses/train_loss", range(2, 9))
    metrics_record(run_id=second.pk, points=[("charts/lr", 1, 0.1, dt.datetime.now(dt.UTC))])
    client.force_login(owner)
    page = client.get("/runs/compare/", {"runs": [first.pk, f"{second.pk},{first.pk}"]})
    assert page.status_code == 200
    chart = chart_of(page)
    assert chart["key"] == "losses/train_loss"
    assert [(r["id"], r["name"]) for r in chart["runs"]] == [
        (first.pk, "first"),
        (second.pk, "second"),
    ]
    assert chart["runs"][0]["step"] == [0, 1, 2, 3, 4]
    assert chart["runs"][1]["value"][0] == pytest.approx(0.2)
    assert b"charts/lr" in page.content  # every key of either run can be picked
    other = chart_of(
        client.get("/runs/compare/", {"runs": f"{first.pk},{second.pk}", "key": "charts/lr"})
    )
    assert other["key"] == "charts/lr" and other["runs"][0]["step"] == []


def test_refusals_say_why_and_other_users_runs_are_not_found(client, owner, outsider):
    mine = run_with_points(owner, "mine", "losses/train_loss", range(3))
    theirs = run_with_points(outsider, "theirs", "losses/train_loss", range(3))
    client.force_login(owner)
    bad = client.get("/runs/compare/", {"runs": "7,seven"})
    assert bad.status_code == 400 and b"run ids, got &#x27;seven&#x27;" in bad.content
    many = client.get("/runs/compare/", {"runs": ",".join(str(i) for i in range(1, 30))})
    assert many.status_code == 400 and b"at most 20 runs" in many.content
    hidden = client.get("/runs/compare/", {"runs": f"{mine.pk},{theirs.pk}"})
    assert hidden.status_code == 404 and b"theirs" not in hidden.content
    assert client.get("/runs/compare/").status_code == 200  # nothing picked yet: a hint
    client.logout()
    assert client.get("/runs/compare/", {"runs": mine.pk}).status_code == 302
