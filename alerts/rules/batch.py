"""Points taken together: the columns a rule's batch screen reads.

The reporter hands the rules whatever points arrived since they last looked (a training loop
can send thousands a second). Judging each point in Python costs every rule a few microseconds
a point, which is what the ingestion bench saw (issue 17). A batch lets each rule prove in a
few numpy operations that none of its points fires, and advance its state in one step; a rule
that cannot prove it is given the points one by one, so what fires is exactly what the
per-point path fires.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

Point = tuple[int, Mapping[str, float]]


class PointBatch:
    """Consecutive points that carry the same keys, in order: ``steps`` and ``columns``
    (float64, one value a point). ``numeric`` says whether every value could be read as a
    number (if not, no rule may screen the batch); ``points()`` gives them one by one."""

    __slots__ = ("columns", "keys", "numeric", "steps", "_points")

    def __init__(
        self,
        keys: tuple[str, ...],
        steps: np.ndarray,
        columns: Mapping[str, np.ndarray],
        numeric: bool,
        points: Callable[[], Sequence[Point]],
    ) -> None:
        self.keys, self.steps, self.columns, self.numeric = keys, steps, columns, numeric
        self._points = points

    def __len__(self) -> int:
        return len(self.steps)

    def points(self) -> Sequence[Point]:
        return self._points()


def columns_batch(keys: tuple[str, ...], steps: Any, values: Any) -> PointBatch:
    """A batch over two flat buffers (``monitoring.metric_batches.MetricBatch``): the steps
    and the values row by row, read in place."""
    steps_array = np.frombuffer(steps, dtype=np.int64)
    matrix = np.frombuffer(values, dtype=np.float64).reshape(len(steps_array), len(keys))
    columns = {key: matrix[:, i] for i, key in enumerate(keys)}

    def points() -> list[Point]:
        rows = matrix.tolist()
        return [
            (step, dict(zip(keys, row, strict=True)))
            for step, row in zip(steps_array.tolist(), rows, strict=True)
        ]

    return PointBatch(keys, steps_array, columns, True, points)


def point_batches(points: Sequence[Point]) -> Iterator[PointBatch]:
    """Split points given as (step, metrics) into runs with the same keys (a trainer sends the
    same set every update, so usually one run). A run whose values are not all numbers still
    comes out, not ``numeric``: the rules then take it point by point."""
    keys = [tuple(metrics) for _, metrics in points]
    start = 0
    while start < len(points):
        end = start + 1
        while end < len(points) and keys[end] == keys[start]:
            end += 1
        run = points[start:end]
        try:
            values = chain.from_iterable([metrics.values() for _, metrics in run])
            batch = _batch(keys[start], run, values)
        except (TypeError, ValueError, OverflowError):
            batch = PointBatch(keys[start], _no_steps(len(run)), {}, False, _given(run))
        yield batch
        start = end


_first = itemgetter(0)


def _given(run: Sequence[Point]) -> Callable[[], Sequence[Point]]:
    return lambda: run


def _no_steps(count: int) -> np.ndarray:
    return np.zeros(count, dtype=np.int64)


def _batch(keys: tuple[str, ...], run: Sequence[Point], values: Iterable[float]) -> PointBatch:
    matrix = np.fromiter(values, dtype=np.float64, count=len(run) * len(keys))
    steps = np.fromiter(map(_first, run), dtype=np.int64, count=len(run))
    matrix = matrix.reshape(len(run), len(keys))
    columns = {key: matrix[:, i] for i, key in enumerate(keys)}
    return PointBatch(keys, steps, columns, True, _given(run))
