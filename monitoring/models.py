"""Metric points and the run timeline.

The run is referred to by its string name (``runs.Run``): monitoring never imports ``runs``.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models

# A block's row stays under PostgreSQL's TOAST threshold (2,032 bytes: four rows to an 8 kB
# page), so it is stored inline and uncompressed, and an append rewrites one small row. Its
# fixed part: a 24-byte tuple header, run_id, first_step and last_step (8 bytes each), and
# three one-dimensional array headers of 24 bytes; then the key, and 24 bytes a point.
TOAST_THRESHOLD = 2032
_BLOCK_FIXED_BYTES = 24 + 3 * 8 + 3 * 24
_POINT_BYTES = 8 + 8 + 8  # step, value, wall time


def block_points(key: str) -> int:
    """How many points a block of ``key`` holds at most (78 for a 20-byte key, 75 at 100).

    The key is counted with a 4-byte length header and padded to 8, as the arrays after it
    are aligned to 8, so the row never reaches the TOAST threshold whatever the key."""
    key_bytes = -(-(len(key.encode()) + 4) // 8) * 8
    return max(1, (TOAST_THRESHOLD - _BLOCK_FIXED_BYTES - key_bytes) // _POINT_BYTES)


class MetricBlock(models.Model):
    """Consecutive points of one key of one run: parallel arrays in step order.

    A row per point cost 215 bytes a point (a 24-byte tuple header, a line pointer and a
    B-tree entry each); a block of up to ``block_points(key)`` points costs about 26
    (bench/storage.py, docs/benchmarks.md). Blocks of a (run, key) never overlap:
    ``first_step``/``last_step`` are the first and last of ``steps``, and a block's steps all
    lie after the previous block's last step, so a step range is found by the primary key
    and a (run, key, step) is stored once. ``monitoring.services.metrics_record`` appends to
    the last block of a key until it is full; nothing else writes here.
    """

    pk = models.CompositePrimaryKey("run", "key", "first_step")
    # Fixed-width columns first: no padding between them.
    run = models.ForeignKey(
        "runs.Run", on_delete=models.CASCADE, related_name="metric_blocks", db_index=False
    )
    first_step = models.BigIntegerField()
    last_step = models.BigIntegerField()
    key = models.CharField(max_length=100)
    steps = ArrayField(models.BigIntegerField())
    vals = ArrayField(models.FloatField())
    wall_times = ArrayField(models.DateTimeField())

    def __str__(self) -> str:
        return f"{self.key}@{self.first_step}..{self.last_step} ({len(self.steps)} points)"


class MetricPoint(models.Model):
    """One scalar of one run at one step, read from the blocks (a SQL view, migration 0008).

    Read-only: points are written by ``metrics_record`` and removed by
    ``metrics_supersede_after``. A filter on run and key reaches the blocks' primary key; a
    filter on step is applied to the points of those blocks, so readers of long series use
    ``monitoring.history`` and the selectors, which also bound the blocks by step.
    """

    pk = models.CompositePrimaryKey("run", "key", "step")
    # The view cannot be cascaded into: deleting a run deletes its blocks.
    run = models.ForeignKey(
        "runs.Run",
        on_delete=models.DO_NOTHING,
        related_name="metric_points",
        db_constraint=False,
        db_index=False,
    )
    key = models.CharField(max_length=100)
    step = models.BigIntegerField()
    value = models.FloatField()
    wall_time = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "monitoring_metricpoint"

    def __str__(self) -> str:
        return f"{self.key}@{self.step}={self.value}"


class EventType(models.TextChoices):
    """The durable timeline event types (also their WebSocket message types)."""

    STATUS = "status"
    LOG = "log"
    CHECKPOINT = "checkpoint"
    EVALUATION = "evaluation"
    SAMPLE = "sample"
    COMMAND = "command"
    ROUND = "round"  # a federated round's start or end (keisei.digits)
    SUMMARY = "summary"  # how a run ended, its best step, the checkpoint to use (its last event)
    ALERT = "alert"  # a diagnostic rule fired on the metric stream (the alerts app)


class RunEvent(models.Model):
    """A durable event of a run's timeline, numbered by ``seq`` (1, 2, ...) per run."""

    run = models.ForeignKey("runs.Run", on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveBigIntegerField()
    type = models.CharField(max_length=20, choices=EventType.choices)
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    actor = models.CharField(
        max_length=150, blank=True, help_text="user:<name>, worker:<id> or system"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="run_event_run_seq")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.type}: {self.message[:60]}"


class RunEventSequence(models.Model):
    """The last ``seq`` handed out per run; its row lock orders concurrent writers (services)."""

    run = models.OneToOneField("runs.Run", on_delete=models.CASCADE, primary_key=True)
    last_seq = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"run {self.run_id}: {self.last_seq}"


# Rollup levels: level -> block size in steps (64, 512, 4,096, 32,768, 262,144). Powers of
# two, each 8 times the one below, so a block of one level is exactly 8 blocks of the level
# below and ``block = step >> shift``. A factor of 8, not more: history reads blocks of the
# coarsest level that divides its bucket width, so the finer the spacing, the fewer blocks
# per bucket (docs/metrics-api.md). Migration 0003 moved from 64, 4,096, 262,144.
ROLLUP_SHIFTS = {1: 6, 2: 9, 3: 12, 4: 15, 5: 18}
ROLLUP_BLOCK_STEPS = {level: 1 << shift for level, shift in ROLLUP_SHIFTS.items()}


# A rollup row's columns after its run, in the order of the block aggregate.
ROLLUP_COLUMNS = (
    "key",
    "level",
    "block",
    "first_step",
    "first_value",
    "last_step",
    "last_value",
    "min_value",
    "max_value",
    "count",
)


class MetricRollup(models.Model):
    """First, last, min, max and count of one key's points in one block of steps.

    Block ``b`` of ``level`` holds the points with ``b * size <= step < (b + 1) * size``
    (``size`` from ``ROLLUP_BLOCK_STEPS``). Maintained by ``metrics_record`` in the same
    transaction as the points, so history reads a few thousand rows whatever the series length.
    """

    # No index of its own: the unique index below starts with run_id.
    run = models.ForeignKey(
        "runs.Run", on_delete=models.CASCADE, related_name="metric_rollups", db_index=False
    )
    key = models.CharField(max_length=100)
    level = models.PositiveSmallIntegerField()
    block = models.BigIntegerField()
    first_step = models.BigIntegerField()
    first_value = models.FloatField()
    last_step = models.BigIntegerField()
    last_value = models.FloatField()
    min_value = models.FloatField()
    max_value = models.FloatField()
    count = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "key", "level", "block"], name="metric_rollup_run_key_level_block"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key} L{self.level}#{self.block} ({self.count} points)"


class WorkerNode(models.Model):
    """A Celery worker as it registered itself: what it can run and when it last said so.

    Written by the worker's main process (``monitoring.worker_registry``): at start, on a
    heartbeat, and at shutdown. Read by the system page and by run placement (is a GPU worker
    online?) without asking the broker.
    """

    name = models.CharField(max_length=200, unique=True, help_text="Celery's node name, name@host")
    host = models.CharField(max_length=200)
    pid = models.PositiveIntegerField(help_text="the worker's main process")
    gpus = models.PositiveSmallIntegerField(
        default=0, help_text="GPUs it declares (KEISEI_WORKER_GPUS); 0: CPU only"
    )
    concurrency = models.PositiveSmallIntegerField(default=1, help_text="its pool processes")
    queues = models.JSONField(default=list, help_text="the queues it consumes")
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True, help_text="set at a clean shutdown")

    def __str__(self) -> str:
        return self.name
