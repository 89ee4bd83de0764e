"""Players built from checkpoint files or by name.

Matches between checkpoints (``ShogiPPOTrainer.play_checkpoints``: evaluation jobs, the league)
and the trainer's evaluate and sample commands take their players here: a network comes from a
file alone (its config travels inside it).
"""

from __future__ import annotations

from pathlib import Path

from keisei.shogi.checkpoint import read_network
from keisei.shogi.config import ShogiPPOConfig
from keisei.shogi.env import ScriptedPlayer
from keisei.shogi.evaluate import NetworkPlayer, Player, RandomPlayer
from keisei.shogi.material import GreedyPlayer, TwoPlyPlayer
from keisei.shogi.network import Precision

RANDOM = "random"
GREEDY = "greedy"  # 1-ply material (keisei.shogi.material)
TWO_PLY = "two_ply"  # 2-ply material minimax
_BUILTIN: dict[str, type[RandomPlayer | GreedyPlayer | TwoPlyPlayer]] = {
    RANDOM: RandomPlayer,
    GREEDY: GreedyPlayer,
    TWO_PLY: TwoPlyPlayer,
}
BUILTIN_OPPONENTS = frozenset(_BUILTIN)
# League anchors (docs/engine.md, "League anchors"): random at the league's starting rating (an
# untrained network plays about as well as a random mover), then one step of 1000 per player:
# each beat the one below it in 398-399 of 400 games (bench/learning.py --anchors prints it),
# a score that pins the difference only to "about 1000".
ANCHOR_RATINGS = {RANDOM: 1000.0, GREEDY: 2000.0, TWO_PLY: 3000.0}


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
    return load_player(
        path, temperature=temperature, seed=seed, device=device, precision=precision
    )[1]


def load_player(
    path: str | Path,
    *,
    temperature: float,
    seed: int,
    device: str | None,
    precision: Precision | None = None,
) -> tuple[ShogiPPOConfig, NetworkPlayer]:
    """``player_from_checkpoint``, with the config the file was trained with."""
    cfg, net = read_network(Path(path))
    if precision is None:
        device = device or "cpu"
        precision = Precision(cfg.precision if device.startswith("cuda") else "fp32", device)
    return cfg, NetworkPlayer(precision.prepare_model(net), precision, temperature, seed)


def builtin_player(name: str, seed: int) -> Player:
    """A built-in player by name (``BUILTIN_OPPONENTS``); ValueError names the known ones."""
    if name not in _BUILTIN:
        known = ", ".join(sorted(BUILTIN_OPPONENTS))
        raise ValueError(f"unknown built-in opponent '{name}' (known: {known})")
    return _BUILTIN[name](seed)


def training_players(
    cfg: ShogiPPOConfig,
) -> tuple[list[str | None], dict[str, ScriptedPlayer]]:
    """The fixed player of each parallel game (``cfg.training_opponents``) and one player per
    name met, each with its own seed drawn from the run's."""
    names = cfg.training_opponents()
    players: dict[str, ScriptedPlayer] = {
        name: _BUILTIN[name](cfg.seed + 7919 * (1 + index))
        for index, name in enumerate(sorted(BUILTIN_OPPONENTS))
        if name in names
    }
    return names, players
