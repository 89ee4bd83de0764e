"""The points a reporter hands its observers, as columns.

A trainer can report thousands of points a second, and the observers (the alerts app's rules)
read them on a thread of their own. Handing over a copy of each point's dict cost the training
thread more than the rules themselves: every copy is made on one core and read and freed on
another. Here a run of points with the same keys is two flat buffers instead, steps and
values, appended in place under a lock and taken whole by the observers' thread, where numpy
reads them without a copy.
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Iterator, Mapping
from struct import Struct
from struct import error as struct_error


class MetricBatch:
    """Consecutive points with the same keys, in order: ``steps`` and, row by row, ``values``
    (float64, native order, ``len(keys)`` a point in the keys' order)."""

    __slots__ = ("keys", "steps", "values")

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.keys = keys
        self.steps = array("q")
        self.values = bytearray()

    def __len__(self) -> int:
        return len(self.steps)

    def drop_first(self) -> None:
        del self.steps[0]
        del self.values[: ROW_BYTES * len(self.keys)]

    def rows(self) -> Iterator[tuple[int, dict[str, float]]]:
        """Each point as (step, metrics): for an observer that must look at them one by one."""
        width = len(self.keys)
        values = array("d", self.values).tolist()
        for index, step in enumerate(self.steps):
            yield (
                step,
                dict(zip(self.keys, values[index * width : (index + 1) * width], strict=True)),
            )


ROW_BYTES = 8  # a float64


class MetricQueue:
    """Points waiting for the observers: put by the training thread, taken all at once by the
    observers' thread. At most ``bound`` wait; past it the oldest goes (``dropped``)."""

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self.dropped = 0
        self._lock = threading.Lock()
        self._batches: list[MetricBatch] = []
        self._last: MetricBatch | None = None  # the batch a point with its keys joins
        self._count = 0
        self._width, self._row = 0, Struct("=0d")

    def __len__(self) -> int:
        return self._count

    def put(self, step: int, metrics: Mapping[str, float]) -> int:
        """Queue the point; the number now waiting. (Called for every point a trainer
        reports, on its thread: every step here is paid per point.)"""
        keys = tuple(metrics)
        row = self._row if len(keys) == self._width else self._row_for(len(keys))
        try:  # before the lock: a value float() refuses raises here
            packed = row.pack(*metrics.values())
        except struct_error:  # a number written otherwise (a numeric string): as float() reads it
            packed = row.pack(*map(float, metrics.values()))
        with self._lock:
            last = self._last
            if last is None or last.keys != keys:
                last = self._last = MetricBatch(keys)
                self._batches.append(last)
            last.values += packed
            last.steps.append(step)
            self._count += 1
            if self._count > self.bound:  # the observers fell far behind
                self._drop_oldest()
            return self._count

    def _row_for(self, width: int) -> Struct:
        self._width, self._row = width, Struct(f"={width}d")
        return self._row

    def _drop_oldest(self) -> None:
        oldest = self._batches[0]
        oldest.drop_first()
        if not len(oldest):
            del self._batches[0]
            if oldest is self._last:
                self._last = None
        self._count -= 1
        self.dropped += 1

    def take(self) -> list[MetricBatch]:
        """Everything waiting, oldest first; the queue is then empty."""
        with self._lock:
            taken, self._batches, self._last, self._count = self._batches, [], None, 0
        return taken
