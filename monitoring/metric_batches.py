"""The points a reporter hands its observers, as columns.

A trainer can report thousands of points a second, and the observers (the alerts app's rules)
read them on a thread of their own. Handing over a copy of each point's dict cost the training
thread more than the rules themselves: every copy is made on one core and read and freed on
another. Here each point is its values packed as float64s, and the observers' thread joins a
run of points with the same keys into two flat buffers, steps and values, which numpy reads
without a copy.
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Iterator, Mapping
from itertools import groupby
from operator import itemgetter
from struct import Struct
from struct import error as struct_error


class MetricBatch:
    """Consecutive points with the same keys, in order: ``steps`` and, row by row, ``values``
    (float64, native order, ``len(keys)`` a point in the keys' order)."""

    __slots__ = ("keys", "steps", "values")

    def __init__(self, keys: tuple[str, ...], steps: array, values: bytes) -> None:
        self.keys, self.steps, self.values = keys, steps, values

    def __len__(self) -> int:
        return len(self.steps)

    def rows(self) -> Iterator[tuple[int, dict[str, float]]]:
        """Each point as (step, metrics): for an observer that must look at them one by one."""
        width = len(self.keys)
        values = array("d", self.values).tolist()
        for index, step in enumerate(self.steps):
            yield (
                step,
                dict(zip(self.keys, values[index * width : (index + 1) * width], strict=True)),
            )


class MetricQueue:
    """Points waiting for the observers: put by the training thread, taken all at once by the
    observers' thread. At most ``bound`` wait; past it the oldest goes (``dropped``).

    A point waits as one record, (step, keys, values packed as float64s), in a deque, whose
    append and popleft are atomic: the training thread takes no lock. Consecutive points with
    the same keys share one keys tuple, so ``take`` joins them into a batch by identity."""

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self.dropped = 0
        self._points: deque[tuple[int, tuple[str, ...], bytes]] = deque()
        self._keys: tuple[str, ...] = ()
        self._row = Struct("=0d")

    def __len__(self) -> int:
        return len(self._points)

    def put(self, step: int, metrics: Mapping[str, float]) -> int:
        """Queue the point; the number now waiting. (Called for every point a trainer
        reports, on its thread: every step here is paid per point.)"""
        keys = tuple(metrics)
        if keys == self._keys:
            keys = self._keys
        else:
            self._keys, self._row = keys, Struct(f"={len(keys)}d")
        try:
            packed = self._row.pack(*metrics.values())
        except struct_error:  # a number written otherwise (a numeric string): as float() reads it
            packed = self._row.pack(*map(float, metrics.values()))
        points = self._points
        points.append((step, keys, packed))
        waiting = len(points)
        if waiting > self.bound:  # the observers fell far behind
            try:
                points.popleft()
            except IndexError:  # taken meanwhile
                return 0
            self.dropped += 1
            waiting -= 1
        return waiting

    def take(self) -> list[MetricBatch]:
        """Everything waiting, oldest first, in batches of consecutive points with the same
        keys; the queue is then empty."""
        points = self._points
        taken = []
        try:
            for _ in range(len(points)):
                taken.append(points.popleft())
        except IndexError:
            pass  # the training thread dropped the oldest meanwhile (a backlog at its bound)
        batches = []
        for keys, records in groupby(taken, key=_keys_of):
            run = list(records)
            batches.append(
                MetricBatch(keys, array("q", map(_step_of, run)), b"".join(map(_values_of, run)))
            )
        return batches


_step_of, _keys_of, _values_of = itemgetter(0), itemgetter(1), itemgetter(2)
