"""Configuration of the ``digits`` trainer."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from keisei.config_layout import form_layout
from keisei.devices import Device, device_field

# The run form's sections, labels and folded fields (keisei.config_layout).
LAYOUT = form_layout(
    [
        (
            "Training",
            {
                "mode": "Mode",
                "epochs": "Epochs",
                "batch_size": "Batch size",
                "learning_rate": "Learning rate",
                "seed": "Random seed",
                "checkpoint_every": "Checkpoint every (epochs)",
                "device": "Device",
            },
        ),
        (
            "Model and data",
            {
                "channels": "Channels",
                "dropout": "Dropout",
                "validation_fraction": "Validation share",
            },
        ),
        (
            "Federated",
            {
                "clients": "Clients",
                "local_epochs": "Local epochs per round",
                "client_fraction": "Share of clients chosen per round",
                "dropout_probability": "Dropout probability",
                "straggler_probability": "Straggler probability",
                "straggler_delay_s": "Straggler delay (s)",
                "client_eval_fraction": "Client evaluation share",
            },
        ),
    ],
    advanced=[
        "dropout",
        "validation_fraction",
        "clients",
        "local_epochs",
        "client_fraction",
        "dropout_probability",
        "straggler_probability",
        "straggler_delay_s",
        "client_eval_fraction",
    ],
)


class DigitsConfig(BaseModel):
    """Hyperparameters of the digits CNN. Every field is bounded; unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", title="digits", json_schema_extra=LAYOUT)

    mode: Literal["centralized", "federated"] = Field(
        "centralized",
        description="centralized: one model on all data; federated: FedAvg over simulated clients",
    )
    epochs: int = Field(
        10, ge=1, le=500, description="Passes over the training data (rounds when federated)"
    )
    batch_size: int = Field(64, ge=8, le=1024, description="Examples per gradient step")
    learning_rate: float = Field(1e-3, gt=0, le=1.0, description="Adam step size")
    channels: int = Field(16, ge=4, le=128, description="Channels of the first convolution")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="Dropout before the classifier")
    validation_fraction: float = Field(
        0.2, ge=0.05, le=0.5, description="Share of the data held out for validation"
    )
    clients: int = Field(4, ge=2, le=64, description="Simulated clients (federated mode only)")
    local_epochs: int = Field(1, ge=1, le=20, description="Local epochs per round (federated only)")
    client_fraction: float = Field(
        1.0,
        gt=0.0,
        le=1.0,
        description="Share of the clients chosen each round, at least one (federated only)",
    )
    dropout_probability: float = Field(
        0.0,
        ge=0.0,
        le=0.9,
        description="Chance that a chosen client drops out mid-round; its update is left out",
    )
    straggler_probability: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Chance that a chosen client's upload comes late; it is still averaged",
    )
    straggler_delay_s: float = Field(
        1.0, ge=0.0, le=30.0, description="How late a straggler's upload comes, in seconds"
    )
    client_eval_fraction: float = Field(
        0.2,
        ge=0.05,
        le=0.5,
        description="Share of each client's shard held out for that client's own evaluation",
    )
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed for the split, init and shuffling")
    checkpoint_every: int = Field(
        0, ge=0, le=500, description="Epochs between periodic checkpoints (0: only the final one)"
    )
    device: Device = device_field()
