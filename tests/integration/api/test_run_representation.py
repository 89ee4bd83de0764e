"""A run's API shape is written out by hand for speed; it must stay what DRF's declared
fields write, for every field and kind of value (the schema is generated from those)."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework import serializers

from runs import selectors
from runs.models import Checkpoint, Run, RunStatus
from runs.serializers import RunSerializer

pytestmark = pytest.mark.django_db


def _declared(run: Run, context: dict | None = None) -> dict:
    serializer = RunSerializer(run, context=context or {})
    return dict(serializers.ModelSerializer.to_representation(serializer, run))


def test_every_field_as_the_declared_serializer_writes_it(owner):
    parent = Run.objects.create(owner=owner, trainer="digits", config={"epochs": 2})
    checkpoint = Checkpoint.objects.create(
        run=parent, step=7, kind="periodic", file="x.pt", size=1, sha256="0" * 64
    )
    run = Run.objects.create(
        owner=owner,
        trainer="shogi-ppo",
        name="",  # display_name then falls back on trainer and id
        config={"learning_rate": 3e-4, "nested": {"a": [1, 2.5, None]}, "flag": True},
        status=RunStatus.FAILED,
        priority=-3,
        step=12_345,
        total_steps=99_999,
        progress=0.123456789,
        error="boom: ü",
        tags=["a", "b:c"],
        notes="line one\nline two",
        parent=parent,
        start_checkpoint=checkpoint,
        started_at=dt.datetime(2026, 11, 1, 3, 4, 5, 600, tzinfo=dt.UTC),
        finished_at=dt.datetime(2026, 11, 1, 4, 0, 0, tzinfo=dt.UTC),
    )
    run.refresh_from_db()

    assert RunSerializer(run).data == _declared(run)


def test_queue_positions_and_empty_values_as_declared(owner):
    queued = [Run.objects.create(owner=owner, trainer="digits", config={}) for _ in range(3)]
    context = {"queue_positions": selectors.queue_positions()}
    for run in queued:
        run.refresh_from_db()
        fast = RunSerializer(run, context=context).data
        assert fast == _declared(run, context)
        assert fast["queue_position"] is not None and fast["started_at"] is None
    # Without a list's positions, the run's own is looked up.
    assert RunSerializer(queued[-1]).data == _declared(queued[-1])
