"""``shogi-ppo``: self-play PPO on cshogi boards, steerable through ``Control``.

One *update* = a rollout of ``num_steps`` plies in each of ``num_envs`` games (one batched
inference per ply), negamax GAE, then ``update_epochs`` PPO passes in minibatches. The reported
step is the global count of self-play positions.

Checkpoints always hold the state at the last update boundary (a cheap in-memory copy taken
after every update), so a checkpoint asked for mid-rollout, or a stop, never captures a
half-done update, and resuming replays the interrupted update exactly.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from keisei.interfaces import (
    Capability,
    CheckpointError,
    CheckpointInfo,
    CommandRequest,
    MatchOutcome,
    RunOutcome,
)
from keisei.shogi.analysis import Analyser, analyse_position, game_positions
from keisei.shogi.checkpoint import read_checkpoint, write_checkpoint
from keisei.shogi.commands import EvaluateParams, SampleParams, parse_params
from keisei.shogi.config import PRESETS, ShogiPPOConfig
from keisei.shogi.env import WHITE, FinishedGame, SelfPlayEnvs
from keisei.shogi.evaluate import NetworkPlayer, Player, RandomPlayer, play_game, play_match
from keisei.shogi.network import Precision, build_network
from keisei.shogi.past_selves import PAST, PastSelves
from keisei.shogi.pathology import PathologyInjector
from keisei.shogi.players import (
    ANCHOR_RATINGS,
    BUILTIN_OPPONENTS,
    builtin_player,
    load_player,
    player_from_checkpoint,
    training_players,
)
from keisei.shogi.ppo import ppo_update
from keisei.shogi.records import game_record
from keisei.shogi.rollout import RolloutHooks, collect_rollout
from keisei.shogi.state import capture_rng, restore_rng, validate_optimizer_state
from keisei.trainer import CommandError, Trainer


def weights_copy(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of ``model``'s weights now (checkpoints and past selves keep it unchanged)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class ShogiPPOTrainer(Trainer[ShogiPPOConfig]):
    """Self-play PPO with a residual policy/value network; one shared policy for both sides."""

    name = "shogi-ppo"
    budget_field = "total_steps"
    best_metric = ("charts/win_rate_vs_random", "max")  # with eval_every
    description = "Self-play PPO for Shogi on cshogi boards with a residual policy/value network."
    Config = ShogiPPOConfig
    presets = PRESETS
    extra_commands = frozenset({"sample", "evaluate", "backup"})
    capabilities = frozenset(
        {Capability.PLAYS_GAMES, Capability.HAS_BOARD, Capability.ANALYSES_POSITIONS}
    )
    builtin_opponents = BUILTIN_OPPONENTS
    anchor_ratings = ANCHOR_RATINGS

    def __init__(self, config: ShogiPPOConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        cfg = self.config
        torch.set_num_threads(cfg.threads)
        self.precision = Precision(cfg.precision, self.device)
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed)
        random.seed(cfg.seed)
        self.model, self.optimizer, self.scheduler = self._build_learner()
        # Dedicated generators: commands (sample, evaluate) never draw from these, so they
        # cannot change the course of training.
        self.action_generator = torch.Generator().manual_seed(cfg.seed)
        self.shuffle_rng = np.random.default_rng(cfg.seed)
        self.past = self._past_selves()
        if self.past is not None:  # the starting weights are the first past self
            self.past.add(weights_copy(self.model))
            self.past.draw()
        self.envs = SelfPlayEnvs(
            cfg.num_envs,
            cfg.max_plies,
            *self._training_players(self.past),
            opponents_on=cfg.train_vs_from_step == 0,
        )
        self.global_step = 0
        self.update = 0
        self.counters = {"games_finished": 0, "black_wins": 0, "white_wins": 0, "draws": 0}
        self.last_metrics: dict[str, float] = {}
        self._boundary: dict[str, Any] = {}
        self._command_seconds = 0.0
        self._rollout_hooks = RolloutHooks(self._commands, self.record_selfplay, self.publish_board)
        self.pathology = PathologyInjector(cfg.inject_pathology, cfg.inject_at_update)
        self._take_boundary()

    # ----- construction --------------------------------------------------------------------

    def _build_learner(self) -> tuple[torch.nn.Module, torch.optim.Optimizer, Any]:
        cfg = self.config
        model = self.precision.prepare_model(
            build_network(cfg.blocks, cfg.channels, cfg.squeeze_excitation, cfg.value_hidden)
        )
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate, eps=1e-5)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self._lr_factor)
        return model, optimizer, scheduler

    def _past_selves(self) -> PastSelves | None:
        """The pool of past selves (empty), when the config plays any games against them."""
        cfg = self.config
        if not cfg.train_vs_past:
            return None
        net = build_network(cfg.blocks, cfg.channels, cfg.squeeze_excitation, cfg.value_hidden)
        seed = cfg.seed + 7919 * 5  # beside the built-in players' (players.training_players)
        return PastSelves(
            self.precision.prepare_model(net), self.precision, cfg.past_pool_size, seed
        )

    def _training_players(self, past: PastSelves | None) -> tuple[list[str | None], dict[str, Any]]:
        names, players = training_players(self.config)
        return names, {**players, **({PAST: past} if past is not None else {})}

    def _lr_factor(self, update: int) -> float:
        """Share of the initial learning rate at ``update`` (falls to 0 at the budget's end)."""
        progress = min(update / self.config.num_updates, 1.0)
        if self.config.lr_schedule == "linear":
            return 1.0 - progress
        if self.config.lr_schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return 1.0

    def ent_coef(self, step: int) -> float:
        """The entropy bonus at global ``step``: linear from ``ent_coef`` to ``ent_coef_final``
        over ``ent_anneal_steps`` positions."""
        cfg = self.config
        if not cfg.ent_anneal_steps:
            return cfg.ent_coef
        done = min(step / cfg.ent_anneal_steps, 1.0)
        return cfg.ent_coef + (cfg.ent_coef_final - cfg.ent_coef) * done

    def shaping_coef(self, step: int) -> float:
        """Material shaping at global ``step``: linear anneal to zero."""
        cfg = self.config
        if not cfg.shaping_anneal_steps:
            return cfg.shaping_coef
        return cfg.shaping_coef * max(0.0, 1.0 - step / cfg.shaping_anneal_steps)

    # ----- the training loop ---------------------------------------------------------------

    def train(self, resume_from: Path | None = None) -> RunOutcome:
        cfg = self.config
        if resume_from is not None:
            self.load_checkpoint(resume_from)
        self.callbacks.on_status("running")
        self.callbacks.on_event(
            "log",
            f"shogi-ppo on {self.device} ({self.precision.name}), "
            f"{cfg.num_updates} updates of {cfg.batch_size} positions",
            {"update": self.update, "global_step": self.global_step},
        )
        while self.update < cfg.num_updates:
            started = time.perf_counter()
            self._command_seconds = 0.0
            if not self._commands():
                break
            if not self.pathology.stall(self.update + 1, self._commands):
                break
            self._bring_in_opponents()
            if self.past is not None:
                self.past.draw()
            rollout = collect_rollout(
                self.policy,
                self.envs,
                cfg,
                self.action_generator,
                first_step=self.global_step,
                shaping_coef=self.shaping_coef,
                hooks=self._rollout_hooks,
            )
            if rollout is None:
                break
            batch, stats = rollout
            lr = self.scheduler.get_last_lr()[0]
            losses = ppo_update(
                self.model,
                self.optimizer,
                batch,
                cfg,
                self.precision,
                self.shuffle_rng,
                self._commands,
                self.ent_coef(self.global_step),
            )
            if losses is None:
                break
            self.scheduler.step()
            self.update += 1
            self.global_step += cfg.batch_size
            stats.add_to(self.counters)
            elapsed = time.perf_counter() - started - self._command_seconds
            elapsed += self.pathology.slow_down(self.update, elapsed)
            metrics = {**losses, "charts/learning_rate": lr, **stats.metrics()}
            metrics["charts/shaping_coef"] = self.shaping_coef(self.global_step - cfg.batch_size)
            if cfg.ent_anneal_steps:
                metrics["charts/ent_coef"] = self.ent_coef(self.global_step - cfg.batch_size)
            metrics["time/positions_per_s"] = cfg.batch_size / max(elapsed, 1e-9)
            if cfg.eval_every and self.update % cfg.eval_every == 0:
                metrics.update(self._periodic_evaluation())
            self.pathology.rewrite(self.update, metrics)
            self.last_metrics = {k: float(v) for k, v in metrics.items() if math.isfinite(v)}
            # A non-finite loss is reported too (the site's rules flag it); explained variance
            # is undefined (nan) whenever the returns do not vary, which is no fault.
            reported = {
                k: float(v)
                for k, v in metrics.items()
                if math.isfinite(v) or k != "losses/explained_variance"
            }
            self.callbacks.on_metrics(self.global_step, reported)
            self.callbacks.on_progress(self.global_step, cfg.num_updates * cfg.batch_size)
            if self.past is not None and self.update % cfg.past_every == 0:
                self.past.add(weights_copy(self.model))
            self._take_boundary()
            if (
                cfg.checkpoint_every
                and self.update % cfg.checkpoint_every == 0
                and self.update < cfg.num_updates
            ):
                self.save_checkpoint("periodic")
        self.save_checkpoint("final")
        return RunOutcome.STOPPED if self.stop_requested else RunOutcome.COMPLETED

    def _bring_in_opponents(self) -> None:
        """Once ``train_vs_from_step`` positions are played, the fixed players come in."""
        cfg = self.config
        envs = self.envs
        if (
            not envs.opponents_on
            and any(name is not None for name in envs.assigned)
            and self.global_step >= cfg.train_vs_from_step
        ):
            envs.bring_in_opponents()
            self.callbacks.on_event(
                "log",
                f"fixed players brought in at step {self.global_step}: each of their games "
                "passes to them when its self-play game ends",
                {"global_step": self.global_step},
            )

    def _commands(self) -> bool:
        """Answer pending commands (timed, so they do not count as training time); False once
        a stop is asked."""
        started = time.perf_counter()
        self.checkpoint_commands()
        self._command_seconds += time.perf_counter() - started
        return not self.stop_requested

    def record_selfplay(self, finished: list[FinishedGame]) -> None:
        """Report a sampled share of the finished training games (by game id: resume-safe);
        a game against a fixed player names it."""
        every = self.config.record_selfplay_every
        for done in finished:
            if every and done.game is not None and done.game_id % every == 0:
                players = ("self-play", "self-play")
                if done.opponent is not None:
                    players = ("learner", done.opponent)
                    if done.learner == WHITE:
                        players = (done.opponent, "learner")
                record = {
                    **game_record(done.game, players),
                    "step": self.global_step,
                    "game": done.game_id,
                }
                self.callbacks.on_event(
                    "selfplay",
                    f"self-play game {done.game_id}: {record['result']} in {record['plies']} plies",
                    record,
                )

    def publish_board(self) -> None:
        """The live board of game 0, once per ply: whoever runs the trainer throttles it (the
        site's reporter, to KEISEI_LIVE_BOARD_SECONDS). A snapshot costs ~15 us against ~100 ms
        a ply (quick preset, measured), so no guard but ``spectate`` is needed."""
        if self.config.spectate:
            self.callbacks.on_board(self.envs.board_snapshot(0))

    @torch.no_grad()
    def policy(self, obs: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and values of a batch of observations ([B, 119, 9, 9]), on the CPU."""
        self.model.eval()
        with self.precision.autocast():
            logits, values = self.model(self.precision.prepare_input(torch.from_numpy(obs)))
        return logits.cpu(), values.cpu()

    def _periodic_evaluation(self) -> dict[str, float]:
        """A match against the random mover; commands are answered between its plies."""
        cfg = self.config
        agent = NetworkPlayer(self.model, self.precision, 0.0, cfg.seed + self.update)
        rival = RandomPlayer(cfg.seed + self.update + 1)
        match = play_match(agent, rival, cfg.eval_games, cfg.max_plies, self._commands)
        if match is None:  # a stop came: skip the figure, the checkpoint follows
            return {}
        result = match.result
        data = {**result.as_dict(), "opponent": "random", "step": self.global_step}
        self.callbacks.on_event(
            "evaluation", f"vs random: {result.win_rate:.0%} ({result.wins}/{result.games})", data
        )
        return {"charts/win_rate_vs_random": result.win_rate, "charts/elo_vs_random": result.elo}

    @classmethod
    def play_checkpoints(
        cls,
        agent: Path,
        opponent: Path | str,
        *,
        games: int,
        max_plies: int | None,
        seed: int,
        record_games: int = 0,
        temperature: float = 1.0,
        names: tuple[str, str] = ("agent", "opponent"),
        device: str | None = None,
        watch: Callable[[dict[str, Any]], None] | None = None,
    ) -> MatchOutcome:
        # Both sides are loaded before a move is played: a bad opponent fails the match at once.
        if games < 1:
            raise ValueError("games must be at least 1")
        cfg, player = load_player(agent, temperature=temperature, seed=seed, device=device)
        rival = (
            builtin_player(opponent, seed + 1)
            if isinstance(opponent, str)
            else player_from_checkpoint(
                opponent, temperature=temperature, seed=seed + 1, device=device
            )
        )
        match = play_match(player, rival, games, max_plies or cfg.max_plies, watch=watch)
        return MatchOutcome(match.result.as_dict(), match.records(record_games, names))

    @classmethod
    def analyse_position(
        cls, checkpoint: Path, sfen: str, *, top_k: int = 5, device: str | None = None
    ) -> dict[str, Any]:
        return analyse_position(checkpoint, sfen, top_k=top_k, device=device)

    @classmethod
    def position_analyser(cls, checkpoint: Path, *, device: str | None = None) -> Analyser:
        return Analyser(checkpoint, device=device)

    @classmethod
    def game_positions(cls, start_sfen: str, moves: Sequence[str]) -> list[str]:
        return game_positions(start_sfen, moves)

    # ----- commands ------------------------------------------------------------------------

    def handle_command(self, command: CommandRequest) -> dict[str, Any]:
        if command.kind == "sample":
            return self.sample_game(parse_params(SampleParams, command.params))
        if command.kind == "evaluate":
            p = parse_params(EvaluateParams, command.params)
            return self.evaluate_against(p.opponent, p.games, p.temperature, p.max_plies, p.seed)
        if command.kind == "backup":
            info = self.save_checkpoint("backup")
            return {"path": str(info.path), "step": info.step}
        raise CommandError(f"the {self.name} trainer does not support '{command.kind}'")

    def _seed(self, seed: int | None) -> int:
        return seed if seed is not None else random.SystemRandom().randrange(2**31)

    def _opponent(self, opponent: str, temperature: float, seed: int) -> Player:
        if opponent in BUILTIN_OPPONENTS:
            return builtin_player(opponent, seed + 1)
        if opponent == "latest":
            # The newest checkpoint this run has written (an earlier self to play against).
            found = sorted((self.workdir / "checkpoints").glob("shogi-ppo-*.pt"))
            if not found:
                raise CommandError("opponent: this run has written no checkpoint yet")
            path = found[-1]
        else:
            path = Path(opponent)
            if not path.is_absolute():
                path = self.workdir / path
        try:
            return player_from_checkpoint(
                path, temperature=temperature, seed=seed + 1, precision=self.precision
            )
        except CheckpointError as exc:
            raise CommandError(f"opponent: {exc}") from exc

    def evaluate_against(
        self, opponent: str, games: int, temperature: float, max_plies: int | None, seed: int | None
    ) -> dict[str, Any]:
        """A match against ``opponent`` (random or a checkpoint path), agent's W/D/L and Elo."""
        seed = self._seed(seed)
        rival = self._opponent(opponent, temperature, seed)
        agent = NetworkPlayer(self.model, self.precision, temperature, seed)
        result = play_match(agent, rival, games, max_plies or self.config.max_plies).result
        return {**result.as_dict(), "opponent": opponent, "step": self.global_step}

    def sample_game(self, p: SampleParams) -> dict[str, Any]:
        seed = self._seed(p.seed)
        agent = NetworkPlayer(self.model, self.precision, p.temperature, seed)
        rival = agent if p.opponent == "self" else self._opponent(p.opponent, p.temperature, seed)
        names = ("shogi-ppo", p.opponent) if p.agent_color == "black" else (p.opponent, "shogi-ppo")
        black, white = (agent, rival) if p.agent_color == "black" else (rival, agent)
        game = play_game(black, white, p.max_plies or self.config.max_plies)
        record = {**game_record(game, names), "step": self.global_step}
        self.callbacks.on_event(
            "sample", f"sample game: {record['result']} in {record['plies']} plies", record
        )
        return record

    # ----- checkpoints ---------------------------------------------------------------------

    def _take_boundary(self) -> None:
        """Copy the full training state now, between updates (what checkpoints write)."""
        self._boundary = {
            "global_step": self.global_step,
            "update": self.update,
            "model": weights_copy(self.model),
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "scheduler": copy.deepcopy(self.scheduler.state_dict()),
            "rng": capture_rng(self.action_generator, self.shuffle_rng),
            "envs": self.envs.snapshot(),
            "counters": dict(self.counters),
            "metrics": dict(self.last_metrics),
            "past": None if self.past is None else self.past.state(),
        }

    def save_checkpoint(self, kind: str) -> CheckpointInfo:
        b = self._boundary
        path = self.workdir / "checkpoints" / f"shogi-ppo-{b['global_step']:012d}-{kind}.pt"
        state = {
            **b,
            "trainer": self.name,
            "kind": kind,
            "config": self.config.model_dump(),
            "envs": SelfPlayEnvs.snapshot_to_portable(b["envs"]),
        }
        write_checkpoint(state, path)
        info = CheckpointInfo(
            path=path, step=b["global_step"], kind=kind, metrics=dict(b["metrics"])
        )
        self.callbacks.on_checkpoint(info)
        return info

    def load_checkpoint(self, path: Path) -> None:
        """Restore the full training state; everything is validated before anything changes."""
        state = read_checkpoint(Path(path))
        if state["trainer"] != self.name:
            raise CheckpointError(f"{path} was written by trainer '{state['trainer']}'")
        model, optimizer, scheduler = self._build_learner()
        try:
            model.load_state_dict(state["model"])
            validate_optimizer_state(state["optimizer"], model)
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{path} does not fit this config's network: {exc}") from exc
        past = self._past_selves()
        if past is not None and state.get("past") is None:
            # A fork that brings past selves in: its starting weights are the first, as a run's.
            past.add(weights_copy(model))
        elif past is not None:
            try:
                past.restore(state["past"])
            except (ValueError, KeyError, TypeError) as exc:
                raise CheckpointError(f"{path} holds no usable past selves: {exc}") from exc
        try:
            cfg = self.config
            envs = SelfPlayEnvs.from_portable(
                state["envs"], cfg.num_envs, cfg.max_plies, *self._training_players(past)
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{path} holds unusable games: {exc}") from exc
        action_generator = torch.Generator()
        shuffle_rng = np.random.default_rng()
        restore_rng(state["rng"], action_generator, shuffle_rng, dry_run=True)
        # Everything checked: adopt it.
        restore_rng(state["rng"], action_generator, shuffle_rng)
        self.model, self.optimizer, self.scheduler, self.envs = model, optimizer, scheduler, envs
        self.past = past
        self.action_generator, self.shuffle_rng = action_generator, shuffle_rng
        self.global_step = int(state["global_step"])
        self.update = int(state["update"])
        self.counters = {k: int(v) for k, v in state["counters"].items()}
        self.last_metrics = {k: float(v) for k, v in state["metrics"].items()}
        self._take_boundary()
        self.callbacks.on_event(
            "log", f"resumed from {path} at step {self.global_step}", {"path": str(path)}
        )
