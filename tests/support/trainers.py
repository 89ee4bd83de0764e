"""Trainers that exist for tests only, registered through ``KEISEI_TRAINERS`` (see conftest)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from keisei.interfaces import CheckpointInfo, RunOutcome
from keisei.trainer import Trainer


class BrokenConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fail_at: int = Field(2, ge=1, le=100, description="The step at which training raises")


class BrokenTrainer(Trainer):
    """Reports a few steps, then raises, as a buggy trainer would."""

    name = "broken"
    Config = BrokenConfig

    def train(self, resume_from: Path | None = None) -> RunOutcome:
        self.callbacks.on_status("running")
        for step in range(1, 1000):
            self.checkpoint_commands()
            if step == self.config.fail_at:
                raise RuntimeError(f"the model diverged at step {step}")
            self.callbacks.on_metrics(step, {"losses/train_loss": 1.0 / step})
            self.callbacks.on_progress(step, 1000)
        return RunOutcome.COMPLETED

    def save_checkpoint(self, kind: str) -> CheckpointInfo:
        raise NotImplementedError


def _third_party_shogi() -> type:
    from keisei.shogi.trainer import ShogiPPOTrainer

    class ThirdPartyShogiTrainer(ShogiPPOTrainer):
        """A trainer under another name that declares it plays games: the site must offer it
        evaluation and the league from the declaration alone, never from the name."""

        name = "third-party-shogi"

    return ThirdPartyShogiTrainer


ThirdPartyShogiTrainer = _third_party_shogi()
