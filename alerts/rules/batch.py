"""Points taken together: the columns a rule's batch screen reads.

The reporter hands the rules whatever points arrived since they last looked (a training loop
can send thousands a second). Judging each point in Python costs every rule a few microseconds
a point, which is what the ingestion bench saw (issue 17). A batch lets each rule prove in a
few numpy operations that none of its points fires, and advance its state in one step; a rule
that cannot prove it is given the points one by one, so what fires is exactly what the
per-point path fires.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np


@dataclass(frozen=True)
class PointBatch:
    """Consecutive points that carry the same keys, in order. ``start`` is the first point's
    index in what was handed over; ``columns`` are float64, one value a point, and ``numeric``
    says whether every value could be read as one (if not, no rule may screen the batch)."""

    start: int
    keys: tuple[str, ...]
    steps: np.ndarray
    columns: Mapping[str, np.ndarray]
    numeric: bool
    points: Sequence[tuple[int, Mapping[str, float]]]


def point_batches(points: Sequence[tuple[int, Mapping[str, float]]]) -> Iterator[PointBatch]:
    """Split ``points`` into runs of points with the same keys in the same order (a trainer
    sends the same set every update, so usually one run). A run whose values are not all
    numbers still comes out, not ``numeric``: the rules then take it point by point."""
    keys = [tuple(metrics) for _, metrics in points]
    if keys and keys.count(keys[0]) == len(keys):  # one run: no loop over the points here
        yield _batch(0, keys[0], points)
        return
    start = 0
    while start < len(points):
        end = start + 1
        while end < len(points) and keys[end] == keys[start]:
            end += 1
        yield _batch(start, keys[start], points[start:end])
        start = end


def _batch(
    start: int, keys: tuple[str, ...], run: Sequence[tuple[int, Mapping[str, float]]]
) -> PointBatch:
    try:
        values = chain.from_iterable([metrics.values() for _, metrics in run])
        matrix = np.fromiter(values, dtype=np.float64, count=len(run) * len(keys))
        steps = np.fromiter([step for step, _ in run], dtype=np.int64, count=len(run))
    except (TypeError, ValueError, OverflowError):
        return PointBatch(start, keys, np.zeros(0, dtype=np.int64), {}, False, run)
    matrix = matrix.reshape(len(run), len(keys))
    columns = {key: matrix[:, i] for i, key in enumerate(keys)}
    return PointBatch(start, keys, steps, columns, True, run)
