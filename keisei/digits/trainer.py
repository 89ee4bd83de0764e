"""A small CNN on the 8x8 digits that ship with scikit-learn, centralized or federated (FedAvg).

It is the portal's quick, honest workload: it learns in seconds on a CPU and reports
``losses/train_loss``, ``losses/val_loss`` and ``charts/val_accuracy`` once per epoch (round).
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from keisei.digits.config import DigitsConfig
from keisei.digits.federation import (
    ClientPlan,
    Shard,
    client_metrics,
    client_shards,
    end_message,
    fedavg,
    precision_recall,
    round_plan,
    start_message,
)
from keisei.interfaces import CheckpointInfo, RunOutcome
from keisei.trainer import Trainer, atomic_torch_save

CHECKPOINT_FORMAT = "keisei.digits/1"
# A training client reports its progress every this many batches, and at each local epoch's end.
PROGRESS_EVERY_BATCHES = 4
# A straggler's wait is cut in slices this long, so a command is answered within one.
WAIT_SLICE_SECONDS = 0.1


class DigitsNet(nn.Module):
    """Two 3x3 convolutions and a linear classifier over the 10 digits."""

    def __init__(self, channels: int, dropout: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels * 2, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(channels * 2 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [batch, 1, 8, 8]
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # [batch, 2c, 4, 4]
        logits: torch.Tensor = self.head(self.dropout(x.flatten(1)))  # [batch, 10]
        return logits


def load_digits_split(seed: int, validation_fraction: float) -> tuple[torch.Tensor, ...]:
    """The digits as tensors scaled to [0, 1], split reproducibly into train and validation."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(data.target, dtype=torch.long)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_val = int(len(y) * validation_fraction)
    val, train = order[:n_val], order[n_val:]
    return x[train], y[train], x[val], y[val]


class DigitsTrainer(Trainer[DigitsConfig]):
    """Supervised digits classifier; one step is one epoch (or one federated round)."""

    name = "digits"
    budget_field = "epochs"
    best_metric = ("charts/val_accuracy", "max")
    description = "A small CNN on the 8x8 handwritten digits (centralized or federated FedAvg)."
    Config = DigitsConfig
    presets = {
        "quick": {"epochs": 5},
        "default": {},
        "federated": {
            "mode": "federated",
            "epochs": 15,
            "clients": 8,
            "local_epochs": 2,  # with 1, fifteen rounds of 3 batches per client learn little
            "dropout_probability": 0.1,
            "straggler_probability": 0.1,
        },
    }
    # Per-client live updates and metric points of a federated run; bench/federated.py turns
    # them off to measure what they cost. Not a config field: users always get them.
    report_clients = True

    def __init__(self, config: DigitsConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        cfg = self.config
        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        self.model = DigitsNet(cfg.channels, cfg.dropout).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.learning_rate)
        self.epoch = 0
        self.last_metrics: dict[str, float] = {}
        self.x_train, self.y_train, self.x_val, self.y_val = (
            t.to(self.device) for t in load_digits_split(cfg.seed, cfg.validation_fraction)
        )
        self.shards: list[Shard] = []
        if cfg.mode == "federated":
            self.shards = client_shards(
                self.x_train,
                self.y_train,
                clients=cfg.clients,
                eval_fraction=cfg.client_eval_fraction,
            )

    # ----- training ------------------------------------------------------------------------

    def train(self, resume_from: Path | None = None) -> RunOutcome:
        if resume_from is not None:
            self.load_checkpoint(resume_from)
        self.callbacks.on_status("running")
        self.callbacks.on_event(
            "log", f"training digits ({self.config.mode}) on {self.device}", {"epoch": self.epoch}
        )
        while self.epoch < self.config.epochs:
            self.checkpoint_commands()
            if self.stop_requested:
                self.save_checkpoint("final")
                return RunOutcome.STOPPED
            if self.config.mode == "federated":
                if self._federated_round():
                    self._step_done()
                continue  # a stopped round was abandoned: the loop head writes the checkpoint
            started = time.perf_counter()
            train_loss = self._epoch(self.model, self.optimizer, self.x_train, self.y_train)
            if self.stop_requested:
                continue  # the epoch was cut short: the loop head writes the final checkpoint
            self.epoch += 1
            val_loss, accuracy = self._validate()
            elapsed = time.perf_counter() - started
            self.last_metrics = {
                "losses/train_loss": train_loss,
                "losses/val_loss": val_loss,
                "charts/val_accuracy": accuracy,
                "time/examples_per_s": len(self.y_train) / max(elapsed, 1e-9),
            }
            self.callbacks.on_metrics(self.epoch, self.last_metrics)
            self._step_done()
        self.save_checkpoint("final")
        return RunOutcome.COMPLETED

    def _step_done(self) -> None:
        self.callbacks.on_progress(self.epoch, self.config.epochs)
        every = self.config.checkpoint_every
        if every and self.epoch % every == 0 and self.epoch < self.config.epochs:
            self.save_checkpoint("periodic")

    def _epoch(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        x: torch.Tensor,
        y: torch.Tensor,
        before_batch: Callable[[int], bool] | None = None,
    ) -> float:
        """One pass over (x, y); ``before_batch(i)`` returning False ends it before batch i."""
        model.train()
        order = torch.randperm(len(y), device=self.device)
        total, count = 0.0, 0
        for batch, start in enumerate(range(0, len(y), self.config.batch_size)):
            # Commands are answered between batches, so one arrives within a batch's time.
            # A stop ends the epoch early; the epoch counter counts completed epochs only.
            self.checkpoint_commands()
            if self.stop_requested or (before_batch is not None and not before_batch(batch)):
                break
            idx = order[start : start + self.config.batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
            count += len(idx)
        return total / max(count, 1)

    # ----- federated ---------------------------------------------------------------------

    def _federated_round(self) -> bool:
        """One FedAvg round: the chosen clients train copies of the global model on their
        shards and the finished ones are averaged, weighted by their samples. False when a
        stop abandoned the round (the global model and the round count are unchanged)."""
        cfg = self.config
        round_ = self.epoch + 1
        started = time.perf_counter()
        plans = round_plan(
            seed=cfg.seed,
            round_=round_,
            clients=cfg.clients,
            client_fraction=cfg.client_fraction,
            dropout_probability=cfg.dropout_probability,
            straggler_probability=cfg.straggler_probability,
            straggler_delay_s=cfg.straggler_delay_s,
        )
        chosen = [plan.client for plan in plans]
        self.callbacks.on_event(
            "round",
            start_message(round_, cfg.epochs, chosen),
            {
                "phase": "start",
                "round": round_,
                "rounds": cfg.epochs,
                "clients": chosen,
                "clients_total": cfg.clients,
            },
        )
        outcomes: dict[int, dict[str, Any]] = {}
        states: list[dict[str, torch.Tensor]] = []
        examples = 0
        for plan in plans:
            result = self._train_client(round_, plan, self.shards[plan.client])
            if result is None:
                return False
            outcomes[plan.client], state, trained = result
            examples += trained
            if state is not None:
                states.append(state)
        included = [c for c, o in outcomes.items() if o["state"] == "done"]
        dropped = [c for c, o in outcomes.items() if o["state"] == "dropped"]
        fits = [outcomes[c]["fit"] for c in included]
        if states:  # every chosen client dropped: the global model stays as it was
            self.model.load_state_dict(fedavg(states, [fit["samples"] for fit in fits]))
        self.epoch += 1
        val_loss, accuracy, predicted = self._validate_predictions()
        samples = sum(fit["samples"] for fit in fits)
        aggregate: dict[str, float] = {}
        if fits:
            aggregate["losses/train_loss"] = sum(f["loss"] * f["samples"] for f in fits) / samples
        aggregate |= {
            "losses/val_loss": val_loss,
            "charts/val_accuracy": accuracy,
            **precision_recall(predicted, self.y_val),
            "fed/clients_included": float(len(included)),
            "fed/clients_dropped": float(len(dropped)),
            "time/examples_per_s": examples / max(time.perf_counter() - started, 1e-9),
        }
        # Checkpoints carry the aggregate only: per-client keys would grow with the clients.
        self.last_metrics = aggregate
        per_client = client_metrics(outcomes) if self.report_clients else {}
        self.callbacks.on_metrics(self.epoch, {**per_client, **aggregate})
        self.callbacks.on_event(
            "round",
            end_message(
                round_, cfg.epochs, chosen=len(plans), dropped=dropped, val_accuracy=accuracy
            ),
            {
                "phase": "end",
                "round": round_,
                "rounds": cfg.epochs,
                "clients": {str(c): o for c, o in outcomes.items()},
                "included": included,
                "dropped": dropped,
                "stragglers": [p.client for p in plans if p.straggles and p.client in included],
                "aggregate": {"val_loss": val_loss, "val_accuracy": accuracy, "samples": samples},
            },
        )
        return True

    def _train_client(
        self, round_: int, plan: ClientPlan, shard: Shard
    ) -> tuple[dict[str, Any], dict[str, torch.Tensor] | None, int] | None:
        """Train one client's copy of the global model: (its outcome, its parameters unless it
        dropped out, the examples it trained on), or None when a stop ended the round."""
        cfg = self.config
        local = copy.deepcopy(self.model)
        optimizer = torch.optim.Adam(local.parameters(), lr=cfg.learning_rate)
        per_epoch = math.ceil(len(shard.y_fit) / cfg.batch_size)
        total = cfg.local_epochs * per_epoch
        # It drops before some batch after the first and before the upload (batch 0 when it
        # has a single batch in all).
        drop_at = None
        if plan.drop_after is not None:
            drop_at = min(total - 1, max(1, round(plan.drop_after * total)))
        done, examples, epoch = 0, 0, 1

        def report(state: str, **extra: Any) -> None:
            if self.report_clients:
                self.callbacks.on_live(
                    "client",
                    {
                        "round": round_,
                        "client": plan.client,
                        "state": state,
                        "epoch": epoch,
                        "local_epochs": cfg.local_epochs,
                        "progress": done / total,
                        **extra,
                    },
                )

        def before_batch(batch: int) -> bool:
            nonlocal done, examples
            done = (epoch - 1) * per_epoch + batch
            if drop_at is not None and done >= drop_at:
                return False
            if batch and batch % PROGRESS_EVERY_BATCHES == 0:
                report("training")
            examples += min(cfg.batch_size, len(shard.y_fit) - batch * cfg.batch_size)
            return True

        report("training")
        fit_loss = float("nan")
        for epoch in range(1, cfg.local_epochs + 1):  # noqa: B007 (report reads it)
            fit_loss = self._epoch(local, optimizer, shard.x_fit, shard.y_fit, before_batch)
            if self.stop_requested:
                return None
            if drop_at is not None and done >= drop_at:
                reason = f"dropped out after {round(100 * done / total)}% of its local training"
                report("dropped", reason=reason)
                return {"state": "dropped", "reason": reason}, None, examples
            done = epoch * per_epoch
            report("training")
        eval_loss, eval_accuracy = self._evaluate(local, shard.x_eval, shard.y_eval)
        fit = {"loss": fit_loss, "samples": len(shard.y_fit)}
        evaluation = {"loss": eval_loss, "accuracy": eval_accuracy, "samples": len(shard.y_eval)}
        if plan.straggles and not self._straggle(plan, report):
            return None
        report("done", fit=fit, eval=evaluation)
        outcome = {"state": "done", "straggled": plan.straggles, "fit": fit, "eval": evaluation}
        return outcome, local.state_dict(), examples

    def _straggle(self, plan: ClientPlan, report: Callable[..., None]) -> bool:
        """Wait out a straggler's late upload (simulated) in short slices that answer commands;
        False when a stop came meanwhile."""
        deadline = time.monotonic() + plan.delay_s
        while (remaining := deadline - time.monotonic()) > 0:
            # Said again each slice: the reporter keeps only the latest and sends it on time.
            report("straggling", delay_s=plan.delay_s)
            time.sleep(min(WAIT_SLICE_SECONDS, remaining))
            self.checkpoint_commands()
            if self.stop_requested:
                return False
        return True

    # ----- evaluation ----------------------------------------------------------------------

    @torch.no_grad()
    def _evaluate(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        model.eval()
        logits = model(x)
        loss = F.cross_entropy(logits, y).item()
        accuracy = (logits.argmax(1) == y).float().mean().item()
        return loss, accuracy

    def _validate(self) -> tuple[float, float]:
        return self._evaluate(self.model, self.x_val, self.y_val)

    @torch.no_grad()
    def _validate_predictions(self) -> tuple[float, float, torch.Tensor]:
        """The global model on the validation set: loss, accuracy and each prediction."""
        self.model.eval()
        logits = self.model(self.x_val)
        loss = F.cross_entropy(logits, self.y_val).item()
        predicted = logits.argmax(1)
        return loss, (predicted == self.y_val).float().mean().item(), predicted

    # ----- checkpoints ---------------------------------------------------------------------

    def save_checkpoint(self, kind: str) -> CheckpointInfo:
        path = self.workdir / "checkpoints" / f"digits-epoch{self.epoch:04d}-{kind}.pt"
        state = {
            "format": CHECKPOINT_FORMAT,
            "trainer": self.name,
            "config": self.config.model_dump(),
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "metrics": self.last_metrics,
        }
        atomic_torch_save(state, path)
        info = CheckpointInfo(
            path=path, step=self.epoch, kind=kind, metrics=dict(self.last_metrics)
        )
        self.callbacks.on_checkpoint(info)
        return info

    def load_checkpoint(self, path: Path) -> None:
        """Restore model, optimizer, epoch and RNG; a foreign or corrupt file is refused whole."""
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as exc:
            raise ValueError(f"cannot read checkpoint {path}: {exc}") from exc
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path} is not a digits checkpoint")
        model = DigitsNet(self.config.channels, self.config.dropout).to(self.device)
        model.load_state_dict(state["model"])  # validated on a copy before we adopt it
        self.model = model
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.config.learning_rate)
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch = int(state["epoch"])
        self.last_metrics = dict(state.get("metrics", {}))
        torch.set_rng_state(state["torch_rng"].cpu())
