"""The diagnostic rules on hand-sized streams: each fires once on its pathology, with its
evidence, and stays quiet on a healthy stream."""

from __future__ import annotations

import math

import pytest

from alerts.rules import (
    RuleEngine,
    RulesInvalid,
    RunningMedian,
    rule_build,
    rule_defaults,
    rules_effective,
    rules_validate,
)


def feed(rule_name, key, values, **params):
    """Feed ``values`` (at steps 1, 2, ...) to one rule; the firings."""
    rule = rule_build(rule_name, {**rule_defaults(rule_name), **params})
    engine = RuleEngine([rule])
    return [f for step, v in enumerate(values, 1) for f in engine.observe(step, {key: v}, 0.0)]


def test_running_median_keeps_a_bounded_window():
    median = RunningMedian(3)
    for value in (5, 1, 9, 2):
        median.add(value)
    assert len(median) == 3 and median.median() == 2  # 1, 9, 2
    median.add(100)
    assert median.median() == 9  # 9, 2, 100


def test_entropy_collapse_fires_once_against_its_earlier_value():
    values = [2.0, 1.9, 1.8, 0.05, 0.04, 0.03]
    fired = feed("entropy_collapse", "losses/entropy", values, updates=10, fraction=0.1)
    assert len(fired) == 1
    firing = fired[0]
    assert (firing.rule, firing.key, firing.step, firing.value) == (
        "entropy_collapse",
        "losses/entropy",
        4,
        0.05,
    )
    assert firing.threshold == pytest.approx(0.2)
    assert firing.evidence["reference"] == 2.0 and firing.evidence["reference_step"] == 1


def test_entropy_that_falls_slowly_over_more_than_the_window_does_not_fire():
    values = [2.0 * 0.8**i for i in range(30)]  # falls 20% an update
    assert feed("entropy_collapse", "losses/entropy", values, updates=5, fraction=0.1) == []


def test_value_loss_blowup_against_its_running_median():
    values = [1.0, 1.1, 0.9, 1.0, 1.2, 50.0, 60.0, 1.0, 40.0]
    fired = feed("value_loss_blowup", "losses/value_loss", values, ratio=10.0, min_points=5)
    # 50 fires; 60 is the same blow-up; back to 1.0 re-arms; 40 is a second one.
    assert [(f.step, f.value) for f in fired] == [(6, 50.0), (9, 40.0)]
    assert fired[0].evidence["median"] == 1.0 and fired[0].threshold == 10.0


def test_kl_must_stay_above_the_target_for_k_updates():
    values = [0.01, 0.2, 0.2, 0.01, 0.2, 0.2, 0.2, 0.2, 0.2]
    fired = feed("kl_spike", "losses/approx_kl", values, target=0.05, updates=3)
    assert [(f.step, f.evidence["updates"], f.evidence["since_step"]) for f in fired] == [(7, 3, 5)]


def test_clip_fraction_stuck_above_its_bound():
    fired = feed("clip_stuck", "losses/clip_fraction", [0.5] * 12, bound=0.3, updates=10)
    assert [f.step for f in fired] == [10]


def test_a_nan_or_infinite_loss_fires_once_until_the_losses_are_finite_again():
    rule = rule_build("nonfinite_loss", rule_defaults("nonfinite_loss"))
    engine = RuleEngine([rule])
    stream = [
        {"losses/value_loss": 1.0},
        {"losses/value_loss": math.nan, "losses/policy_loss": math.inf},
        {"losses/value_loss": math.nan},
        {"charts/win_rate": 0.5},  # no loss in it: says nothing either way
        {"losses/value_loss": math.nan},
        {"losses/value_loss": 1.0},
        {"losses/policy_loss": -math.inf},
    ]
    fired = [f for step, m in enumerate(stream, 1) for f in engine.observe(step, m, 0.0)]
    assert [(f.step, f.key, f.value) for f in fired] == [
        (2, "losses/policy_loss", None),
        (7, "losses/policy_loss", None),
    ]
    assert fired[0].evidence["keys"] == ["losses/policy_loss", "losses/value_loss"]
    assert fired[0].evidence["values"]["losses/value_loss"] == "nan"


def test_throughput_below_half_its_running_median():
    values = [100, 110, 90, 105, 95, 40, 45, 100]
    fired = feed("throughput_drop", "time/positions_per_s", values, fraction=0.5, min_points=5)
    assert [(f.step, f.value) for f in fired] == [(6, 40)]
    assert fired[0].threshold == 50.0


def test_no_progress_is_judged_on_the_clock_and_a_hold_restarts_it():
    rule = rule_build("no_progress", {**rule_defaults("no_progress"), "minutes": 1.0}, now=0.0)
    engine = RuleEngine([rule])
    engine.observe(10, {"a": 1.0}, 5.0)
    assert engine.tick(64.0) == []
    fired = engine.tick(66.0)
    assert [(f.rule, f.step, f.threshold) for f in fired] == [("no_progress", 10, 60.0)]
    assert engine.tick(200.0) == []  # once
    engine.observe(10, {"a": 1.0}, 210.0)  # the same step again is no progress
    assert engine.tick(211.0) == []
    engine.observe(11, {"a": 1.0}, 220.0)  # progress re-arms it
    engine.hold(250.0)  # paused: the clock restarts
    assert engine.tick(300.0) == []
    assert len(engine.tick(311.0)) == 1


def test_win_rate_drop_only_after_it_was_high():
    low_all_along = [0.2, 0.3, 0.1, 0.2]
    assert feed("win_rate_drop", "charts/win_rate_vs_random", low_all_along) == []
    fired = feed("win_rate_drop", "charts/win_rate_vs_random", [0.5, 0.9, 0.85, 0.3, 0.2])
    assert [(f.step, f.value, f.evidence["peak"]) for f in fired] == [(4, 0.3, 0.9)]


def test_a_healthy_ppo_stream_fires_nothing():
    engine = RuleEngine.from_settings(rules_effective(trainer="shogi-ppo"), now=0.0)
    fired = []
    for update in range(1, 200):
        metrics = {
            "losses/entropy": 3.0 - update * 0.005,
            "losses/value_loss": 0.5 + 0.1 * math.sin(update),
            "losses/approx_kl": 0.01,
            "losses/clip_fraction": 0.1,
            "losses/policy_loss": -0.01,
            "time/positions_per_s": 600 + 50 * math.cos(update),
            "charts/win_rate_vs_random": min(0.99, update / 100),
        }
        fired += engine.observe(update * 8192, metrics, float(update))
        fired += engine.tick(float(update))
    assert fired == []


def test_defaults_per_trainer_then_preset_then_run():
    effective = rules_effective(
        trainer="digits",
        layers=[{"throughput_drop": {"fraction": 0.3}}, {"throughput_drop": {"window": 7}}],
    )
    assert effective["kl_spike"]["enabled"] is False
    assert effective["throughput_drop"]["key"] == "time/examples_per_s"
    assert (effective["throughput_drop"]["fraction"], effective["throughput_drop"]["window"]) == (
        0.3,
        7,
    )
    assert rules_effective(trainer="shogi-ppo")["kl_spike"]["enabled"] is True


def test_bad_settings_are_refused_naming_each_field():
    with pytest.raises(RulesInvalid) as refused:
        rules_validate(
            {
                "kl_spike": {"target": -1, "updates": 2.5, "pause": "yes"},
                "entropy_collapse": {"fraction": "high", "colour": 3},
                "nope": {},
                "no_progress": {"minutes": math.inf},
            }
        )
    assert refused.value.errors == {
        "rules.kl_spike.target": "must be at least 0",
        "rules.kl_spike.updates": "must be a whole number",
        "rules.kl_spike.pause": "must be true or false",
        "rules.entropy_collapse.fraction": "must be a number",
        "rules.entropy_collapse.colour": (
            "unknown setting (known: enabled, pause, key, fraction, updates)"
        ),
        "rules.nope": refused.value.errors["rules.nope"],
        "rules.no_progress.minutes": "must be finite",
    }
    assert refused.value.errors["rules.nope"].startswith("unknown rule")
    assert rules_validate({"kl_spike": {"updates": 4.0, "pause": True}}) == {
        "kl_spike": {"updates": 4, "pause": True}
    }


def test_retuning_keeps_the_state_of_rules_whose_settings_did_not_change():
    settings = rules_effective(trainer="shogi-ppo")
    engine = RuleEngine.from_settings(settings, now=0.0)
    for step in range(1, 8):
        engine.observe(step, {"losses/value_loss": 1.0, "losses/approx_kl": 0.2}, 0.0)
    kept = next(r for r in engine.rules if r.name == "value_loss_blowup")
    settings["kl_spike"]["updates"] = 100
    engine.retune(settings, now=0.0)
    assert next(r for r in engine.rules if r.name == "value_loss_blowup") is kept
    kl = next(r for r in engine.rules if r.name == "kl_spike")
    assert kl.params["updates"] == 100 and kl.run_length == 0
    settings["clip_stuck"]["enabled"] = False
    engine.retune(settings, now=0.0)
    assert "clip_stuck" not in {r.name for r in engine.rules}
