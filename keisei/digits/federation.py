"""The simulated federation of the ``digits`` trainer: who takes part in a round, who drops out
or straggles, each client's shard, the FedAvg average and the round's words.

Every choice comes from a generator seeded by (seed, round), so a run resumed from a
checkpoint makes the same choices in its remaining rounds as the run it continues.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

# A dropped client leaves somewhere inside its local training, never before its first batch
# nor after its last: a drop before training or after the upload would not be a drop.
DROP_AFTER = (0.1, 0.9)


@dataclass(frozen=True, slots=True)
class ClientPlan:
    """What happens to one chosen client in one round."""

    client: int
    drop_after: float | None  # the share of its local training after which it drops out
    delay_s: float  # how late its upload comes (0: on time)

    @property
    def straggles(self) -> bool:
        return self.delay_s > 0


def round_plan(
    *,
    seed: int,
    round_: int,
    clients: int,
    client_fraction: float,
    dropout_probability: float,
    straggler_probability: float,
    straggler_delay_s: float,
) -> list[ClientPlan]:
    """The chosen clients of round ``round_`` (1-based), in client order, and their fates."""
    rng = np.random.default_rng([seed, round_])
    count = min(clients, max(1, round(client_fraction * clients)))
    chosen = sorted(int(c) for c in rng.choice(clients, size=count, replace=False))
    plans = []
    for client in chosen:
        # Every draw is made whatever its outcome, so one probability's value never shifts
        # the draws of another.
        drops, drop_at = rng.random() < dropout_probability, rng.uniform(*DROP_AFTER)
        straggles = rng.random() < straggler_probability
        plans.append(
            ClientPlan(
                client=client,
                drop_after=float(drop_at) if drops else None,
                delay_s=straggler_delay_s if straggles else 0.0,
            )
        )
    return plans


@dataclass(frozen=True, slots=True)
class Shard:
    """One client's data: what it trains on and what it holds out for its own evaluation."""

    x_fit: torch.Tensor
    y_fit: torch.Tensor
    x_eval: torch.Tensor
    y_eval: torch.Tensor


def client_shards(
    x: torch.Tensor, y: torch.Tensor, *, clients: int, eval_fraction: float
) -> list[Shard]:
    """Equal contiguous shards of the (already shuffled) training data, each split into a fit
    part and a held-out part of ``eval_fraction`` (at least one example of each)."""
    shards = []
    for idx in torch.arange(len(y), device=y.device).chunk(clients):
        n_eval = min(len(idx) - 1, max(1, int(len(idx) * eval_fraction)))
        fit, held = idx[: len(idx) - n_eval], idx[len(idx) - n_eval :]
        shards.append(Shard(x[fit], y[fit], x[held], y[held]))
    return shards


def fedavg(
    states: Sequence[Mapping[str, torch.Tensor]], samples: Sequence[int]
) -> dict[str, torch.Tensor]:
    """The average of the clients' parameters weighted by their training samples (McMahan et
    al. 2017); the weights are renormalised over whoever is in ``states``."""
    weights = torch.tensor(samples, dtype=torch.float32) / sum(samples)
    return {
        key: sum(w * s[key].float() for w, s in zip(weights, states, strict=True)).to(
            states[0][key].dtype
        )
        for key in states[0]
    }


def precision_recall(predicted: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Per-digit precision and recall as metric points; a digit never predicted (or absent)
    scores 0 rather than a NaN a chart cannot draw."""
    metrics = {}
    for digit in range(10):
        is_predicted, is_target = predicted == digit, target == digit
        hits = float((is_predicted & is_target).sum())
        metrics[f"charts/precision/{digit}"] = hits / max(float(is_predicted.sum()), 1.0)
        metrics[f"charts/recall/{digit}"] = hits / max(float(is_target.sum()), 1.0)
    return metrics


def _names(clients: Sequence[int]) -> str:
    return ", ".join(str(c) for c in clients)


def start_message(round_: int, rounds: int, chosen: Sequence[int]) -> str:
    noun = "client" if len(chosen) == 1 else "clients"
    return f"round {round_}/{rounds}: {noun} {_names(chosen)} chosen"


def end_message(
    round_: int, rounds: int, *, chosen: int, dropped: Sequence[int], val_accuracy: float
) -> str:
    head = f"round {round_}/{rounds}: "
    noun = "client" if len(dropped) == 1 else "clients"
    if chosen == len(dropped):
        return (
            f"{head}every chosen client dropped ({noun} {_names(dropped)}); the global model is "
            f"unchanged; val accuracy {val_accuracy:.3f}"
        )
    gone = f" ({noun} {_names(dropped)} dropped)" if dropped else ""
    averaged = chosen - len(dropped)
    return f"{head}{averaged} of {chosen} clients averaged{gone}; val accuracy {val_accuracy:.3f}"


def client_metrics(outcomes: Mapping[int, Mapping[str, Any]]) -> dict[str, float]:
    """The metric points of every client that finished the round."""
    metrics: dict[str, float] = {}
    for client, outcome in outcomes.items():
        if outcome["state"] != "done":
            continue
        fit, evaluation = outcome["fit"], outcome["eval"]
        metrics[f"clients/{client}/fit_loss"] = fit["loss"]
        metrics[f"clients/{client}/fit_samples"] = fit["samples"]
        metrics[f"clients/{client}/eval_loss"] = evaluation["loss"]
        metrics[f"clients/{client}/eval_accuracy"] = evaluation["accuracy"]
        metrics[f"clients/{client}/eval_samples"] = evaluation["samples"]
    return metrics
