"""The parts every rule shares: its settings' bounds, what a firing says, the latch, and the
running median."""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from alerts.rules.batch import PointBatch


@dataclass(frozen=True)
class Param:
    """A tunable number (or metric key) of a rule, with its bounds."""

    default: float | int | str
    description: str
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False


@dataclass(frozen=True)
class Firing:
    """What a rule found: the point (or moment) that made it fire and why."""

    rule: str
    key: str
    step: int
    value: float | None  # None when the value is not finite (NaN/inf: see evidence)
    threshold: float | None
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    pause: bool = False

    def data(self) -> dict[str, Any]:
        """The alert event's data: the fields the charts draw markers from."""
        return {
            "rule": self.rule,
            "key": self.key,
            "step": self.step,
            "value": self.value,
            "threshold": self.threshold,
            "evidence": dict(self.evidence),
            "paused": self.pause,
        }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


class RunningMedian:
    """The median of the last ``size`` values (a ring and a sorted copy: O(size) per value,
    with ``size`` bounded by the settings)."""

    def __init__(self, size: int) -> None:
        self.ring: deque[float] = deque()
        self.sorted: list[float] = []
        self.size = size

    def add(self, value: float) -> None:
        if len(self.ring) == self.size:
            old = self.ring.popleft()
            del self.sorted[bisect.bisect_left(self.sorted, old)]
        self.ring.append(value)
        bisect.insort(self.sorted, value)

    def extend(self, values: list[float]) -> None:
        """``add`` each of ``values`` in turn, in one step: only the last ``size`` stay."""
        kept = [*self.ring, *values[-self.size :]][-self.size :]
        self.ring = deque(kept)
        self.sorted = sorted(kept)

    def __len__(self) -> int:
        return len(self.sorted)

    def median(self) -> float:
        n = len(self.sorted)
        mid = n // 2
        return self.sorted[mid] if n % 2 else (self.sorted[mid - 1] + self.sorted[mid]) / 2


class Rule:
    """One rule's state. ``check`` returns a firing when the point is pathological (or None);
    the latch makes a lasting pathology fire once."""

    name = ""
    PARAMS: dict[str, Param] = {}

    def __init__(self, params: Mapping[str, Any], *, pause: bool = False) -> None:
        self.params = dict(params)
        self.pause = pause
        self.latched = False
        # Read once: a point costs every rule a lookup, so nothing is parsed per point.
        self.key = str(self.params.get("key", ""))

    def observe(self, step: int, metrics: Mapping[str, float], now: float) -> Firing | None:
        value = metrics.get(self.key)
        if value is None:
            return None
        found = self.check(step, value)
        if found is None:
            self.latched = False
            return None
        return self._latch(found)

    def screen(self, batch: PointBatch, now: float) -> bool:
        """Take a whole batch at once when that is provably the same as observing its points
        one by one and none of them fires: then advance the state as they would have and say
        True. Otherwise change nothing and say False (the engine feeds the points one by
        one). A point without the key changes nothing, so neither does a batch without it."""
        if self.key not in batch.keys:
            return True
        if not self.screen_values(batch.steps, batch.columns[self.key]):
            return False
        self.latched = False  # each point was healthy
        return True

    def screen_values(self, steps: np.ndarray, values: np.ndarray) -> bool:
        """``screen`` for a rule of one key: its values, in order. By default, never sure."""
        return False

    def tick(self, now: float) -> Firing | None:
        return None

    def check(self, step: int, value: float) -> Firing | None:
        raise NotImplementedError

    def _latch(self, found: Firing | None) -> Firing | None:
        if found is None:
            self.latched = False
            return None
        if self.latched:
            return None
        self.latched = True
        return found

    def fire(
        self,
        step: int,
        value: float,
        threshold: float | None,
        message: str,
        evidence: Mapping[str, Any],
    ) -> Firing:
        return Firing(
            rule=self.name,
            key=self.key,
            step=step,
            value=_finite(value),
            threshold=threshold,
            message=message,
            evidence=dict(evidence),
            pause=self.pause,
        )
