"""Taking points in batches (``RuleEngine.observe_many``) fires exactly what taking them one by
one fires, leaves every rule in the same state, and takes the fast path on healthy streams."""

from __future__ import annotations

import math
import random
from collections import deque

import pytest

from alerts.rules import (
    RuleEngine,
    RunningMedian,
    columns_batch,
    rule_build,
    rule_defaults,
    rules_effective,
)
from monitoring.metric_batches import MetricQueue

# Every rule kind, at its defaults and with settings tight enough that random streams make
# each of them fire, re-arm and fire again.
TIGHT = [
    ("entropy_collapse", {"updates": 4, "fraction": 0.5}),
    ("value_loss_blowup", {"window": 5, "min_points": 2, "ratio": 1.6}),
    ("kl_spike", {"target": 0.5, "updates": 2}),
    ("clip_stuck", {"key": "charts/win_rate", "bound": 0.7, "updates": 3}),
    ("nonfinite_loss", {}),
    ("throughput_drop", {"window": 4, "min_points": 3, "fraction": 0.8}),
    ("win_rate_drop", {"key": "charts/win_rate", "high": 0.7, "low": 0.3}),
    ("no_progress", {}),
    ("value_loss_blowup", {"key": "losses/entropy", "window": 3, "min_points": 1}),
]
KEYS = (
    "losses/entropy",
    "losses/value_loss",
    "losses/approx_kl",
    "time/positions_per_s",
    "charts/win_rate",
)


def engine_of(settings):
    rules = [rule_build(name, {**rule_defaults(name), **params}) for name, params in settings]
    return RuleEngine(rules)


def random_stream(seed: int, length: int) -> list[tuple[int, dict]]:
    """Healthy stretches, jumps, NaN and infinity, keys coming and going, whole numbers, and
    steps that sometimes repeat."""
    rng = random.Random(seed)
    stream, step = [], 0
    keys = list(KEYS)
    for _ in range(length):
        step += rng.choice((0, 1, 1, 1, 7))
        if rng.random() < 0.05:
            keys = rng.sample(KEYS, rng.randint(1, len(KEYS)))
        point: dict = {}
        for key in keys:
            roll = rng.random()
            if roll < 0.03:
                point[key] = rng.choice((math.nan, math.inf, -math.inf))
            elif roll < 0.06:
                point[key] = rng.randint(0, 3)
            elif roll < 0.2:
                point[key] = rng.uniform(-1.0, 4.0)
            else:
                point[key] = 1.0 + rng.uniform(-0.05, 0.05) * (1 + (key == "charts/win_rate"))
        stream.append((step, point))
    return stream


def state(rule) -> dict:
    """A rule's state as comparable plain values."""

    def plain(value):
        if isinstance(value, RunningMedian):
            return ("median", plain(list(value.ring)), plain(value.sorted))
        if isinstance(value, deque | list | tuple):
            return [plain(v) for v in value]
        if isinstance(value, float) and math.isnan(value):
            return "nan"
        return value

    # Underscored attributes are caches (the non-finite rule's keys under its prefix, found
    # once per set of keys), not what the rule has seen.
    return {k: plain(v) for k, v in vars(rule).items() if k != "params" and k[0] != "_"}


def split(rng: random.Random, stream: list) -> list[list]:
    chunks, at = [], 0
    while at < len(stream):
        size = rng.choice((1, 2, 5, 17, 60, 200))
        chunks.append(stream[at : at + size])
        at += size
    return chunks


@pytest.mark.parametrize("seed", range(40))
def test_batches_fire_and_leave_exactly_what_single_points_do(seed):
    stream = random_stream(seed, 600)
    single, batched, queued = engine_of(TIGHT), engine_of(TIGHT), engine_of(TIGHT)
    expected, got, got_queued = [], [], []
    waiting = MetricQueue(bound=10_000)
    for chunk in split(random.Random(seed), stream):
        now = float(chunk[-1][0])
        expected += [f for step, m in chunk for f in single.observe(step, m, now)]
        got += batched.observe_many(chunk, now)
        # As in a worker: through the reporter's queue, read in place as columns.
        for step, metrics in chunk:
            waiting.put(step, metrics)
        read = [columns_batch(b.keys, b.steps, b.values) for b in waiting.take()]
        got_queued += queued.observe_batches(read, now)
        for one, other, third in zip(single.rules, batched.rules, queued.rules, strict=True):
            assert state(one) == state(other) == state(third), one.name
    fired = [f.data() | {"message": f.message} for f in expected]
    assert [f.data() | {"message": f.message} for f in got] == fired
    assert [f.data() | {"message": f.message} for f in got_queued] == fired
    assert len(expected) > 5  # the streams are rough enough to fire
    assert batched.points_fed_singly < len(stream) * len(TIGHT)  # some batches were screened
    assert queued.points_fed_singly < len(stream) * len(TIGHT)


def test_a_healthy_stream_in_batches_is_screened_without_feeding_points_singly():
    engine = RuleEngine.from_settings(rules_effective(trainer="shogi-ppo"), now=0.0)
    points = [
        (
            update * 8192,
            {
                "losses/entropy": 3.0 - update * 0.001,
                "losses/value_loss": 0.5 + 0.1 * math.sin(update),
                "losses/approx_kl": 0.01,
                "losses/clip_fraction": 0.1,
                "losses/policy_loss": -0.01,
                "time/positions_per_s": 600 + 50 * math.cos(update),
            },
        )
        for update in range(1, 1001)
    ]
    assert engine.observe_many(points[:500], 1.0) == []
    assert engine.observe_many(points[500:], 2.0) == []
    assert engine.points_fed_singly == 0


def test_one_bad_point_in_a_large_batch_fires_at_its_own_step():
    engine = RuleEngine.from_settings(rules_effective(trainer="shogi-ppo"), now=0.0)
    points = [(step, {"losses/value_loss": 0.4, "losses/entropy": 3.0}) for step in range(1, 501)]
    points[300] = (301, {"losses/value_loss": math.nan, "losses/entropy": 3.0})
    points[400] = (401, {"losses/value_loss": 40.0, "losses/entropy": 3.0})
    fired = engine.observe_many(points, 1.0)
    assert [(f.rule, f.step) for f in fired] == [
        ("nonfinite_loss", 301),
        ("value_loss_blowup", 401),
    ]


def test_a_peak_reached_twice_in_one_batch_is_the_later_as_point_by_point():
    settings = [("win_rate_drop", {"key": "charts/win_rate"})]
    stream = [(step, {"charts/win_rate": v}) for step, v in enumerate((0.9, 0.85, 0.9, 0.2), 1)]
    single, batched = engine_of(settings), engine_of(settings)
    expected = [f for step, m in stream for f in single.observe(step, m, 0.0)]
    got = batched.observe_many(stream[:3], 0.0) + batched.observe_many(stream[3:], 0.0)
    assert [f.evidence["peak_step"] for f in got] == [f.evidence["peak_step"] for f in expected]
    assert [f.evidence["peak_step"] for f in got] == [3]
    assert batched.points_fed_singly == 1  # only the point that fired
