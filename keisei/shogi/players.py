"""Players built from checkpoint files, and a match between two of them that keeps its games.

This is what evaluation jobs and the league use outside a training run: a network comes from a
file alone (its config travels inside it), and a match returns the W/D/L with the records of its
first games. The agent takes Black in even-numbered games and White in odd ones, as in
``evaluate.play_match``; a game that reaches the ply cap is a draw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from keisei.shogi.checkpoint import CheckpointError, checkpoint_config, read_checkpoint
from keisei.shogi.config import ShogiPPOConfig
from keisei.shogi.env import BLACK, WHITE, ShogiGame
from keisei.shogi.evaluate import (
    MatchResult,
    NetworkPlayer,
    Player,
    RandomPlayer,
    score_matches,
)
from keisei.shogi.network import Precision, build_network
from keisei.shogi.records import game_record

RANDOM = "random"


def player_from_checkpoint(
    path: str | Path, *, temperature: float, seed: int, device: str | None = None
) -> NetworkPlayer:
    """The network of a shogi-ppo checkpoint, playing at ``temperature``.

    A corrupt or foreign file, or weights that do not fit the network the file's own config
    describes, raise ``CheckpointError``; the half-built network is dropped, never returned.
    """
    return _load(path, temperature=temperature, seed=seed, device=device)[1]


def _load(
    path: str | Path, *, temperature: float, seed: int, device: str | None
) -> tuple[ShogiPPOConfig, NetworkPlayer]:
    state = read_checkpoint(Path(path))
    cfg = checkpoint_config(state)
    # Evaluation runs beside training on shared machines: plain fp32 on the CPU unless a device
    # is named, whatever precision the run trained with.
    device = device or "cpu"
    precision = Precision(cfg.precision if device.startswith("cuda") else "fp32", device)
    net = build_network(cfg.blocks, cfg.channels, cfg.squeeze_excitation, cfg.value_hidden)
    try:
        net.load_state_dict(state["model"])  # strict: every tensor present and the right shape
    except (RuntimeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path} has a damaged network: {exc}") from exc
    return cfg, NetworkPlayer(precision.prepare_model(net), precision, temperature, seed)


def evaluate_checkpoint(
    path: str | Path,
    opponent: str | Path | Literal["random"],
    *,
    games: int,
    max_plies: int | None,
    seed: int,
    record_games: int = 0,
    temperature: float = 1.0,
    device: str | None = None,
    names: tuple[str, str] = ("agent", "opponent"),
) -> tuple[MatchResult, list[dict[str, Any]]]:
    """A match of the checkpoint at ``path`` against ``opponent`` ("random" or another file).

    Returns the agent's W/D/L and Elo, and the records of the first ``record_games`` games
    (``names`` label the agent and the opponent in them). ``max_plies`` None is the agent's own
    training cap. Both files are loaded before a move is played, so a bad opponent fails the
    match before it starts.
    """
    if games < 1:
        raise ValueError("games must be at least 1")
    cfg, agent = _load(path, temperature=temperature, seed=seed, device=device)
    rival: Player
    if str(opponent) == RANDOM:
        rival = RandomPlayer(seed + 1)
    else:
        rival = player_from_checkpoint(
            opponent, temperature=temperature, seed=seed + 1, device=device
        )
    matches, agent_colors = _play(agent, rival, games, max_plies or cfg.max_plies)
    result = score_matches(matches, agent_colors)
    records = []
    for game, color in list(zip(matches, agent_colors, strict=True))[: max(0, record_games)]:
        pair = names if color == BLACK else (names[1], names[0])
        records.append(game_record(game, pair))
    return result, records


def _play(
    agent: Player, opponent: Player, games: int, max_plies: int
) -> tuple[list[ShogiGame], list[int]]:
    """Every game in lockstep (one batch per player per ply), colours alternating."""
    matches = [ShogiGame(max_plies) for _ in range(games)]
    agent_colors = [BLACK if i % 2 == 0 else WHITE for i in range(games)]
    active = list(range(games))
    while active:
        agent_turn = [i for i in active if matches[i].board.turn == agent_colors[i]]
        opponent_turn = [i for i in active if matches[i].board.turn != agent_colors[i]]
        for player, idx in ((agent, agent_turn), (opponent, opponent_turn)):
            if idx:
                for i, move in zip(idx, player.choose([matches[i] for i in idx]), strict=True):
                    matches[i].push(move)
        active = [i for i in active if not matches[i].result.is_over]
    return matches, agent_colors
