"""Metric rollups: kept by the writer, read by history, same answers as the raw points."""

from __future__ import annotations

import datetime as dt
import math
import random

import pytest

from monitoring import history
from monitoring.models import ROLLUP_SHIFTS, MetricPoint, MetricRollup
from monitoring.services import metrics_record, metrics_rollups_rebuild, metrics_supersede_after
from runs.models import Run
from tests.support.runs import rollup_rows

pytestmark = pytest.mark.django_db

KEY = "losses/policy_loss"
T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def _pg_key(value: float) -> tuple[int, float]:
    """PostgreSQL's float order: NaN above every number."""
    return (1, 0.0) if math.isnan(value) else (0, value)


def _same(a: float | None, b: float | None) -> bool:
    return a == b or (a is not None and b is not None and math.isnan(a) and math.isnan(b))


def _write_randomly(run: Run, rng: random.Random, steps: list[int]) -> None:
    """Batches in step order with resumes: each batch may repeat the tail of the one before."""
    position = 0
    while position < len(steps):
        size = rng.randint(1, 3000)
        back = rng.randint(0, 200) if position and rng.random() < 0.3 else 0
        batch = steps[max(0, position - back) : position + size]
        points = []
        for step in batch:
            value = math.nan if rng.random() < 0.001 else rng.gauss(0.0, 1.0)
            points.append((KEY, step, value, T0))
            if rng.random() < 0.01:
                points.append((KEY, step, 1e9, T0))  # a repeat within the batch: kept once
        metrics_record(run_id=run.pk, points=points)
        position += size


def _raw_buckets(run: Run, start: int, end: int, width: int) -> list[tuple]:
    stored = MetricPoint.objects.filter(run=run, key=KEY, step__gte=start, step__lte=end).order_by(
        "step"
    )
    buckets: dict[int, list] = {}
    for step, value in stored.values_list("step", "value"):
        b = buckets.setdefault(step // width, [step, value, step, value, value, value, 0])
        b[2], b[3] = step, value
        b[4] = min(b[4], value, key=_pg_key)
        b[5] = max(b[5], value, key=_pg_key)
        b[6] += 1
    return [tuple(b) for _, b in sorted(buckets.items())]


def test_rollup_buckets_equal_raw_buckets_on_random_data(owner):
    rng = random.Random(5)
    run = Run.objects.create(owner=owner, trainer="digits", config={})
    steps = sorted(rng.sample(range(-1000, 6_000_000), 30_000))
    _write_randomly(run, rng, steps)
    checked_levels = set()

    for start, end, max_points in [
        (None, None, 2000),
        (None, None, 100),
        (None, None, 10),
        (12_345, 4_567_891, 50),
        (-5, 300_000, 1000),
        (1_000_001, 1_000_001 + 64 * 4000, 20),
    ]:
        series = history.metric_series_downsampled(
            run_id=run.pk, key=KEY, start=start, end=end, max_points=max_points
        )
        lo = steps[0] if start is None else start
        hi = steps[-1] if end is None else end
        inside = [s for s in steps if lo <= s <= hi]
        width, level = history.bucket_plan(inside[0], inside[-1], max_points)
        if level is not None:
            checked_levels.add(level)
        expected = _raw_buckets(run, lo, hi, width)

        assert series.downsampled
        assert len(series.step) == len(expected) <= max_points
        got = zip(
            series.step,
            series.value,
            series.last_step,
            series.last,
            series.min,
            series.max,
            series.count,
            strict=True,
        )
        for mine, theirs in zip(got, expected, strict=True):
            assert all(_same(a, b) for a, b in zip(mine, theirs, strict=True)), (mine, theirs)
        assert series.points == len(inside)
    assert checked_levels == set(ROLLUP_SHIFTS)


def test_resume_repeats_are_not_counted_twice_in_rollups(owner):
    rng = random.Random(7)
    run = Run.objects.create(owner=owner, trainer="digits", config={})
    _write_randomly(run, rng, list(range(0, 300_000, 3)))
    written = rollup_rows(run)

    metrics_rollups_rebuild(run_id=run.pk)
    rebuilt = rollup_rows(run)

    assert len(written) == len(rebuilt)
    for mine, theirs in zip(written, rebuilt, strict=True):
        assert all(_same(a, b) for a, b in zip(mine, theirs, strict=True)), (mine, theirs)
    top = [row for row in written if row[1] == max(ROLLUP_SHIFTS)]
    assert sum(row[-1] for row in top) == 100_000 == MetricPoint.objects.filter(run=run).count()


def test_a_spike_survives_every_level(owner):
    run = Run.objects.create(owner=owner, trainer="digits", config={})
    for first in range(0, 2_000_000, 100_000):
        points = [(KEY, step, 0.5, T0) for step in range(first, first + 100_000, 10)]
        metrics_record(run_id=run.pk, points=points)
    metrics_record(run_id=run.pk, points=[(KEY, 1_234_567, 99.0, T0)])

    for max_points in (10, 100, 2000):
        series = history.metric_series_downsampled(run_id=run.pk, key=KEY, max_points=max_points)
        spike = series.max.index(99.0)
        assert series.step[spike] <= 1_234_567 <= series.last_step[spike]
        assert len(series.step) <= max_points
        assert series.points == 200_001


def test_superseding_a_resumed_tail_leaves_rollups_equal_to_the_surviving_points(owner):
    """A resume from step C deletes the lost attempt's points after C and corrects the blocks
    they were in; the new attempt then writes its own. Seen to fail with the
    ``metrics_rollups_rebuild`` call removed from ``metrics_supersede_after`` (blocks after C
    kept the lost points' counts and extremes)."""
    rng = random.Random(11)
    run = Run.objects.create(owner=owner, trainer="digits", config={})
    # Sparse enough to stay quick (50,000 points), long enough to span level-5 blocks.
    steps = list(range(0, 600_000, 12))
    _write_randomly(run, rng, steps)
    resumed_at = 300_001  # inside a block at every level, past a level-5 boundary (262,144)
    assert metrics_supersede_after(run_id=run.pk, step=resumed_at) == sum(
        1 for s in steps if s > resumed_at
    )
    assert not MetricPoint.objects.filter(run=run, step__gt=resumed_at).exists()
    # The surviving attempt: other values for the same steps, and a spike to be seen.
    tail = [(KEY, s, 1000.0 + s, T0) for s in steps if s > resumed_at]
    metrics_record(run_id=run.pk, points=tail)

    written = rollup_rows(run)
    metrics_rollups_rebuild(run_id=run.pk)
    rebuilt = rollup_rows(run)
    assert len(written) == len(rebuilt)
    for mine, theirs in zip(written, rebuilt, strict=True):
        assert all(_same(a, b) for a, b in zip(mine, theirs, strict=True)), (mine, theirs)
    top = [row for row in written if row[1] == max(ROLLUP_SHIFTS)]
    assert sum(row[-1] for row in top) == len(steps)
    after = [row for row in written if row[1] == 1 and row[3] > resumed_at]
    assert after and all(row[7] >= 1000.0 for row in after)  # min_value: only the new tail


def _blocks_of_the_points(run: Run, shifts: dict[int, int] = ROLLUP_SHIFTS) -> list[tuple]:
    """Every level's blocks computed straight from the stored points (not level by level)."""
    stored = MetricPoint.objects.filter(run=run).order_by("key", "step")
    rows = list(stored.values_list("key", "step", "value"))
    expected = []
    for level, shift in sorted(shifts.items()):
        blocks: dict[tuple[str, int], list] = {}
        for key, step, value in rows:
            b = blocks.setdefault((key, step >> shift), [step, value, step, value, value, value, 0])
            b[2], b[3] = step, value
            b[4] = min(b[4], value, key=_pg_key)
            b[5] = max(b[5], value, key=_pg_key)
            b[6] += 1
        expected += [(key, level, block, *b) for (key, block), b in sorted(blocks.items())]
    return sorted(expected, key=lambda row: row[:3])


def _assert_same_rows(mine: list[tuple], theirs: list[tuple]) -> None:
    assert len(mine) == len(theirs)
    for a, b in zip(mine, theirs, strict=True):
        assert all(_same(x, y) for x, y in zip(a, b, strict=True)), (a, b)


def test_every_level_holds_the_blocks_of_the_raw_points(owner):
    """Written batch by batch (with repeats), superseded after a resume, and rebuilt: each
    level's rows are the raw points grouped by ``step >> shift``, whatever built them."""
    rng = random.Random(13)
    run = Run.objects.create(owner=owner, trainer="digits", config={})
    steps = sorted(rng.sample(range(-70_000, 1_200_000), 40_000))
    _write_randomly(run, rng, steps)
    assert {row[1] for row in rollup_rows(run)} == set(ROLLUP_SHIFTS)
    _assert_same_rows(rollup_rows(run), _blocks_of_the_points(run))

    metrics_supersede_after(run_id=run.pk, step=300_001)
    metrics_record(run_id=run.pk, points=[(KEY, s, -float(s), T0) for s in steps if s > 300_001])
    _assert_same_rows(rollup_rows(run), _blocks_of_the_points(run))

    MetricRollup.objects.filter(run=run).delete()
    metrics_rollups_rebuild(run_id=run.pk)
    _assert_same_rows(rollup_rows(run), _blocks_of_the_points(run))


def test_a_bucketing_is_the_same_whichever_level_serves_it(owner):
    """For a given width, the raw points and every level whose block divides it give one
    answer, equal to grouping the raw points in Python; partial blocks at both ends."""
    rng = random.Random(17)
    run = Run.objects.create(owner=owner, trainer="digits", config={})
    steps = sorted(rng.sample(range(-300_000, 3_000_000), 25_000))
    _write_randomly(run, rng, steps)
    largest = 1 << max(ROLLUP_SHIFTS.values())
    served_by = set()

    for start, end, width in [
        (None, None, largest),
        (None, None, 3 * 32_768),
        (12_345, 2_567_891, 4096),
        (-5, 1_000_000, 5 * 512),
        (700_001, 1_900_003, 2 * largest),
        (-299_999, 5, 64 * 7),
    ]:
        lo = steps[0] if start is None else start
        hi = steps[-1] if end is None else end
        expected = _raw_buckets(run, lo, hi, width)
        levels = [None] + [lv for lv, sh in ROLLUP_SHIFTS.items() if width % (1 << sh) == 0]
        for level in levels:
            series = history.series_in_buckets(
                run_id=run.pk, key=KEY, start=start, end=end, width=width, level=level
            )
            got = list(
                zip(
                    series.step,
                    series.value,
                    series.last_step,
                    series.last,
                    series.min,
                    series.max,
                    series.count,
                    strict=True,
                )
            )
            _assert_same_rows(got, expected)
            served_by.add(level)
    assert served_by == {None, *ROLLUP_SHIFTS}


def test_a_level_that_does_not_divide_the_width_is_refused(owner):
    run = Run.objects.create(owner=owner, trainer="digits", config={})
    with pytest.raises(ValueError, match="do not divide"):
        history.series_in_buckets(run_id=run.pk, key=KEY, width=1000, level=2)


def test_bucket_plan_reads_one_block_per_bucket_when_the_width_allows():
    # 1M steps in 2000 buckets: 500 steps, rounded to 512, one level-2 block per bucket.
    assert history.bucket_plan(0, 999_999, 2000) == (512, 2)
    # 10M steps: 5000 -> 8192, a multiple of the coarsest block within 5000 (4,096 steps).
    assert history.bucket_plan(0, 9_999_999, 2000) == (8192, 3)
    assert history.bucket_plan(0, 999, 100) == (10, None)
    for first, last, max_points in [(0, 999_999, 2000), (-5, 7_000_003, 10), (3, 70_000, 999)]:
        width, level = history.bucket_plan(first, last, max_points)
        assert last // width - first // width + 1 <= max_points
        if level is not None:
            assert width % (1 << ROLLUP_SHIFTS[level]) == 0
            assert level == max(ROLLUP_SHIFTS) or width % (1 << ROLLUP_SHIFTS[level + 1])


@pytest.mark.django_db(transaction=True)
def test_migration_0003_builds_the_new_levels_from_the_old_ones(owner):
    """Back to 0002 (levels of 64, 4,096 and 262,144 steps), then forward: every level of the
    factor-8 layout holds the blocks of the raw points, the new ones built from below."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    rng = random.Random(19)
    run = Run.objects.create(owner=owner, trainer="digits", config={})
    steps = sorted(rng.sample(range(-70_000, 1_500_000), 30_000))
    _write_randomly(run, rng, steps)

    def migrate(target: tuple[str, str] | None) -> None:
        executor = MigrationExecutor(connection)
        executor.migrate([target] if target else executor.loader.graph.leaf_nodes())

    try:
        migrate(("monitoring", "0002_metric_rollup"))
        _assert_same_rows(rollup_rows(run), _blocks_of_the_points(run, {1: 6, 2: 12, 3: 18}))
        migrate(("monitoring", "0003_rollup_levels_by_8"))
        _assert_same_rows(rollup_rows(run), _blocks_of_the_points(run))
    finally:
        migrate(None)
