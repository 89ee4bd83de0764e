"""The regime-change rule of a run's explanation (runs.selectors.explain.regime_changes), on
hand-sized series."""

from __future__ import annotations

from runs.selectors.explain import regime_changes


def test_a_level_that_halves_is_one_change_at_the_first_step_of_the_new_level():
    steps = list(range(0, 4000, 100))
    values = [1.0] * 20 + [0.4] * 20
    [change] = regime_changes(steps, values, window=8, ratio=2.0)
    assert change["step"] == 2000
    assert (change["before"], change["after"]) == (1.0, 0.4)
    assert change["ratio"] == 0.4


def test_noise_and_a_slow_drift_are_not_changes():
    steps = list(range(40))
    noisy = [1.0 + (0.3 if i % 2 else -0.3) for i in range(40)]
    drift = [1.0 + i * 0.02 for i in range(40)]
    assert regime_changes(steps, noisy) == []
    assert regime_changes(steps, drift) == []


def test_two_jumps_are_two_changes_in_step_order_and_missing_values_are_skipped():
    steps = list(range(60))
    values = [1.0] * 20 + [3.0] * 20 + [0.5] * 20
    values[5] = None
    values[45] = float("nan")
    found = regime_changes(steps, values, window=8, ratio=2.0, most=3)
    assert [c["step"] for c in found] == [20, 40]
    assert found[0]["ratio"] == 3.0 and found[1]["ratio"] == 0.5 / 3.0


def test_at_most_the_strongest_changes_are_kept():
    steps = list(range(60))
    values = [1.0] * 20 + [3.0] * 20 + [0.5] * 20
    [only] = regime_changes(steps, values, window=8, ratio=2.0, most=1)
    assert only["step"] == 40  # ×1/6 is stronger than ×3
    assert regime_changes(steps[:10], values[:10]) == []  # shorter than two windows
