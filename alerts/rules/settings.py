"""Rule settings (defaults per trainer, layered overrides, validation) and the engine that
feeds a run's points to its enabled rules."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from alerts.rules.base import Firing, Rule
from alerts.rules.batch import PointBatch, point_batches
from alerts.rules.kinds import (
    ClipStuck,
    EntropyCollapse,
    KLSpike,
    NonFiniteLoss,
    NoProgress,
    ThroughputDrop,
    ValueLossBlowup,
    WinRateDrop,
)

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
        # Points a rule had to be fed one by one (its batch screen could not clear them):
        # how often the fast path is missed, for the bench and the tests.
        self.points_fed_singly = 0

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

    def observe_many(
        self, points: Sequence[tuple[int, Mapping[str, float]]], now: float
    ) -> list[Firing]:
        """``observe_batches`` over points given as (step, metrics)."""
        return self.observe_batches(point_batches(points), now)

    def observe_batches(self, batches: Iterable[PointBatch], now: float) -> list[Firing]:
        """What ``observe`` fires for each point in turn, in the same order, but each rule
        screens a batch at once and is fed its points singly only when its screen cannot
        prove they are all healthy. Rules keep no shared state, so each may take its own
        path."""
        found: list[tuple[int, int, Firing]] = []
        start = 0
        for batch in batches:
            for index, rule in enumerate(self.rules):
                if batch.numeric and rule.screen(batch, now):
                    continue
                self.points_fed_singly += len(batch)
                for offset, (step, metrics) in enumerate(batch.points()):
                    firing = rule.observe(step, metrics, now)
                    if firing is not None:
                        found.append((start + offset, index, firing))
            start += len(batch)
        found.sort(key=lambda item: (item[0], item[1]))
        return [firing for _, _, firing in found]

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
