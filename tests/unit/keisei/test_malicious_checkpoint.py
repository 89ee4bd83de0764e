"""A checkpoint is data, never code: a pickle whose ``__reduce__`` would run something is
refused on every path that opens a checkpoint file, with an error naming the file, and what
it would have run never runs (its marker file is never created)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from keisei import CheckpointError
from keisei.digits.config import DigitsConfig
from keisei.digits.trainer import CHECKPOINT_FORMAT, DigitsTrainer
from keisei.shogi.analysis import analyse_position
from keisei.shogi.checkpoint import MAGIC, read_checkpoint, read_network
from keisei.shogi.config import ShogiPPOConfig
from keisei.shogi.players import player_from_checkpoint
from keisei.shogi.trainer import ShogiPPOTrainer
from keisei.trainer import CommandError
from tests.support.shogi import TINY_SHOGI, train_tiny_shogi

ROOT = Path(__file__).resolve().parents[3]
START = "lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b - 1"


class Payload:
    """Unpickled without ``weights_only``, this creates ``marker`` (any code could run)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "payload-ran"


@pytest.fixture
def evil(tmp_path, marker) -> Path:
    """A torch checkpoint file as torch.save writes it, shaped like a real one, whose model
    entry is the payload."""
    path = tmp_path / "evil.pt"
    torch.save({"magic": MAGIC, "format": CHECKPOINT_FORMAT, "model": Payload(marker)}, path)
    assert path.exists() and not marker.exists()
    return path


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    """A real checkpoint, the other side of a match."""
    infos = train_tiny_shogi(tmp_path_factory.mktemp("tiny"))
    return infos[-1].path


def refused(call, evil: Path, marker: Path, error=CheckpointError) -> str:
    with pytest.raises(error) as caught:
        call()
    assert not marker.exists(), "the payload ran"
    message = str(caught.value)
    assert evil.name in message, message  # the error names the file
    return message


def test_the_payload_runs_when_loaded_without_weights_only(evil, marker):
    # The fixture is a real attack: what the loaders refuse would have run.
    torch.load(evil, weights_only=False)
    assert marker.exists()


def test_reading_a_shogi_checkpoint_refuses_it(evil, marker):
    message = refused(lambda: read_checkpoint(evil), evil, marker)
    assert "not a readable checkpoint" in message
    refused(lambda: read_network(evil), evil, marker)


def test_resuming_a_shogi_run_refuses_it(evil, marker, tmp_path):
    trainer = ShogiPPOTrainer(ShogiPPOConfig(**TINY_SHOGI), workdir=tmp_path / "run")
    refused(lambda: trainer.train(resume_from=evil), evil, marker)
    refused(lambda: trainer.load_checkpoint(evil), evil, marker)


def test_resuming_a_digits_run_refuses_it(evil, marker, tmp_path):
    trainer = DigitsTrainer(DigitsConfig(epochs=1), workdir=tmp_path / "run")
    message = refused(lambda: trainer.train(resume_from=evil), evil, marker, ValueError)
    assert "cannot read checkpoint" in message


def test_an_evaluation_or_league_match_refuses_it_as_either_player(evil, marker, good):
    def match(agent, opponent):
        return lambda: ShogiPPOTrainer.play_checkpoints(
            agent, opponent, games=1, max_plies=4, seed=1
        )

    refused(match(evil, "random"), evil, marker)
    refused(match(good, evil), evil, marker)
    refused(lambda: player_from_checkpoint(evil, temperature=1.0, seed=1), evil, marker)


def test_an_evaluate_command_against_it_is_refused(evil, marker, tmp_path):
    trainer = ShogiPPOTrainer(ShogiPPOConfig(**TINY_SHOGI), workdir=tmp_path / "run")
    message = refused(
        lambda: trainer.evaluate_against(str(evil), 1, 1.0, 4, 1), evil, marker, CommandError
    )
    assert message.startswith("opponent:")


def test_the_position_analyser_refuses_it(evil, marker):
    refused(lambda: ShogiPPOTrainer.position_analyser(evil, device="cpu"), evil, marker)
    refused(lambda: analyse_position(evil, START, top_k=1, device="cpu"), evil, marker)


def _torch_loads(path: Path) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "load"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "torch"
    ]


def _weights_only(call: ast.Call) -> bool:
    return any(
        k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
        for k in call.keywords
    )


def test_every_torch_load_in_the_project_passes_weights_only_true():
    """A new loading path cannot slip in without ``weights_only=True`` (a literal True)."""
    loads = [
        (path.relative_to(ROOT), call.lineno)
        for folder in ("keisei", "keisei_site", "runs", "monitoring", "accounts", "bench")
        for path in (ROOT / folder).rglob("*.py")
        for call in _torch_loads(path)
        if not _weights_only(call)
    ]
    found = sum(len(_torch_loads(p)) for p in (ROOT / "keisei").rglob("*.py"))
    assert found >= 2, "the engine's torch.load calls were not found: the scan is broken"
    assert not loads, f"torch.load without weights_only=True at {loads}"
