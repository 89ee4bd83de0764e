"""Metric points are stored in blocks (docs/benchmarks.md, storage.py): full blocks under the
TOAST threshold, one index, appends to the last block of a key, and the (run, key, step)
uniqueness and resume cut kept exactly."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from django.db import connection

from monitoring.models import TOAST_THRESHOLD, MetricBlock, MetricPoint, block_points
from monitoring.services import metrics_record, metrics_supersede_after
from runs.models import Run

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
LONG_KEY = "k" * 100


def _run(owner) -> Run:
    return Run.objects.create(owner=owner, trainer="digits", config={})


def _points(key: str, steps, value=lambda step: step / 7.0):
    return [(key, step, value(step), T0 + dt.timedelta(microseconds=step)) for step in steps]


def _blocks(run: Run, key: str) -> list[MetricBlock]:
    return list(MetricBlock.objects.filter(run=run, key=key).order_by("first_step"))


def _assert_well_formed(run: Run, key: str) -> None:
    """Each block's steps ascend, its first/last columns match, blocks do not overlap."""
    previous = None
    for block in _blocks(run, key):
        assert block.steps == sorted(set(block.steps))
        assert len(block.steps) == len(block.vals) == len(block.wall_times)
        assert (block.first_step, block.last_step) == (block.steps[0], block.steps[-1])
        assert previous is None or previous < block.first_step
        previous = block.last_step


def test_blocks_have_the_primary_key_only():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s",
            [MetricBlock._meta.db_table],
        )
        names = {row[0] for row in cursor.fetchall()}
    assert names == {f"{MetricBlock._meta.db_table}_pkey"}


def test_a_runs_points_are_found_through_the_primary_key_and_deleted_with_it(owner):
    run = _run(owner)
    metrics_record(run_id=run.pk, points=_points("a", range(100)))
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: ask for the index
        sql, params = MetricPoint.objects.filter(run_id=run.pk, key="a").query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert f"{MetricBlock._meta.db_table}_pkey" in plan, plan
    assert MetricPoint.objects.filter(run=run).count() == 100
    run.delete()  # the blocks go with the run
    assert not MetricBlock.objects.filter(run_id=run.pk).exists()
    assert not MetricPoint.objects.filter(run_id=run.pk).exists()


@pytest.mark.parametrize("key", ["losses/policy_loss", LONG_KEY, "損失/" * 30])
def test_full_blocks_stay_under_the_toast_threshold(owner, key):
    run = _run(owner)
    size = block_points(key)
    assert metrics_record(run_id=run.pk, points=_points(key, range(5 * size + 3))) == 5 * size + 3
    assert [len(block.steps) for block in _blocks(run, key)] == [size] * 5 + [3]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT max(pg_column_size(b.*)) FROM {MetricBlock._meta.db_table} b "
            "WHERE run_id = %s",
            [run.pk],
        )
        (largest,) = cursor.fetchone()
        cursor.execute(
            "SELECT pg_relation_size(reltoastrelid) FROM pg_class WHERE relname = %s",
            [MetricBlock._meta.db_table],
        )
        (toasted,) = cursor.fetchone()
    # Full, but not over: one more point would cross the threshold.
    assert TOAST_THRESHOLD - 24 < largest <= TOAST_THRESHOLD
    assert toasted == 0


def test_live_flushes_append_to_the_last_block_until_it_is_full(owner):
    run = _run(owner)
    key = "charts/win_rate"
    size = block_points(key)
    for step in range(2 * size + 5):  # one point a flush, as a slow trainer reports
        assert metrics_record(run_id=run.pk, points=_points(key, [step])) == 1
    assert [len(block.steps) for block in _blocks(run, key)] == [size, size, 5]
    _assert_well_formed(run, key)
    stored = list(MetricPoint.objects.filter(run=run).order_by("step").values_list("step", "value"))
    assert stored == [(step, step / 7.0) for step in range(2 * size + 5)]


def test_a_batch_that_reaches_back_keeps_the_stored_points_and_adds_the_new(owner):
    run = _run(owner)
    key = "losses/value_loss"
    metrics_record(run_id=run.pk, points=_points(key, range(0, 400, 2)))  # even steps
    # Odd steps in the middle, repeated even ones (with other values), and later steps.
    again = _points(key, range(100, 500), value=lambda step: -1.0)
    assert metrics_record(run_id=run.pk, points=again) == 150 + 100
    stored = dict(MetricPoint.objects.filter(run=run, key=key).values_list("step", "value"))
    assert len(stored) == 200 + 250
    assert all(stored[step] == step / 7.0 for step in range(0, 400, 2))
    assert all(stored[step] == -1.0 for step in (*range(101, 400, 2), *range(400, 500)))
    _assert_well_formed(run, key)
    # Nothing new: nothing written.
    assert metrics_record(run_id=run.pk, points=again) == 0


def test_a_step_repeated_within_a_batch_keeps_its_first_point(owner):
    run = _run(owner)
    batch = [("a", 1, 1.0, T0), ("a", 1, 2.0, T0), ("a", 0, math.nan, T0)]
    assert metrics_record(run_id=run.pk, points=batch) == 2
    (block,) = _blocks(run, "a")
    assert block.steps == [0, 1] and math.isnan(block.vals[0]) and block.vals[1] == 1.0


def test_wall_times_keep_their_microseconds(owner):
    run = _run(owner)
    metrics_record(run_id=run.pk, points=_points("a", [1, 2, 3]))
    walls = list(MetricPoint.objects.filter(run=run).order_by("step").values_list("wall_time"))
    assert walls == [(T0 + dt.timedelta(microseconds=step),) for step in (1, 2, 3)]


def test_a_resume_cut_trims_the_block_it_falls_in_and_later_points_append(owner):
    run = _run(owner)
    key = "a"
    size = block_points(key)
    metrics_record(run_id=run.pk, points=_points(key, range(3 * size)))
    cut = size + 10
    assert metrics_supersede_after(run_id=run.pk, step=cut) == 3 * size - cut - 1
    assert [len(block.steps) for block in _blocks(run, key)] == [size, 11]
    assert metrics_record(run_id=run.pk, points=_points(key, range(cut + 1, 3 * size))) == (
        3 * size - cut - 1
    )
    assert [len(block.steps) for block in _blocks(run, key)] == [size, size, size]
    _assert_well_formed(run, key)


@pytest.mark.django_db(transaction=True)
def test_migration_0008_moves_every_point_into_full_blocks_and_back(owner):
    """Back to 0007 (a row per point: the view's points become rows again), rows added there
    as the old writer would, then forward: every point is in a block, blocks are full."""
    from django.db.migrations.executor import MigrationExecutor

    def migrate(target: tuple[str, str] | None) -> None:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate([target] if target else executor.loader.graph.leaf_nodes())

    run = _run(owner)
    metrics_record(run_id=run.pk, points=_points("a", range(0, 3000, 3)))
    metrics_record(run_id=run.pk, points=_points(LONG_KEY, range(-50, 200)))
    expected = set(MetricPoint.objects.filter(run=run).values_list("key", "step", "value"))
    try:
        migrate(("monitoring", "0007_event_alert"))
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT key, step, value FROM monitoring_metricpoint WHERE run_id = %s", [run.pk]
            )
            assert set(cursor.fetchall()) == expected
            # Steps out of order and between the stored ones, as rows of the old table.
            cursor.execute(
                "INSERT INTO monitoring_metricpoint (run_id, key, step, value, wall_time) "
                "SELECT %s, 'a', s, -s, %s FROM generate_series(2999, 1, -3) AS s",
                [run.pk, T0],
            )
        migrate(None)
    finally:
        migrate(None)
    expected |= {("a", step, float(-step)) for step in range(2, 3000, 3)}
    assert set(MetricPoint.objects.filter(run=run).values_list("key", "step", "value")) == expected
    for key, count in (("a", 2000), (LONG_KEY, 250)):
        _assert_well_formed(run, key)
        size = block_points(key)
        sizes = [len(block.steps) for block in _blocks(run, key)]
        assert sizes == [size] * (count // size) + ([count % size] if count % size else [])
