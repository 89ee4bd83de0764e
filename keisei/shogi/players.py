"""Players built from checkpoint files, and a match between two of them that keeps its games.

This is what evaluation jobs and the league use outside a training run (through
``ShogiPPOTrainer.play_checkpoints``), and what the trainer's evaluate and sample commands use
for a checkpoint opponent: a network comes from a file alone (its config travels inside it).
The match is ``evaluate.play_match``: the agent takes Black in even-numbered games and White in
odd ones; a game that reaches the ply cap is a draw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from keisei.shogi.checkpoint import read_network
from keisei.shogi.config import ShogiPPOConfig
from keisei.shogi.evaluate import MatchResult, NetworkPlayer, Player, RandomPlayer, play_match
from keisei.shogi.network import Precision

RANDOM = "random"
BUILTIN_OPPONENTS = frozenset({RANDOM})


def player_from_checkpoint(
    path: str | Path,
    *,
    temperature: float,
    seed: int,
    device: str | None = None,
    precision: Precision | None = None,
) -> NetworkPlayer:
    """The network of a shogi-ppo checkpoint, playing at ``temperature``.

    ``precision`` None: plain fp32 on the CPU unless a ``device`` is named (evaluation runs
    beside training on shared machines), whatever precision the run trained with. A corrupt or
    foreign file, or weights that do not fit, raise ``CheckpointError`` naming the file.
    """
    return _load(path, temperature=temperature, seed=seed, device=device, precision=precision)[1]


def _load(
    path: str | Path,
    *,
    temperature: float,
    seed: int,
    device: str | None,
    precision: Precision | None = None,
) -> tuple[ShogiPPOConfig, NetworkPlayer]:
    cfg, net = read_network(Path(path))
    if precision is None:
        device = device or "cpu"
        precision = Precision(cfg.precision if device.startswith("cuda") else "fp32", device)
    return cfg, NetworkPlayer(precision.prepare_model(net), precision, temperature, seed)


def evaluate_checkpoint(
    path: str | Path,
    opponent: Path | str,
    *,
    games: int,
    max_plies: int | None,
    seed: int,
    record_games: int = 0,
    temperature: float = 1.0,
    device: str | None = None,
    names: tuple[str, str] = ("agent", "opponent"),
) -> tuple[MatchResult, list[dict[str, Any]]]:
    """A match of the checkpoint at ``path`` against ``opponent``: a ``Path`` is another
    checkpoint file, a ``str`` a built-in player ("random"; any other name is a ValueError).

    Returns the agent's W/D/L and Elo, and the records of the first ``record_games`` games
    (``names`` label the agent and the opponent in them). ``max_plies`` None is the agent's own
    training cap. Both files are loaded before a move is played, so a bad opponent fails the
    match before it starts.
    """
    if games < 1:
        raise ValueError("games must be at least 1")
    if isinstance(opponent, str) and opponent not in BUILTIN_OPPONENTS:
        known = ", ".join(sorted(BUILTIN_OPPONENTS))
        raise ValueError(f"unknown built-in opponent '{opponent}' (known: {known})")
    cfg, agent = _load(path, temperature=temperature, seed=seed, device=device)
    rival: Player
    if isinstance(opponent, str):
        rival = RandomPlayer(seed + 1)
    else:
        rival = player_from_checkpoint(
            opponent, temperature=temperature, seed=seed + 1, device=device
        )
    match = play_match(agent, rival, games, max_plies or cfg.max_plies)
    return match.result, match.records(record_games, names)
