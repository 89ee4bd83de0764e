"""A tiny trainer config and a scripted control, shared by the trainer tests."""

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from keisei.interfaces import CheckpointInfo, CommandRequest
from keisei.shogi.config import ShogiPPOConfig
from tests.support.shogi import TINY_SHOGI

# tests/support/shogi.py's tiny run, five updates long, with shaping that anneals within it.
TINY = {
    **TINY_SHOGI,
    "total_steps": 4 * 8 * 5,  # five updates
    "checkpoint_every": 0,
    "shaping_coef": 0.05,
    "shaping_anneal_steps": 400,
}


@pytest.fixture
def tiny_config() -> Callable[..., ShogiPPOConfig]:
    def make(**overrides: Any) -> ShogiPPOConfig:
        return ShogiPPOConfig(**{**TINY, **overrides})

    return make


class RecordingCallbacks:
    def __init__(self) -> None:
        self.metrics: list[tuple[int, dict[str, float]]] = []
        self.checkpoints: list[CheckpointInfo] = []
        self.events: list[tuple[str, str, Mapping[str, Any] | None]] = []
        self.boards: list[tuple[float, Mapping[str, Any]]] = []
        self.statuses: list[str] = []
        self.on_poll: Callable[[], None] | None = None

    def on_status(self, status: str, message: str = "") -> None:
        self.statuses.append(status)

    def on_progress(self, step: int, total: int) -> None:
        pass

    def on_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        self.metrics.append((step, dict(metrics)))

    def on_event(self, kind: str, message: str, data: Mapping[str, Any] | None = None) -> None:
        self.events.append((kind, message, data))

    def on_checkpoint(self, info: CheckpointInfo) -> None:
        self.checkpoints.append(info)

    def on_board(self, snapshot: Mapping[str, Any]) -> None:
        import time

        self.boards.append((time.monotonic(), snapshot))

    def on_live(self, kind: str, data: Mapping[str, Any]) -> None:
        pass


class ScriptedControl:
    """Hands out commands at given poll counts and records the answers."""

    def __init__(self, script: dict[int, list[CommandRequest]] | None = None) -> None:
        self.script = script or {}
        self.polls = 0
        self.acknowledged: list[str] = []
        self.completed: dict[str, Mapping[str, Any] | None] = {}
        self.failed: dict[str, str] = {}

    def poll(self) -> list[CommandRequest]:
        self.polls += 1
        return self.script.pop(self.polls, [])

    def acknowledge(self, command: CommandRequest) -> None:
        self.acknowledged.append(command.id)

    def complete(self, command: CommandRequest, result: Mapping[str, Any] | None = None) -> None:
        self.completed[command.id] = result

    def fail(self, command: CommandRequest, error: str) -> None:
        self.failed[command.id] = error


@pytest.fixture
def make_callbacks() -> type[RecordingCallbacks]:
    return RecordingCallbacks


@pytest.fixture
def make_control() -> type[ScriptedControl]:
    return ScriptedControl
