"""Diagnostic rules over a run's metric stream: pure, incremental, no Django.

Each rule sees every metric point as it is ingested (``observe``) and, for the time-based one,
the reporter's clock (``tick``). The engine takes the points that arrived together at once
(``observe_many``): each rule screens them in numpy and is fed them one by one only when its
screen cannot prove none fires (``alerts/rules/batch.py``), so what fires is the same.

A rule fires on the change from healthy to pathological and re-arms only when the metric is
healthy again, so a pathology that lasts fires once. State is bounded: a running median keeps
a window of at most ``window`` values (insertion into a sorted list of that size), every other
rule a counter or a few numbers; so a point costs O(1) per rule for the bounded windows the
settings allow.

Settings are ``{rule: {"enabled": bool, "pause": bool, <param>: value}}``; ``rules_effective``
merges the defaults, the trainer's defaults and the overrides (preset, then run) over them.
"""

from alerts.rules.base import Firing, Param, Rule, RunningMedian
from alerts.rules.batch import PointBatch, columns_batch, point_batches
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
from alerts.rules.settings import (
    DESCRIPTIONS,
    RULES,
    TRAINER_DEFAULTS,
    RuleEngine,
    RulesInvalid,
    rule_build,
    rule_defaults,
    rules_effective,
    rules_validate,
)

__all__ = [
    "DESCRIPTIONS",
    "RULES",
    "TRAINER_DEFAULTS",
    "ClipStuck",
    "EntropyCollapse",
    "Firing",
    "KLSpike",
    "NoProgress",
    "NonFiniteLoss",
    "Param",
    "PointBatch",
    "Rule",
    "RuleEngine",
    "RulesInvalid",
    "RunningMedian",
    "ThroughputDrop",
    "ValueLossBlowup",
    "WinRateDrop",
    "columns_batch",
    "point_batches",
    "rule_build",
    "rule_defaults",
    "rules_effective",
    "rules_validate",
]
