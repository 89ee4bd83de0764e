"""Diagnostic rules over a run's metric stream: pure, incremental, no Django.

Each rule sees every metric point as it is ingested (``observe``) and, for the time-based one,
the reporter's clock (``tick``). A rule fires on the change from healthy to pathological and
re-arms only when the metric is healthy again, so a pathology that lasts fires once. State is
bounded: a running median keeps a window of at most ``window`` values (insertion into a sorted
list of that size), every other rule a counter or a few numbers; so a point costs O(1) per
rule for the bounded windows the settings allow.

Settings are ``{rule: {"enabled": bool, "pause": bool, <param>: value}}``; ``rules_effective``
merges the defaults, the trainer's defaults and the overrides (preset, then run) over them.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


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

    @property
    def key(self) -> str:
        return str(self.params.get("key", ""))

    def observe(self, step: int, metrics: Mapping[str, float], now: float) -> Firing | None:
        if self.key not in metrics:
            return None
        found = self.check(step, float(metrics[self.key]))
        return self._latch(found)

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

    def check(self, step: int, value: float) -> Firing | None:
        found = None
        if self.history and math.isfinite(value):
            ref_step, reference = self.history[0]
            threshold = self.params["fraction"] * reference
            if reference > 0 and value < threshold:
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
        if math.isfinite(value):
            self.history.append((step, value))
        return found


class _AgainstMedian(Rule):
    """Compares each value with the running median of those before it."""

    above = True  # fires above ``ratio`` x median (else below ``fraction`` x median)

    def __init__(self, params: Mapping[str, Any], *, pause: bool = False) -> None:
        super().__init__(params, pause=pause)
        self.window = RunningMedian(int(self.params["window"]))

    def factor(self) -> float:
        return float(self.params["ratio" if self.above else "fraction"])

    def describe(self, value: float, median: float) -> str:
        raise NotImplementedError

    def check(self, step: int, value: float) -> Firing | None:
        if not math.isfinite(value):
            return None  # the non-finite rule's business; the median stays finite
        found = None
        if len(self.window) >= int(self.params["min_points"]):
            median = self.window.median()
            threshold = self.factor() * median
            if median > 0 and (value > threshold if self.above else value < threshold):
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
        self.window.add(value)
        return found


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

    def check(self, step: int, value: float) -> Firing | None:
        bound = float(self.params[self.bound_param])
        if not (value > bound):  # NaN counts as not above: the non-finite rule says it
            self.run_length, self.first_step = 0, None
            return None
        self.run_length += 1
        if self.first_step is None:
            self.first_step = step
        needed = int(self.params["updates"])
        if self.run_length < needed:
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

    def observe(self, step: int, metrics: Mapping[str, float], now: float) -> Firing | None:
        prefix = str(self.params["prefix"])
        bad = sorted(
            k for k, v in metrics.items() if k.startswith(prefix) and not math.isfinite(float(v))
        )
        checked = any(k.startswith(prefix) for k in metrics)
        if not checked:
            return None  # no loss in this point: nothing to say either way
        if not bad:
            return self._latch(None)
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

    @property
    def key(self) -> str:
        return ""  # about the run, not one chart

    def observe(self, step: int, metrics: Mapping[str, float], now: float) -> Firing | None:
        if step > self.last_step:
            self.last_step, self.since = step, now
            self.latched = False
        return None

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

    def check(self, step: int, value: float) -> Firing | None:
        if not math.isfinite(value):
            return None
        found = None
        low = float(self.params["low"])
        if self.peak is not None and value < low:
            found = self.fire(
                step,
                value,
                low,
                f"win rate vs random fell to {value:.0%} after {self.peak[1]:.0%} "
                f"at step {self.peak[0]}",
                {"peak": self.peak[1], "peak_step": self.peak[0], "high": self.params["high"]},
            )
        if value >= float(self.params["high"]) and (self.peak is None or value >= self.peak[1]):
            self.peak = (step, value)
        return found


RULES: dict[str, type[Rule]] = {
    cls.name: cls
    for cls in (
        EntropyCollapse,
        ValueLossBlowup,
        KLSpike,
        ClipStuck,
        NonFiniteLoss,
        ThroughputDrop,
        NoProgress,
        WinRateDrop,
    )
}

DESCRIPTIONS = {
    "entropy_collapse": "Policy entropy collapses below a share of its earlier value",
    "value_loss_blowup": "Value loss blows up against its running median",
    "kl_spike": "Approximate KL stays above the PPO target",
    "clip_stuck": "Clip fraction stays above a bound",
    "nonfinite_loss": "NaN or infinity in a loss",
    "throughput_drop": "Throughput falls below a share of its running median",
    "no_progress": "No new step for some minutes",
    "win_rate_drop": "Win rate vs the random mover drops after having been high",
}

# Per-trainer defaults over the rules' own (a trainer with none gets the rules' own).
TRAINER_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "shogi-ppo": {},
    "digits": {
        # Supervised: no policy, no PPO, no games.
        "entropy_collapse": {"enabled": False},
        "kl_spike": {"enabled": False},
        "clip_stuck": {"enabled": False},
        "win_rate_drop": {"enabled": False},
        "value_loss_blowup": {"key": "losses/val_loss"},
        "throughput_drop": {"key": "time/examples_per_s"},
    },
}


class RulesInvalid(ValueError):
    """Settings that do not fit: ``errors`` maps each field (``rules.<rule>.<param>``) to why."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


def rule_defaults(rule: str) -> dict[str, Any]:
    return {
        "enabled": True,
        "pause": False,
        **{name: p.default for name, p in RULES[rule].PARAMS.items()},
    }


def rules_validate(overrides: Any) -> dict[str, dict[str, Any]]:
    """Overrides as stored: known rules and params only, each in its bounds. Raises
    ``RulesInvalid`` naming every bad field."""
    if not isinstance(overrides, Mapping):
        raise RulesInvalid({"rules": "must be an object of rule names"})
    errors: dict[str, str] = {}
    clean: dict[str, dict[str, Any]] = {}
    for rule, params in overrides.items():
        field_name = f"rules.{rule}"
        if rule not in RULES:
            errors[field_name] = f"unknown rule (known: {', '.join(RULES)})"
            continue
        if not isinstance(params, Mapping):
            errors[field_name] = "must be an object of settings"
            continue
        clean[rule] = {}
        for name, value in params.items():
            problem, value = _check_param(rule, name, value)
            if problem:
                errors[f"{field_name}.{name}"] = problem
            else:
                clean[rule][name] = value
    if errors:
        raise RulesInvalid(errors)
    return clean


def _check_param(rule: str, name: str, value: Any) -> tuple[str, Any]:
    if name in ("enabled", "pause"):
        return ("", value) if isinstance(value, bool) else ("must be true or false", value)
    spec = RULES[rule].PARAMS.get(name)
    if spec is None:
        known = ", ".join(["enabled", "pause", *RULES[rule].PARAMS])
        return f"unknown setting (known: {known})", value
    if isinstance(spec.default, str):
        if not isinstance(value, str) or not 0 < len(value) <= 100:
            return "must be a metric key of 1 to 100 characters", value
        return "", value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "must be a number", value
    if not math.isfinite(value):
        return "must be finite", value
    if spec.integer:
        if value != int(value):
            return "must be a whole number", value
        value = int(value)
    if spec.minimum is not None and value < spec.minimum:
        return f"must be at least {spec.minimum:g}", value
    if spec.maximum is not None and value > spec.maximum:
        return f"must be at most {spec.maximum:g}", value
    return "", value


def rules_effective(
    *, trainer: str, layers: Iterable[Mapping[str, Mapping[str, Any]]] = ()
) -> dict[str, dict[str, Any]]:
    """Every rule's settings: its defaults, the trainer's, then each layer of overrides
    (preset, then run) in order."""
    effective = {name: rule_defaults(name) for name in RULES}
    for layer in (TRAINER_DEFAULTS.get(trainer, {}), *layers):
        for rule, params in layer.items():
            if rule in effective:
                effective[rule].update(params)
    return effective


def rule_build(name: str, settings: Mapping[str, Any], *, now: float = 0.0) -> Rule:
    params = {k: v for k, v in settings.items() if k not in ("enabled", "pause")}
    cls = RULES[name]
    if cls is NoProgress:
        return NoProgress(params, pause=bool(settings.get("pause")), now=now)
    return cls(params, pause=bool(settings.get("pause")))


class RuleEngine:
    """The enabled rules of one run, fed every point as it is ingested."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = list(rules)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Mapping[str, Any]], *, now: float) -> RuleEngine:
        return cls(
            [rule_build(name, s, now=now) for name, s in settings.items() if s.get("enabled")]
        )

    def observe(self, step: int, metrics: Mapping[str, float], now: float) -> list[Firing]:
        found = []
        for rule in self.rules:
            firing = rule.observe(step, metrics, now)
            if firing is not None:
                found.append(firing)
        return found

    def tick(self, now: float) -> list[Firing]:
        return [f for rule in self.rules if (f := rule.tick(now)) is not None]

    def hold(self, now: float) -> None:
        for rule in self.rules:
            if isinstance(rule, NoProgress):
                rule.hold(now)

    def retune(self, settings: Mapping[str, Mapping[str, Any]], *, now: float) -> None:
        """New settings while the run trains: rules whose settings changed start afresh, the
        others keep their state (a running median is not thrown away for nothing)."""
        kept = {(r.name, repr(sorted(r.params.items())), r.pause): r for r in self.rules}
        rules = []
        for name, s in settings.items():
            if not s.get("enabled"):
                continue
            fresh = rule_build(name, s, now=now)
            same = kept.get((name, repr(sorted(fresh.params.items())), fresh.pause))
            rules.append(same if same is not None else fresh)
        self.rules = rules
