"""The summary's pure parts: the checkpoint it points to, its metrics, its sentence."""

from __future__ import annotations

import math

import pytest

from runs.services.summaries import (
    SUMMARY_MAX_METRICS,
    CheckpointRow,
    budget_reason,
    budget_unit,
    checkpoint_choice,
    duration_text,
    first_line,
    summary_metrics,
    summary_sentence,
)


def rows(*specs: tuple[int, int, str]) -> list[CheckpointRow]:
    return [CheckpointRow(id=i, step=s, kind=k) for i, s, k in specs]


def test_a_best_kind_checkpoint_wins_the_newest_of_them():
    checkpoints = rows((1, 2, "best"), (2, 5, "best"), (3, 4, "periodic"), (4, 9, "final"))
    assert checkpoint_choice(checkpoints, best_step=4).id == 2


def test_else_the_checkpoint_at_or_nearest_before_the_best_step():
    checkpoints = rows((1, 2, "periodic"), (2, 4, "periodic"), (3, 6, "periodic"), (4, 9, "final"))
    assert checkpoint_choice(checkpoints, best_step=5).id == 2
    assert checkpoint_choice(checkpoints, best_step=6).id == 3
    # Two at the same step: the later row.
    assert checkpoint_choice(rows((1, 4, "periodic"), (2, 4, "manual")), best_step=4).id == 2


def test_else_the_final_one_else_the_newest():
    checkpoints = rows((1, 3, "periodic"), (2, 9, "final"), (3, 10, "backup"))
    assert checkpoint_choice(checkpoints, best_step=1).id == 2  # none at or before step 1
    assert checkpoint_choice(checkpoints, best_step=None).id == 2
    assert checkpoint_choice(rows((1, 3, "periodic"), (2, 7, "manual")), best_step=None).id == 2
    assert checkpoint_choice([], best_step=3) is None


def test_metrics_leave_out_clients_and_non_finite_values_and_are_capped():
    values = {"losses/val_loss": 0.25, "clients/3/fit_loss": 0.1, "losses/train_loss": math.nan}
    assert summary_metrics(values) == {"losses/train_loss": None, "losses/val_loss": 0.25}
    many = {f"k/{i:03d}": float(i) for i in range(SUMMARY_MAX_METRICS + 5)}
    kept = summary_metrics(many)
    assert list(kept) == [f"k/{i:03d}" for i in range(SUMMARY_MAX_METRICS)]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(3.24, "3.2s"), (42.4, "42s"), (192.4, "3m 12s"), (3599.6, "1h 0m"), (7500, "2h 5m")],
)
def test_durations_read_as_a_person_says_them(seconds, text):
    assert duration_text(seconds) == text


def test_reasons():
    assert budget_reason(15, 15, unit="epochs") == "the budget was spent: 15 of 15 epochs"
    assert first_line("\n  RuntimeError: boom\nTraceback ...") == "RuntimeError: boom"


def summary(status: str, reason: str, duration: float | None, best: dict | None = None) -> dict:
    return {"status": status, "reason": reason, "duration_s": duration, "best": best}


def test_the_sentence_says_how_it_ended_and_its_best_step():
    best = {"metric": "charts/val_accuracy", "value": 0.96234, "step": 12}
    assert (
        summary_sentence(summary("completed", "the budget was spent", 192.4, best))
        == "completed in 3m 12s; best charts/val_accuracy 0.9623 at step 12"
    )
    assert (
        summary_sentence(summary("stopped", "stopped by olivia", 42.0))
        == "stopped by olivia after 42s"
    )
    assert (
        summary_sentence(summary("failed", "RuntimeError: boom", 3.0))
        == "failed after 3.0s: RuntimeError: boom"
    )
    assert summary_sentence(summary("failed", "lost", None)) == "failed: lost"
    cancelled = "cancelled before it started (by olivia)"
    assert summary_sentence(summary("cancelled", cancelled, None)) == cancelled


def test_the_budget_unit_comes_from_the_trainers_budget_field():
    assert budget_unit("digits") == "epochs"
    assert budget_unit("shogi-ppo") == "steps"  # total_steps
    assert budget_unit("counting") == "steps"  # no budget field (a test trainer)
    assert budget_unit("no-such-trainer") == "steps"
