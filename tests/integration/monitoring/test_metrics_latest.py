"""metrics_latest: each key's last point by step, whatever order the points came in, and only
the run's own (the run page and the WebSocket's first message show it)."""

from __future__ import annotations

import datetime as dt

import pytest

from monitoring.selectors import metrics_latest
from monitoring.services import metrics_record
from runs.models import Run

pytestmark = pytest.mark.django_db


def test_each_keys_last_step_is_its_latest_point(owner):
    run = Run.objects.create(owner=owner, trainer="digits", config={})
    other = Run.objects.create(owner=owner, trainer="digits", config={})
    wall = dt.datetime.now(dt.UTC)
    points = [("losses/b", s, float(s), wall) for s in (5, 1, 9, 3)]
    points += [("charts/a", s, -float(s), wall) for s in range(40)]
    points += [("time/z", 7, 0.5, wall)]
    metrics_record(run_id=run.pk, points=points)
    metrics_record(
        run_id=other.pk, points=[("losses/b", 100, 1.0, wall), ("only/other", 1, 1.0, wall)]
    )

    assert metrics_latest(run_id=run.pk) == {
        "charts/a": {"step": 39, "value": -39.0},
        "losses/b": {"step": 9, "value": 9.0},
        "time/z": {"step": 7, "value": 0.5},
    }


def test_a_run_with_no_points_has_no_latest(owner):
    run = Run.objects.create(owner=owner, trainer="digits", config={})
    assert metrics_latest(run_id=run.pk) == {}
