"""The digits trainer's federated mode against the round protocol (docs/websocket.md,
"Federated runs"): every round starts and ends, every chosen client finishes or drops, dropped
clients stay out of the average, choices are reproducible, a straggler's wait answers a stop."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest
import torch
from pydantic import ValidationError

from keisei.digits import trainer as trainer_module
from keisei.digits.config import DigitsConfig
from keisei.digits.federation import fedavg, round_plan
from keisei.digits.trainer import DigitsTrainer
from keisei.interfaces import CheckpointInfo, CommandRequest, RunOutcome

CLIENT_KEYS = ("fit_loss", "fit_samples", "eval_loss", "eval_accuracy", "eval_samples")
# Seed 0 with these settings has drops and stragglers in its three rounds (asserted below, so
# a change in the draws shows as a failure, not as a weaker test).
MIXED = {
    "mode": "federated",
    "epochs": 3,
    "clients": 6,
    "client_fraction": 0.5,
    "dropout_probability": 0.3,
    "straggler_probability": 0.3,
    "straggler_delay_s": 0.05,
    "local_epochs": 2,
    "batch_size": 32,
    "seed": 0,
}


class Recorder:
    """Callbacks that keep everything, in the order it came."""

    def __init__(self) -> None:
        self.metrics: list[tuple[int, dict[str, float]]] = []
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self.live: list[tuple[float, dict[str, Any]]] = []
        self.checkpoints: list[CheckpointInfo] = []
        self.timeline: list[str] = []  # "event:<kind>", "metrics", "live:<state>"

    def on_status(self, status: str, message: str = "") -> None:
        pass

    def on_progress(self, step: int, total: int) -> None:
        pass

    def on_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        self.metrics.append((step, dict(metrics)))
        self.timeline.append("metrics")

    def on_event(self, kind: str, message: str, data: Mapping[str, Any] | None = None) -> None:
        self.events.append((kind, message, dict(data or {})))
        self.timeline.append(f"event:{kind}")

    def on_checkpoint(self, info: CheckpointInfo) -> None:
        self.checkpoints.append(info)

    def on_board(self, snapshot: Mapping[str, Any]) -> None:
        pass

    def on_live(self, kind: str, data: Mapping[str, Any]) -> None:
        assert kind == "client"
        self.live.append((time.monotonic(), dict(data)))
        self.timeline.append(f"live:{data['state']}")

    def rounds(self, phase: str) -> list[dict[str, Any]]:
        return [d for k, _, d in self.events if k == "round" and d["phase"] == phase]


class WhenControl:
    """Hands out ``commands`` once ``condition`` holds; records when each was acknowledged."""

    def __init__(self, condition: Callable[[], bool], commands: list[CommandRequest]) -> None:
        self.condition, self.commands = condition, commands
        self.handed_at: float | None = None
        self.acknowledged_at: float | None = None

    def poll(self) -> list[CommandRequest]:
        if self.commands and self.condition():
            self.handed_at = time.monotonic()
            commands, self.commands = self.commands, []
            return commands
        return []

    def acknowledge(self, command: CommandRequest) -> None:
        self.acknowledged_at = time.monotonic()

    def complete(self, command: CommandRequest, result: Mapping[str, Any] | None = None) -> None:
        pass

    def fail(self, command: CommandRequest, error: str) -> None:
        pass


def make(tmp_path, control=None, recorder=None, **config) -> tuple[DigitsTrainer, Recorder]:
    recorder = recorder or Recorder()
    trainer = DigitsTrainer(
        DigitsConfig(**config), workdir=tmp_path, callbacks=recorder, control=control, device="cpu"
    )
    return trainer, recorder


def test_every_round_starts_and_ends_and_every_chosen_client_finishes_or_drops(tmp_path):
    trainer, rec = make(tmp_path, **MIXED)
    assert trainer.train() == RunOutcome.COMPLETED
    starts, ends = rec.rounds("start"), rec.rounds("end")
    assert [s["round"] for s in starts] == [e["round"] for e in ends] == [1, 2, 3]
    assert all(s["rounds"] == 3 and s["clients_total"] == 6 for s in starts)
    assert sum(len(e["dropped"]) for e in ends) > 0 and sum(len(e["stragglers"]) for e in ends) > 0
    for start, end, (step, metrics) in zip(starts, ends, rec.metrics, strict=True):
        chosen = start["clients"]
        assert len(chosen) == 3 and chosen == sorted(chosen)
        assert sorted(int(c) for c in end["clients"]) == chosen
        assert sorted(end["included"] + end["dropped"]) == chosen
        updates = [d for _, d in rec.live if d["round"] == start["round"]]
        for client in chosen:
            states = [d["state"] for d in updates if d["client"] == client]
            outcome = end["clients"][str(client)]
            assert states[0] == "training" and states[-1] == outcome["state"]
            assert states[-1] in ("done", "dropped") and states.count(states[-1]) == 1
            assert ("straggling" in states) == (client in end["stragglers"])
            keys = {f"clients/{client}/{name}" for name in CLIENT_KEYS}
            if client in end["included"]:
                assert outcome["fit"]["samples"] == metrics[f"clients/{client}/fit_samples"]
                assert keys <= metrics.keys()
            else:
                assert outcome["reason"].startswith("dropped out after")
                assert not keys & metrics.keys()
        assert step == start["round"]
        assert metrics["fed/clients_included"] == len(end["included"])
        assert metrics["fed/clients_dropped"] == len(end["dropped"])
        assert end["aggregate"]["val_accuracy"] == metrics["charts/val_accuracy"]
        digits = {f"charts/{kind}/{d}" for kind in ("precision", "recall") for d in range(10)}
        assert digits <= metrics.keys()
        assert {"losses/val_loss", "time/examples_per_s"} <= metrics.keys()
        assert ("losses/train_loss" in metrics) == bool(end["included"])
    # start, then client updates, then the metrics, then the end: per round, in that order
    rounds = [k for k in rec.timeline if k in ("event:round", "metrics")]
    assert rounds == ["event:round", "metrics", "event:round"] * 3


def test_client_progress_is_reported_within_and_at_the_end_of_each_local_epoch(tmp_path):
    trainer, rec = make(
        tmp_path, mode="federated", epochs=1, clients=2, local_epochs=2, batch_size=8
    )
    trainer.train()
    zero = [d for _, d in rec.live if d["client"] == 0]
    progress = [d["progress"] for d in zero if d["state"] == "training"]
    assert progress == sorted(progress) and progress[0] == 0.0 and 0.5 in progress
    assert len(progress) > 4  # updates within an epoch (every few batches), not only its end
    assert zero[-1]["state"] == "done" and zero[-1]["progress"] == 1.0


def test_dropped_clients_are_left_out_of_the_average(tmp_path, monkeypatch):
    config = {**MIXED, "epochs": 1, "clients": 4, "client_fraction": 1.0, "seed": 0}
    config |= {"straggler_probability": 0.0, "local_epochs": 1}
    plan = round_plan(
        seed=0,
        round_=1,
        clients=4,
        client_fraction=1.0,
        dropout_probability=0.3,
        straggler_probability=0.0,
        straggler_delay_s=0.0,
    )
    assert [p.client for p in plan if p.drop_after is not None] == [3]  # the last one drops
    kept: list[tuple[dict[str, torch.Tensor], int]] = []
    real = DigitsTrainer._train_client

    def spy(self, round_, plan, shard):
        result = real(self, round_, plan, shard)
        if result is not None and result[1] is not None:
            kept.append(({k: v.clone() for k, v in result[1].items()}, len(shard.y_fit)))
        return result

    monkeypatch.setattr(DigitsTrainer, "_train_client", spy)
    with_drop, rec = make(tmp_path / "drop", **config)
    with_drop.train()
    assert rec.rounds("end")[0]["dropped"] == [3] and len(kept) == 3
    expected = fedavg([s for s, _ in kept], [n for _, n in kept])
    for key, value in with_drop.model.state_dict().items():
        torch.testing.assert_close(value, expected[key])
    # The same round with nobody dropping trains clients 0-2 identically (client 3 trains
    # last), so the difference is client 3's update: left out above, averaged here.
    everyone, _ = make(tmp_path / "all", **{**config, "dropout_probability": 0.0})
    everyone.train()
    assert any(
        not torch.allclose(value, everyone.model.state_dict()[key])
        for key, value in with_drop.model.state_dict().items()
    )


def test_a_round_where_every_chosen_client_drops_leaves_the_global_model_unchanged(tmp_path):
    config = {"mode": "federated", "epochs": 1, "clients": 2, "client_fraction": 0.5}
    config |= {"dropout_probability": 0.9, "seed": 0}
    trainer, rec = make(tmp_path, **config)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train()
    end = rec.rounds("end")[0]
    assert end["included"] == [] and len(end["dropped"]) == 1
    message = next(m for k, m, d in rec.events if k == "round" and d["phase"] == "end")
    assert "every chosen client dropped" in message and "unchanged" in message
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(value, before[key])
    metrics = rec.metrics[0][1]
    assert "losses/train_loss" not in metrics and metrics["fed/clients_included"] == 0


def test_choices_come_from_the_seed_and_round_and_a_resumed_run_repeats_them(tmp_path):
    args = {"clients": 8, "client_fraction": 0.5, "dropout_probability": 0.3}
    args |= {"straggler_probability": 0.3, "straggler_delay_s": 1.0}
    assert round_plan(seed=1, round_=2, **args) == round_plan(seed=1, round_=2, **args)
    assert len({tuple(round_plan(seed=1, round_=r, **args)) for r in range(1, 6)}) > 1
    assert len(round_plan(seed=1, round_=1, **{**args, "client_fraction": 0.01})) == 1

    config = {**MIXED, "epochs": 4, "straggler_probability": 0.0}
    whole, rec_whole = make(tmp_path / "whole", **config)
    whole.train()
    rec = Recorder()
    control = WhenControl(lambda: len(rec.metrics) == 2, [CommandRequest("s", "stop")])
    first, rec = make(tmp_path / "first", control=control, recorder=rec, **config)
    assert first.train() == RunOutcome.STOPPED
    resumed, rec_resumed = make(tmp_path / "resumed", **config)
    assert resumed.train(resume_from=rec.checkpoints[-1].path) == RunOutcome.COMPLETED
    assert [step for step, _ in rec_resumed.metrics] == [3, 4]
    chosen = [(s["round"], s["clients"]) for s in rec_resumed.rounds("start")]
    assert chosen == [(s["round"], s["clients"]) for s in rec_whole.rounds("start")][2:]
    dropped = [e["dropped"] for e in rec_resumed.rounds("end")]
    assert dropped == [e["dropped"] for e in rec_whole.rounds("end")][2:]


def test_a_stop_during_a_stragglers_wait_is_answered_at_once_and_abandons_the_round(tmp_path):
    rec = Recorder()
    straggling = lambda: any(d["state"] == "straggling" for _, d in rec.live)  # noqa: E731
    control = WhenControl(straggling, [CommandRequest("s", "stop")])
    config = {"mode": "federated", "epochs": 3, "clients": 2, "straggler_probability": 1.0}
    trainer, rec = make(tmp_path, control=control, recorder=rec, straggler_delay_s=30, **config)
    started = time.monotonic()
    assert trainer.train() == RunOutcome.STOPPED
    assert time.monotonic() - started < 10  # not the 30 s wait
    first_straggling = next(t for t, d in rec.live if d["state"] == "straggling")
    assert control.acknowledged_at is not None
    assert control.acknowledged_at - first_straggling < 0.2
    assert rec.rounds("start") and not rec.rounds("end") and rec.metrics == []
    assert rec.checkpoints[-1].kind == "final" and rec.checkpoints[-1].step == 0


def test_without_client_reporting_no_client_updates_or_points_are_sent(tmp_path, monkeypatch):
    monkeypatch.setattr(trainer_module.DigitsTrainer, "report_clients", False)
    trainer, rec = make(tmp_path, **{**MIXED, "epochs": 1})
    trainer.train()
    assert rec.live == []
    assert not [k for k in rec.metrics[0][1] if k.startswith("clients/")]
    assert len(rec.rounds("end")) == 1


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("client_fraction", 0, "greater than 0"),
        ("client_fraction", 1.5, "less than or equal to 1"),
        ("dropout_probability", 0.95, "less than or equal to 0.9"),
        ("straggler_probability", -0.1, "greater than or equal to 0"),
        ("straggler_delay_s", 31, "less than or equal to 30"),
        ("client_eval_fraction", 0.01, "greater than or equal to 0.05"),
        ("clients", 65, "less than or equal to 64"),
    ],
)
def test_federated_config_out_of_bounds_names_field_and_reason(field, value, reason):
    with pytest.raises(ValidationError) as exc:
        DigitsConfig.model_validate({field: value})
    error = exc.value.errors()[0]
    assert error["loc"] == (field,)
    assert reason in error["msg"]


def test_the_federated_preset_has_eight_clients_with_some_dropouts_and_stragglers():
    config = DigitsConfig.model_validate(DigitsTrainer.presets["federated"])
    assert config.mode == "federated" and config.clients == 8 and config.local_epochs == 2
    assert config.dropout_probability == 0.1 and config.straggler_probability == 0.1
