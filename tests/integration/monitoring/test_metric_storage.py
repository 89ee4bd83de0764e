"""The metric-point table keeps only the indexes it needs (each costs bytes per point)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from monitoring.models import MetricPoint
from monitoring.services import metrics_record
from runs.models import Run

pytestmark = pytest.mark.django_db


def test_points_have_the_primary_key_and_the_unique_index_only():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s",
            [MetricPoint._meta.db_table],
        )
        names = {row[0] for row in cursor.fetchall()}
    assert names == {f"{MetricPoint._meta.db_table}_pkey", "metric_point_run_key_step"}


def test_a_runs_points_are_found_and_deleted_through_the_unique_index(owner):
    run = Run.objects.create(owner=owner, trainer="digits", config={})
    now = dt.datetime.now(dt.UTC)
    metrics_record(run_id=run.pk, points=[("a", step, 1.0, now) for step in range(100)])
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: ask for the index
        sql, params = MetricPoint.objects.filter(run_id=run.pk).query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "metric_point_run_key_step" in plan, plan
    run.delete()  # the cascade finds them the same way
    assert not MetricPoint.objects.filter(run_id=run.pk).exists()
