"""The eight rules."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from math import isfinite
from typing import Any

import numpy as np

from alerts.rules.base import Firing, Param, Rule, RunningMedian
from alerts.rules.batch import PointBatch


class EntropyCollapse(Rule):
    """Policy entropy below ``fraction`` of its value ``updates`` points earlier (of its first
    value while fewer have come)."""

    name = "entropy_collapse"
    PARAMS = {
        "key": Param("losses/entropy", "The entropy metric"),
        "fraction": Param(0.1, "Fires below this share of the reference value", 0.0001, 1.0),
        "updates": Param(50, "Within this many updates of the reference", 1, 10_000, True),
    }

    def __init__(self, params: Mapping[str, Any], *, pause: bool = False) -> None:
        super().__init__(params, pause=pause)
        self.history: deque[tuple[int, float]] = deque(maxlen=int(self.params["updates"]))
        self.fraction = float(self.params["fraction"])

    def check(self, step: int, value: float) -> Firing | None:
        if not isfinite(value):
            return None
        found = None
        history = self.history
        if history:
            ref_step, reference = history[0]
            threshold = self.fraction * reference
            if value < threshold and reference > 0:
                found = self.fire(
                    step,
                    value,
                    threshold,
                    f"policy entropy fell to {value:.4g}, below {self.params['fraction']:.0%} "
                    f"of {reference:.4g} at step {ref_step}",
                    {
                        "reference": reference,
                        "reference_step": ref_step,
                        "fraction": self.params["fraction"],
                        "updates": len(self.history),
                    },
                )
        history.append((step, value))
        return found

    def screen_values(self, steps: np.ndarray, values: np.ndarray) -> bool:
        if not np.isfinite(values).all():
            return False
        # Point j's reference is the oldest value its history held: the one ``updates``
        # places before it in the old history followed by the batch (the first, while
        # fewer have come).
        held = len(self.history)
        size = self.history.maxlen or 1
        combined = np.concatenate([np.array([v for _, v in self.history]), values])
        at = np.arange(held, held + len(values))
        reference = combined[np.maximum(at - size, 0)]
        fires = (at > 0) & (reference > 0) & (values < self.fraction * reference)
        if fires.any():
            return False
        self.history.extend(zip(steps[-size:].tolist(), values[-size:].tolist(), strict=True))
        return True


class _AgainstMedian(Rule):
    """Compares each value with the running median of those before it."""

    above = True  # fires above ``ratio`` x median (else below ``fraction`` x median)

    def __init__(self, params: Mapping[str, Any], *, pause: bool = False) -> None:
        super().__init__(params, pause=pause)
        self.window = RunningMedian(int(self.params["window"]))
        self.min_points = int(self.params["min_points"])
        self.multiple = float(self.params["ratio" if self.above else "fraction"])

    def factor(self) -> float:
        return self.multiple

    def describe(self, value: float, median: float) -> str:
        raise NotImplementedError

    def check(self, step: int, value: float) -> Firing | None:
        if not isfinite(value):
            return None  # the non-finite rule's business; the median stays finite
        found = None
        window = self.window
        ordered = window.sorted
        n = len(ordered)
        if n >= self.min_points:
            mid = n >> 1
            median = ordered[mid] if n & 1 else (ordered[mid - 1] + ordered[mid]) * 0.5
            threshold = self.multiple * median
            if (value > threshold if self.above else value < threshold) and median > 0:
                found = self.fire(
                    step,
                    value,
                    threshold,
                    self.describe(value, median),
                    {
                        "median": median,
                        "window": len(self.window),
                        ("ratio" if self.above else "fraction"): self.factor(),
                    },
                )
        window.add(value)
        return found

    def screen_values(self, steps: np.ndarray, values: np.ndarray) -> bool:
        # Every median the batch's points are judged against lies between the least and the
        # greatest value of the window and the batch; a point inside the threshold drawn
        # from that bound is inside its own. (A window still short of ``min_points``, or a
        # median <= 0, fires nothing: not relying on either only makes the proof stricter.)
        lowest, highest = float(values.min()), float(values.max())
        if not (isfinite(lowest) and isfinite(highest)):  # NaN spreads to both
            return False
        window = self.window
        if self.above:
            least = min(window.sorted[0], lowest) if window.sorted else lowest
            if highest > self.multiple * least:
                return False
        else:
            most = max(window.sorted[-1], highest) if window.sorted else highest
            if lowest < self.multiple * most:
                return False
        window.extend(values.tolist())
        return True


_WINDOW = Param(50, "Values in the running median", 3, 1000, True)
_MIN_POINTS = Param(5, "Values needed before the rule judges", 1, 1000, True)


class ValueLossBlowup(_AgainstMedian):
    name = "value_loss_blowup"
    PARAMS = {
        "key": Param("losses/value_loss", "The value-loss metric"),
        "ratio": Param(10.0, "Fires above this multiple of the running median", 1.0, 1e9),
        "window": _WINDOW,
        "min_points": _MIN_POINTS,
    }

    def describe(self, value: float, median: float) -> str:
        return f"value loss {value:.4g} is {value / median:.1f}x its running median {median:.4g}"


class ThroughputDrop(_AgainstMedian):
    name = "throughput_drop"
    above = False
    PARAMS = {
        "key": Param("time/positions_per_s", "The throughput metric"),
        "fraction": Param(0.5, "Fires below this share of the running median", 0.0001, 1.0),
        "window": Param(20, "Values in the running median", 3, 1000, True),
        "min_points": _MIN_POINTS,
    }

    def describe(self, value: float, median: float) -> str:
        return (
            f"throughput {value:.4g} fell below {self.factor():.0%} of its running median "
            f"{median:.4g}"
        )


class _Sustained(Rule):
    """Fires when the value stays above ``bound`` for ``updates`` points in a row."""

    bound_param = "bound"
    what = ""

    def __init__(self, params: Mapping[str, Any], *, pause: bool = False) -> None:
        super().__init__(params, pause=pause)
        self.run_length = 0
        self.first_step: int | None = None
        self.bound = float(self.params[self.bound_param])
        self.needed = int(self.params["updates"])

    def check(self, step: int, value: float) -> Firing | None:
        bound = self.bound
        if not (value > bound):  # NaN counts as not above: the non-finite rule says it
            self.run_length, self.first_step = 0, None
            return None
        self.run_length += 1
        if self.first_step is None:
            self.first_step = step
        if self.run_length < self.needed:
            # Not yet. Healthy as far as the latch goes: it can only be set while the run
            # of highs that fired it lasts, and a low point has reset both.
            return None
        return self.fire(
            step,
            value,
            bound,
            f"{self.what} above {bound:.4g} for {self.run_length} updates (now {value:.4g})",
            {"updates": self.run_length, "since_step": self.first_step},
        )

    def screen_values(self, steps: np.ndarray, values: np.ndarray) -> bool:
        if (values > self.bound).any():  # NaN compares False, as in ``check``
            return False
        self.run_length, self.first_step = 0, None
        return True


class KLSpike(_Sustained):
    name = "kl_spike"
    bound_param = "target"
    what = "approximate KL"
    PARAMS = {
        "key": Param("losses/approx_kl", "The approximate-KL metric"),
        "target": Param(0.05, "The PPO target KL", 0.0, 100.0),
        "updates": Param(3, "Consecutive updates above the target", 1, 10_000, True),
    }


class ClipStuck(_Sustained):
    name = "clip_stuck"
    what = "clip fraction"
    PARAMS = {
        "key": Param("losses/clip_fraction", "The clip-fraction metric"),
        "bound": Param(0.3, "The clip fraction it must not stay above", 0.0, 1.0),
        "updates": Param(10, "Consecutive updates above the bound", 1, 10_000, True),
    }


class NonFiniteLoss(Rule):
    """NaN or infinity in any metric under ``prefix`` (the losses)."""

    name = "nonfinite_loss"
    PARAMS = {"prefix": Param("losses/", "Metrics under this prefix are checked")}

    def __init__(self, params: Mapping[str, Any], *, pause: bool = False) -> None:
        super().__init__(params, pause=pause)
        self.prefix = str(self.params["prefix"])
        self._names: tuple[str, ...] = ()
        self._checked: list[str] = []

    def _under_prefix(self, names: tuple[str, ...]) -> list[str]:
        # Found once per set of keys: a trainer sends the same set every update.
        if names != self._names:
            self._names = names
            self._checked = [k for k in names if k.startswith(self.prefix)]
        return self._checked

    def screen(self, batch: PointBatch, now: float) -> bool:
        checked = self._under_prefix(batch.keys)
        if not checked:
            return True
        if not all(np.isfinite(batch.columns[k]).all() for k in checked):
            return False
        self.latched = False
        return True

    def observe(self, step: int, metrics: Mapping[str, float], now: float) -> Firing | None:
        # One sum over the keys under the prefix: NaN and infinity survive addition.
        checked = self._under_prefix(tuple(metrics))
        if not checked:
            return None  # no loss in this point: nothing to say either way
        total = 0.0
        for k in checked:
            total += metrics[k]
        if isfinite(total):
            self.latched = False
            return None
        bad = [k for k in checked if not isfinite(metrics[k])]
        if not bad:  # finite values whose sum overflowed
            self.latched = False
            return None
        bad.sort()
        key = bad[0]
        value = float(metrics[key])
        return self._latch(
            Firing(
                rule=self.name,
                key=key,
                step=step,
                value=None,
                threshold=None,
                message=f"{key} is {value} at step {step}",
                evidence={"keys": bad, "values": {k: str(float(metrics[k])) for k in bad}},
                pause=self.pause,
            )
        )


class NoProgress(Rule):
    """No metric point at a later step for ``minutes``, judged on the clock, so it fires even
    when the trainer sends nothing at all."""

    name = "no_progress"
    PARAMS = {"minutes": Param(30.0, "Minutes without a new step", 0.01, 100_000.0)}

    def __init__(self, params: Mapping[str, Any], *, pause: bool = False, now: float = 0.0):
        super().__init__(params, pause=pause)
        self.last_step = -1
        self.since = now
        self.key = ""  # about the run, not one chart

    def observe(self, step: int, metrics: Mapping[str, float], now: float) -> Firing | None:
        if step > self.last_step:
            self.last_step, self.since = step, now
            self.latched = False
        return None

    def screen(self, batch: PointBatch, now: float) -> bool:
        latest = int(batch.steps.max())
        if latest > self.last_step:
            self.last_step, self.since = latest, now
            self.latched = False
        return True

    def hold(self, now: float) -> None:
        """The clock restarts (the run is paused on purpose, or has just resumed)."""
        self.since = now
        self.latched = False

    def tick(self, now: float) -> Firing | None:
        limit = float(self.params["minutes"]) * 60.0
        idle = now - self.since
        if idle < limit or self.latched:
            return None
        self.latched = True
        step = max(self.last_step, 0)
        return Firing(
            rule=self.name,
            key="",
            step=step,
            value=round(idle, 3),
            threshold=limit,
            message=f"no progress for {idle / 60:.1f} minutes (last step {step})",
            evidence={"idle_seconds": round(idle, 3), "last_step": self.last_step},
            pause=self.pause,
        )


class WinRateDrop(Rule):
    """The win rate against the random mover falls below ``low`` after reaching ``high``."""

    name = "win_rate_drop"
    PARAMS = {
        "key": Param("charts/win_rate_vs_random", "The win-rate metric"),
        "high": Param(0.8, "The rate that counts as having been high", 0.0, 1.0),
        "low": Param(0.5, "Fires below this once it has been high", 0.0, 1.0),
    }

    def __init__(self, params: Mapping[str, Any], *, pause: bool = False) -> None:
        super().__init__(params, pause=pause)
        self.peak: tuple[int, float] | None = None
        self.low = float(self.params["low"])
        self.high = float(self.params["high"])

    def check(self, step: int, value: float) -> Firing | None:
        if not isfinite(value):
            return None
        found = None
        low = self.low
        if self.peak is not None and value < low:
            found = self.fire(
                step,
                value,
                low,
                f"win rate vs random fell to {value:.0%} after {self.peak[1]:.0%} "
                f"at step {self.peak[0]}",
                {"peak": self.peak[1], "peak_step": self.peak[0], "high": self.params["high"]},
            )
        if value >= self.high and (self.peak is None or value >= self.peak[1]):
            self.peak = (step, value)
        return found

    def screen_values(self, steps: np.ndarray, values: np.ndarray) -> bool:
        if not np.isfinite(values).all():
            return False
        high = values >= self.high
        # Point j is judged against a peak if one was held before the batch or an earlier
        # point of it reached ``high``.
        peaked = np.logical_or.accumulate(np.concatenate([[self.peak is not None], high[:-1]]))
        if (peaked & (values < self.low)).any():
            return False
        if high.any():
            best = values[high].max()
            if self.peak is None or best >= self.peak[1]:
                last = int(np.flatnonzero(values == best)[-1])  # ties: the later point
                self.peak = (int(steps[last]), float(values[last]))
        return True
