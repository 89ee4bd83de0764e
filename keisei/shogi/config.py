"""Configuration of the ``shogi-ppo`` trainer: every field bounded and described.

The JSON Schema of ``ShogiPPOConfig`` drives the portal's API and run form, so each description
is written for the person filling that form in.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from keisei.config_layout import form_layout
from keisei.devices import Device, device_field

Pathology = Literal[
    "none",
    "entropy_collapse",
    "value_loss_blowup",
    "kl_spike",
    "clip_stuck",
    "nan_loss",
    "throughput_drop",
    "stall",
    "win_rate_drop",
]

# The run form's sections, labels and folded fields (keisei.config_layout): the portal reads
# them from the JSON Schema.
LAYOUT = form_layout(
    [
        (
            "Budget and bookkeeping",
            {
                "total_steps": "Training budget (positions)",
                "seed": "Random seed",
                "checkpoint_every": "Checkpoint every (updates)",
                "spectate": "Publish a live board",
                "record_selfplay_every": "Record every Nth self-play game",
                "threads": "CPU threads",
                "precision": "Arithmetic precision",
                "device": "Device",
            },
        ),
        (
            "Self-play environment",
            {
                "num_envs": "Parallel games",
                "max_plies": "Ply cap per game",
                "shaping_coef": "Reward shaping weight",
                "shaping_anneal_steps": "Shaping anneal (positions)",
                "train_vs_random": "Games against the random mover (share)",
                "train_vs_greedy": "Games against the greedy player (share)",
                "train_vs_two_ply": "Games against the 2-ply searcher (share)",
                "train_vs_past": "Games against past selves (share)",
                "past_every": "Keep a past self every (updates)",
                "past_pool_size": "Past selves kept",
                "train_vs_from_step": "Fixed players from position",
            },
        ),
        (
            "Network",
            {
                "blocks": "Residual blocks",
                "channels": "Channels",
                "squeeze_excitation": "Squeeze-and-excitation",
                "value_hidden": "Value head width",
            },
        ),
        (
            "PPO",
            {
                "num_steps": "Steps per rollout",
                "learning_rate": "Learning rate",
                "lr_schedule": "Learning-rate schedule",
                "gamma": "Discount (gamma)",
                "gae_lambda": "GAE lambda",
                "update_epochs": "Update epochs",
                "minibatch_size": "Minibatch size",
                "clip_coef": "Clip range",
                "clip_vloss": "Clip the value loss",
                "ent_coef": "Entropy bonus",
                "ent_coef_final": "Entropy bonus at the end of its anneal",
                "ent_anneal_steps": "Entropy anneal (positions)",
                "vf_coef": "Value loss weight",
                "max_grad_norm": "Gradient norm clip",
                "norm_adv": "Normalise advantages",
                "target_kl": "Target KL (early stop)",
            },
        ),
        (
            "Evaluation during training",
            {"eval_every": "Evaluate every (updates)", "eval_games": "Games per evaluation"},
        ),
        (
            "Diagnostics (debug)",
            {
                "inject_pathology": "Inject a pathology (tests of the alerts)",
                "inject_at_update": "Inject from update",
            },
        ),
    ],
    advanced=[
        "inject_pathology",
        "inject_at_update",
        "record_selfplay_every",
        "threads",
        "precision",
        "shaping_anneal_steps",
        "train_vs_random",
        "train_vs_from_step",
        "past_every",
        "past_pool_size",
        "squeeze_excitation",
        "value_hidden",
        "lr_schedule",
        "gamma",
        "gae_lambda",
        "clip_coef",
        "clip_vloss",
        "vf_coef",
        "max_grad_norm",
        "norm_adv",
        "target_kl",
        "ent_coef_final",
        "ent_anneal_steps",
    ],
)


class ShogiPPOConfig(BaseModel):
    """Self-play PPO on cshogi boards. Unknown fields are refused, every number is bounded."""

    model_config = ConfigDict(extra="forbid", title="shogi-ppo", json_schema_extra=LAYOUT)

    # ----- budget and bookkeeping ----------------------------------------------------------
    total_steps: int = Field(
        2_000_000,
        ge=1,
        le=10_000_000_000,
        description="Training budget in self-play positions (plies) collected; rounded up to "
        "whole updates of num_envs x num_steps positions",
    )
    seed: int = Field(
        0, ge=0, le=2**31 - 1, description="Seed for network init, move sampling and shuffling"
    )
    checkpoint_every: int = Field(
        50, ge=0, le=100_000, description="Updates between periodic checkpoints (0: final only)"
    )
    spectate: bool = Field(
        True,
        description="Publish the live board of one self-play game (every ply; the portal "
        "sends it at most every KEISEI_LIVE_BOARD_SECONDS, 4 per second by default)",
    )
    record_selfplay_every: int = Field(
        500,
        ge=0,
        le=10_000_000,
        description="Report every Nth finished self-play game as a game record (0: none)",
    )
    threads: int = Field(2, ge=1, le=256, description="Torch CPU threads (torch.set_num_threads)")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="Network arithmetic. auto: bf16 autocast where the CPU has AMX/AVX512-BF16 "
        "(or on a CUDA GPU that supports it), else fp32",
    )

    device: Device = device_field()

    # ----- environment ---------------------------------------------------------------------
    num_envs: int = Field(
        256, ge=1, le=8192, description="Self-play games stepped together as one inference batch"
    )
    max_plies: int = Field(
        256,
        ge=2,
        le=4096,
        description="Ply cap of a self-play game; reaching it truncates the game (value bootstrap)",
    )
    shaping_coef: float = Field(
        0.01,
        ge=0.0,
        le=1.0,
        description="Material shaping reward per pawn unit of material won by a move "
        "(0: pure win/loss reward)",
    )
    shaping_anneal_steps: int = Field(
        1_000_000,
        ge=0,
        le=10_000_000_000,
        description="Positions over which shaping_coef falls linearly to zero (0: never anneal)",
    )

    train_vs_random: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Share of the parallel games the learner plays against the random mover "
        "instead of itself (it takes Black and White in turn; only its own moves are learned)",
    )
    train_vs_greedy: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Share of the parallel games played against the 1-ply material-greedy "
        "player instead of self-play",
    )
    train_vs_two_ply: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Share of the parallel games played against the 2-ply material searcher "
        "instead of self-play (it searches every reply: the slowest of the three to train "
        "against)",
    )
    train_vs_past: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Share of the parallel games played against one of the learner's past "
        "selves (a pool of its earlier weights, one drawn per rollout) instead of itself",
    )
    past_every: int = Field(
        20,
        ge=1,
        le=1_000_000,
        description="Updates between the learner's weights joining the pool of past selves "
        "(its starting weights are the first)",
    )
    past_pool_size: int = Field(
        5,
        ge=1,
        le=64,
        description="Past selves kept in the pool, the newest (each travels in every checkpoint)",
    )
    train_vs_from_step: int = Field(
        0,
        ge=0,
        le=10_000_000_000,
        description="Positions of pure self-play before the fixed players come in (0: from "
        "the start); then each of their games passes to its player when its self-play game ends",
    )

    # ----- network -------------------------------------------------------------------------
    blocks: int = Field(4, ge=1, le=40, description="Residual blocks in the network trunk")
    channels: int = Field(64, ge=8, le=512, description="Convolution channels in the trunk")
    squeeze_excitation: bool = Field(
        False, description="Add a squeeze-and-excitation gate to every residual block"
    )
    value_hidden: int = Field(
        128, ge=8, le=1024, description="Width of the value head's hidden layer"
    )

    # ----- PPO -----------------------------------------------------------------------------
    num_steps: int = Field(
        32, ge=1, le=4096, description="Plies per game in one rollout (rollout = num_steps x envs)"
    )
    learning_rate: float = Field(3e-4, gt=0.0, le=1.0, description="Adam step size at the start")
    lr_schedule: Literal["constant", "linear", "cosine"] = Field(
        "linear", description="How the learning rate falls over the budget (to 0 at the end)"
    )
    gamma: float = Field(0.99, ge=0.0, le=1.0, description="Discount per ply")
    gae_lambda: float = Field(0.95, ge=0.0, le=1.0, description="GAE(lambda) trace decay")
    update_epochs: int = Field(2, ge=1, le=64, description="PPO passes over each rollout")
    minibatch_size: int = Field(1024, ge=8, le=1_000_000, description="Positions per gradient step")
    clip_coef: float = Field(0.2, gt=0.0, le=1.0, description="PPO ratio clip (epsilon)")
    clip_vloss: bool = Field(
        False, description="Clip the value update around the rollout's value estimate"
    )
    ent_coef: float = Field(
        0.01, ge=0.0, le=1.0, description="Entropy bonus coefficient (at the start)"
    )
    ent_coef_final: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="The entropy bonus at the end of ent_anneal_steps, and after",
    )
    ent_anneal_steps: int = Field(
        0,
        ge=0,
        le=10_000_000_000,
        description="Positions over which the entropy bonus moves linearly from ent_coef to "
        "ent_coef_final (0: ent_coef throughout)",
    )
    vf_coef: float = Field(0.5, ge=0.0, le=10.0, description="Value loss coefficient")
    max_grad_norm: float = Field(1.0, gt=0.0, le=100.0, description="Global gradient norm clip")
    norm_adv: bool = Field(True, description="Normalise advantages within each minibatch")
    target_kl: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Stop the update's passes early when approximate KL exceeds this (0: never)",
    )

    # ----- evaluation during training ------------------------------------------------------
    eval_every: int = Field(
        0,
        ge=0,
        le=100_000,
        description="Updates between evaluations against the random mover (0: only on request)",
    )
    eval_games: int = Field(
        50, ge=2, le=10_000, description="Games per periodic evaluation (colours alternate)"
    )

    # ----- diagnostics (debug) -------------------------------------------------------------
    inject_pathology: Pathology = Field(
        "none",
        description="Debug only, off by default: from inject_at_update on, the run shows this "
        "pathology, so the portal's alert rules can be tested on a real run "
        "(keisei/shogi/pathology.py says what each one does)",
    )
    inject_at_update: int = Field(
        5, ge=1, le=1_000_000, description="The update from which the pathology shows"
    )

    @model_validator(mode="after")
    def _minibatch_fits(self) -> ShogiPPOConfig:
        batch = self.num_envs * self.num_steps
        if self.minibatch_size > batch:
            raise ValueError(
                f"minibatch_size ({self.minibatch_size}) exceeds the rollout "
                f"num_envs x num_steps ({batch})"
            )
        return self

    @model_validator(mode="after")
    def _opponent_shares_fit(self) -> ShogiPPOConfig:
        total = (
            self.train_vs_random + self.train_vs_greedy + self.train_vs_two_ply + self.train_vs_past
        )
        if total > 1.0 + 1e-9:
            raise ValueError(
                "train_vs_random + train_vs_greedy + train_vs_two_ply + train_vs_past "
                f"({total:g}) exceeds 1: they are shares of the parallel games"
            )
        return self

    def training_opponents(self) -> list[str | None]:
        """The fixed player of each parallel game (None: self-play), the opponents' games
        last so that game 0, the live board, stays self-play while any is."""
        names: list[str | None] = [None] * self.num_envs
        shares = (
            ("random", self.train_vs_random),
            ("greedy", self.train_vs_greedy),
            ("two_ply", self.train_vs_two_ply),
            ("past", self.train_vs_past),
        )
        start = self.num_envs
        cumulative = 0.0
        for name, share in reversed(shares):
            cumulative += share
            end, start = start, self.num_envs - round(cumulative * self.num_envs)
            names[start:end] = [name] * (end - start)
        return names

    @property
    def batch_size(self) -> int:
        """Positions per rollout (and per update)."""
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        """Updates the budget buys, rounded up."""
        return -(-self.total_steps // self.batch_size)


# ``quick`` learns visibly on two CPU cores in minutes; ``full`` is sized for one GPU.
PRESETS: dict[str, dict[str, object]] = {
    "quick": {
        "total_steps": 2_000_000,
        "num_envs": 256,
        "num_steps": 32,
        "blocks": 4,
        "channels": 64,
        "minibatch_size": 1024,
        "update_epochs": 2,
        # At 3e-4 the approximate KL stayed near 1e-5 for the first updates: too timid for a
        # budget of minutes. target_kl guards the larger step (it skips the second pass).
        "learning_rate": 1e-3,
        "target_kl": 0.03,
        "ent_coef": 0.005,
        "shaping_coef": 0.01,
        "shaping_anneal_steps": 1_000_000,
    },
    "full": {
        "total_steps": 500_000_000,
        "num_envs": 1024,
        "num_steps": 64,
        "blocks": 10,
        "channels": 192,
        "squeeze_excitation": True,
        "value_hidden": 256,
        "minibatch_size": 4096,
        "update_epochs": 2,
        "max_plies": 320,
        "learning_rate": 2e-4,
        "shaping_anneal_steps": 20_000_000,
        "checkpoint_every": 100,
        "eval_every": 50,
        "eval_games": 100,
    },
}
