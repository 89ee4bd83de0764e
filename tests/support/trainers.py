"""Trainers that exist for tests only, registered through ``KEISEI_TRAINERS`` (see conftest)."""

from __future__ import annotations

import os
import resource
import threading
import time
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


class CountingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    steps: int = Field(5, ge=1, le=10_000, description="Steps to count before completing")
    checkpoint_every: int = Field(
        0, ge=0, le=10_000, description="A periodic checkpoint every this many steps (0: none)"
    )
    step_seconds: float = Field(
        0.0, ge=0.0, le=10.0, description="How long a step takes (0: no time at all)"
    )


class CountingTrainer(Trainer):
    """Counts steps, reporting each, with a small checkpoint file every few: a run that
    completes in moments, for tests about what happens around training."""

    name = "counting"
    Config = CountingConfig

    def train(self, resume_from: Path | None = None) -> RunOutcome:
        self.callbacks.on_status("running")
        for step in range(1, self.config.steps + 1):
            self.checkpoint_commands()
            if self.stop_requested:
                self.save_checkpoint("final")
                return RunOutcome.STOPPED
            self.step = step
            time.sleep(self.config.step_seconds)  # the step's work
            self.at_step(step)
            self.callbacks.on_metrics(step, {"losses/train_loss": 1.0 / step})
            self.callbacks.on_progress(step, self.config.steps)
            every = self.config.checkpoint_every
            if every and step % every == 0:
                self.save_checkpoint("periodic")
        return RunOutcome.COMPLETED

    def at_step(self, step: int) -> None:
        """What a subclass does at a step, before reporting it."""

    def save_checkpoint(self, kind: str) -> CheckpointInfo:
        step = getattr(self, "step", 0)
        path = self.workdir / f"counting-step{step}-{kind}.ckpt"
        partial = path.with_suffix(".tmp")
        # Distinct content per checkpoint, big enough to be half-written.
        partial.write_bytes(f"{kind} {step}\n".encode() * 4096)
        os.replace(partial, path)
        info = CheckpointInfo(path=path, step=step, kind=kind)
        self.callbacks.on_checkpoint(info)
        return info


class HangingConfig(CountingConfig):
    hang_at: int = Field(2, ge=1, le=10_000, description="The step at which training hangs")


class HangingTrainer(CountingTrainer):
    """Hangs at a step, as a deadlocked trainer would: blocked in a wait that no Python
    exception can interrupt, while its lease's heartbeat goes on."""

    name = "hanging"
    Config = HangingConfig

    def at_step(self, step: int) -> None:
        if step == self.config.hang_at:
            threading.Event().wait()  # nobody will ever set it


class MemoryHogConfig(CountingConfig):
    hog_at: int = Field(2, ge=1, le=10_000, description="The step at which it allocates")
    headroom_mb: int = Field(
        256, ge=16, le=1024, description="Address space it may grow by before allocations fail"
    )


class MemoryHogTrainer(CountingTrainer):
    """Allocates until memory runs out, at one step. Bounded: the soft address-space limit
    (RLIMIT_AS) of its process is lowered to what it uses now plus ``headroom_mb`` while it
    allocates, then put back, so the machine never comes near its real limit."""

    name = "memory-hog"
    Config = MemoryHogConfig

    def at_step(self, step: int) -> None:
        if step != self.config.hog_at:
            return
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = _address_space_bytes() + self.config.headroom_mb * 2**20
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        hoard = []
        try:
            while True:
                hoard.append(bytearray(8 * 2**20))
        finally:
            hoard.clear()
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _address_space_bytes() -> int:
    """This process's virtual memory size now (VmSize), what RLIMIT_AS counts."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")
