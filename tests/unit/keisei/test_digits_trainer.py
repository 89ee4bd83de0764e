"""The digits trainer, headless: it learns, obeys commands, and checkpoints round-trip."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
import torch
from pydantic import ValidationError

from keisei.digits.config import DigitsConfig
from keisei.digits.trainer import DigitsTrainer
from keisei.interfaces import CheckpointInfo, CommandRequest, RunOutcome


class Recorder:
    """Callbacks that keep everything, for assertions."""

    def __init__(self) -> None:
        self.metrics: list[tuple[int, dict[str, float]]] = []
        self.progress: list[tuple[int, int]] = []
        self.statuses: list[str] = []
        self.events: list[tuple[str, str]] = []
        self.checkpoints: list[CheckpointInfo] = []

    def on_status(self, status: str, message: str = "") -> None:
        self.statuses.append(status)

    def on_progress(self, step: int, total: int) -> None:
        self.progress.append((step, total))

    def on_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        self.metrics.append((step, dict(metrics)))

    def on_event(self, kind: str, message: str, data: Mapping[str, Any] | None = None) -> None:
        self.events.append((kind, message))

    def on_checkpoint(self, info: CheckpointInfo) -> None:
        self.checkpoints.append(info)

    def on_board(self, snapshot: Mapping[str, Any]) -> None:
        pass

    def on_live(self, kind: str, data: Mapping[str, Any]) -> None:
        pass


class ScriptedControl:
    """Hands out each batch of commands once its condition holds; records how each ended."""

    def __init__(self, script: list[tuple[Callable[[], bool], list[CommandRequest]]]) -> None:
        self.script = list(script)
        self.outcomes: dict[str, tuple[str, Any]] = {}

    def poll(self) -> list[CommandRequest]:
        if self.script and self.script[0][0]():
            return self.script.pop(0)[1]
        return []

    def acknowledge(self, command: CommandRequest) -> None:
        self.outcomes[command.id] = ("acknowledged", None)

    def complete(self, command: CommandRequest, result: Mapping[str, Any] | None = None) -> None:
        self.outcomes[command.id] = ("done", result)

    def fail(self, command: CommandRequest, error: str) -> None:
        self.outcomes[command.id] = ("failed", error)


def make(tmp_path, control=None, recorder=None, **config) -> tuple[DigitsTrainer, Recorder]:
    recorder = recorder or Recorder()
    trainer = DigitsTrainer(
        DigitsConfig(**config), workdir=tmp_path, callbacks=recorder, control=control, device="cpu"
    )
    return trainer, recorder


def test_digits_learns_and_reports_every_epoch(tmp_path):
    trainer, rec = make(tmp_path, epochs=8)
    assert trainer.train() == RunOutcome.COMPLETED
    assert [step for step, _ in rec.metrics] == list(range(1, 9))
    first, last = rec.metrics[0][1], rec.metrics[-1][1]
    assert set(last) >= {"losses/train_loss", "losses/val_loss", "charts/val_accuracy"}
    assert last["losses/val_loss"] < first["losses/val_loss"]
    assert last["charts/val_accuracy"] > 0.85
    assert rec.progress[-1] == (8, 8)
    assert [c.kind for c in rec.checkpoints] == ["final"]
    assert rec.checkpoints[0].path.exists()


def test_federated_mode_averages_clients_and_learns(tmp_path):
    trainer, rec = make(tmp_path, mode="federated", epochs=6, clients=3)
    trainer.train()
    assert rec.metrics[-1][1]["charts/val_accuracy"] > 0.6


def test_stop_command_ends_early_with_a_final_checkpoint(tmp_path):
    rec = Recorder()
    control = ScriptedControl([(lambda: len(rec.metrics) == 2, [CommandRequest("s", "stop")])])
    trainer, rec = make(tmp_path, control=control, recorder=rec, epochs=50)
    assert trainer.train() == RunOutcome.STOPPED
    assert len(rec.metrics) == 2
    assert control.outcomes["s"] == ("done", {"stopping": True})
    assert rec.checkpoints[-1].kind == "final" and rec.checkpoints[-1].step == 2


def test_stop_mid_epoch_is_answered_within_the_epoch(tmp_path):
    rec = Recorder()
    control = ScriptedControl([(lambda: True, [CommandRequest("s", "stop")])])
    trainer, rec = make(tmp_path, control=control, recorder=rec, epochs=5, batch_size=8)
    assert trainer.train() == RunOutcome.STOPPED
    assert rec.metrics == []  # the first epoch was cut short, not finished
    assert rec.checkpoints[-1].step == 0


def test_pause_blocks_until_resume_and_bad_commands_fail_without_stopping(tmp_path):
    rec = Recorder()
    after_first_epoch = lambda: len(rec.metrics) >= 1  # noqa: E731
    control = ScriptedControl(
        [
            (after_first_epoch, [CommandRequest(id="p", kind="pause")]),
            (after_first_epoch, [CommandRequest("x", "sample"), CommandRequest("r2", "pause")]),
            (after_first_epoch, [CommandRequest(id="r", kind="resume")]),
        ]
    )
    trainer, rec = make(tmp_path, control=control, recorder=rec, epochs=3)
    assert trainer.train() == RunOutcome.COMPLETED
    assert rec.statuses == ["running", "paused", "running"]
    assert control.outcomes["p"][0] == "done"
    assert control.outcomes["x"] == ("failed", "the digits trainer does not support 'sample'")
    assert control.outcomes["r2"] == ("failed", "the run is already paused")
    assert control.outcomes["r"][0] == "done"
    assert len(rec.metrics) == 3


def test_save_command_writes_a_manual_checkpoint(tmp_path):
    rec = Recorder()
    control = ScriptedControl([(lambda: len(rec.metrics) == 1, [CommandRequest("s", "save")])])
    trainer, rec = make(tmp_path, control=control, recorder=rec, epochs=2)
    trainer.train()
    assert [c.kind for c in rec.checkpoints] == ["manual", "final"]
    assert control.outcomes["s"][1]["step"] == 1


def test_resume_from_checkpoint_continues_the_epoch_count(tmp_path):
    rec = Recorder()
    control = ScriptedControl([(lambda: len(rec.metrics) == 2, [CommandRequest("s", "stop")])])
    first, rec = make(tmp_path / "a", control=control, recorder=rec, epochs=4)
    first.train()
    checkpoint = rec.checkpoints[-1].path
    second, rec2 = make(tmp_path / "b", epochs=4)
    assert second.train(resume_from=checkpoint) == RunOutcome.COMPLETED
    assert [step for step, _ in rec2.metrics] == [3, 4]


def test_foreign_checkpoint_is_refused(tmp_path):
    bogus = tmp_path / "bogus.pt"
    torch.save({"format": "something-else"}, bogus)
    trainer, _ = make(tmp_path, epochs=1)
    with pytest.raises(ValueError, match="not a digits checkpoint"):
        trainer.train(resume_from=bogus)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00not a checkpoint")
    with pytest.raises(ValueError, match="cannot read checkpoint"):
        trainer.load_checkpoint(garbage)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("epochs", 0, "greater than or equal to 1"),
        ("learning_rate", -1, "greater than 0"),
        ("mode", "swarm", "'centralized' or 'federated'"),
        ("surprise", 1, "Extra inputs are not permitted"),
    ],
)
def test_config_out_of_bounds_names_field_and_reason(field, value, reason):
    with pytest.raises(ValidationError) as exc:
        DigitsConfig.model_validate({field: value})
    error = exc.value.errors()[0]
    assert error["loc"] == (field,)
    assert reason in error["msg"]
