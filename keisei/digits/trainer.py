"""A small CNN on the 8x8 digits that ship with scikit-learn, centralized or federated (FedAvg).

It is the portal's quick, honest workload: it learns in seconds on a CPU and reports
``losses/train_loss``, ``losses/val_loss`` and ``charts/val_accuracy`` once per epoch (round).
"""

from __future__ import annotations

import copy
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from keisei.digits.config import DigitsConfig
from keisei.interfaces import CheckpointInfo, RunOutcome
from keisei.trainer import Trainer, atomic_torch_save

CHECKPOINT_FORMAT = "keisei.digits/1"


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
        "federated": {"mode": "federated", "epochs": 15, "clients": 4},
    }

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
            started = time.perf_counter()
            if self.config.mode == "federated":
                train_loss = self._federated_round()
            else:
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
            self.callbacks.on_progress(self.epoch, self.config.epochs)
            every = self.config.checkpoint_every
            if every and self.epoch % every == 0 and self.epoch < self.config.epochs:
                self.save_checkpoint("periodic")
        self.save_checkpoint("final")
        return RunOutcome.COMPLETED

    def _epoch(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor
    ) -> float:
        model.train()
        order = torch.randperm(len(y), device=self.device)
        total, count = 0.0, 0
        for start in range(0, len(y), self.config.batch_size):
            # Commands are answered between batches, so one arrives within a batch's time.
            # A stop ends the epoch early; the epoch counter counts completed epochs only.
            self.checkpoint_commands()
            if self.stop_requested:
                break
            idx = order[start : start + self.config.batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
            count += len(idx)
        return total / max(count, 1)

    def _federated_round(self) -> float:
        """FedAvg: each client trains a copy on its shard; the average, weighted by size, wins."""
        shards = torch.arange(len(self.y_train), device=self.device).chunk(self.config.clients)
        states, sizes, losses = [], [], []
        for shard in shards:
            local = copy.deepcopy(self.model)
            optimizer = torch.optim.Adam(local.parameters(), lr=self.config.learning_rate)
            for _ in range(self.config.local_epochs):
                loss = self._epoch(local, optimizer, self.x_train[shard], self.y_train[shard])
            if self.stop_requested:
                return float("nan")  # the round is abandoned; the global model is unchanged
            states.append(local.state_dict())
            sizes.append(len(shard))
            losses.append(loss)
        weights = torch.tensor(sizes, dtype=torch.float32) / sum(sizes)
        averaged = {
            key: sum(w * s[key].float() for w, s in zip(weights, states, strict=True)).to(
                states[0][key].dtype
            )
            for key in states[0]
        }
        self.model.load_state_dict(averaged)
        return float(sum(w * loss for w, loss in zip(weights.tolist(), losses, strict=True)))

    @torch.no_grad()
    def _validate(self) -> tuple[float, float]:
        self.model.eval()
        logits = self.model(self.x_val)
        loss = F.cross_entropy(logits, self.y_val).item()
        accuracy = (logits.argmax(1) == self.y_val).float().mean().item()
        return loss, accuracy

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
