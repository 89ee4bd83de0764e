"""Playing a checkpoint: start a game, move, resign. Writes only; reads are in selectors.

The engine judges and answers (``keisei.interfaces.GameOpponent``, served by
``runs.services.analysis.opponent_use``: the analyses' bounded pool and network cache, off
Daphne's event loop). A move is stored by compare-and-swap on the game's ply: two requests
for the same ply (a double click, two tabs) store one move and the other is told 409; a
finished game changes no more, and its ``GameRecord`` is stored by the one request that
finished it.
"""

from __future__ import annotations

import math
import secrets
from typing import Any

from django.db import transaction
from django.utils import timezone

from keisei.interfaces import GameOpponent, MoveRefused
from monitoring.errors import ApplicationError
from play.models import PlayGame, PlayMode, PlayStatus, Side
from runs import access
from runs.models import Checkpoint, GameRecord, GameSource
from runs.services.analysis import opponent_use
from runs.services.errors import FieldsRefused
from runs.services.records import game_record_store

TEMPERATURE_MIN, TEMPERATURE_MAX, TEMPERATURE_DEFAULT = 0.05, 5.0, 1.0
TOP_K = 5  # candidate moves shown beside the board
START = "startpos"


class PlayRejected(FieldsRefused):
    """A game cannot be started or played as asked; ``fields`` names what to fix."""

    code = "play_rejected"


class MoveIllegal(FieldsRefused):
    """The rules refuse the person's move; the reason is under ``move``."""

    code = "illegal_move"


class PlayConflict(ApplicationError):
    """The game moved on (a stale ply) or is over: nothing was stored (409)."""

    code = "play_conflict"
    status = 409

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message, fields={field: [message]})


def play_temperature(raw: Any) -> float:
    """The sampled mode's temperature from a form or JSON value (empty: the default);
    ``PlayRejected`` naming ``temperature`` for anything but a number in the bounds."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return TEMPERATURE_DEFAULT
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(raw, bool) or not (
        math.isfinite(value) and TEMPERATURE_MIN <= value <= TEMPERATURE_MAX
    ):
        raise PlayRejected(
            {"temperature": [f"a number from {TEMPERATURE_MIN:g} to {TEMPERATURE_MAX:g}"]}
        )
    return value


def _names(game: PlayGame) -> tuple[str, str]:
    """Black's and White's names in the record: ``user:<name>`` and ``checkpoint:<id>``."""
    person = f"user:{game.user.get_username()}"
    network = f"checkpoint:{game.checkpoint_id}"
    return (person, network) if game.side == Side.BLACK else (network, person)


def _temperature(game: PlayGame) -> float:
    return 0.0 if game.mode == PlayMode.GREEDY else game.temperature


def play_game_create(
    *, user: Any, checkpoint: Any, side: Any = "", mode: Any = "", temperature: Any = None
) -> PlayGame:
    """A new game of ``user`` against ``checkpoint`` (an id of a checkpoint of a run they may
    see: their own, shared with them or public). With White, the network's first move is
    played at once. ``NotFound`` for a checkpoint they may not see (as for one that does not
    exist); ``PlayRejected`` naming ``checkpoint``, ``side``, ``mode`` or ``temperature``."""
    errors: dict[str, list[str]] = {}
    side = str(side or Side.BLACK).strip().lower()
    if side not in Side.values:
        errors["side"] = ["black or white"]
    mode = str(mode or PlayMode.GREEDY).strip().lower()
    if mode not in PlayMode.values:
        errors["mode"] = ["greedy or sampled"]
    try:
        chosen_temperature = play_temperature(temperature)
    except PlayRejected as exc:
        errors.update(exc.fields)
        chosen_temperature = TEMPERATURE_DEFAULT
    raw = str(checkpoint if checkpoint is not None else "").strip().removeprefix("checkpoint:")
    if not raw.isdigit():
        errors["checkpoint"] = ["choose a checkpoint (its id)"]
    if errors:
        raise PlayRejected(errors)
    found: Checkpoint = access.checkpoint_for_opponent(user=user, checkpoint_id=int(raw))
    game = PlayGame(
        user=user,
        checkpoint=found,
        side=side,
        mode=mode,
        temperature=chosen_temperature,
        seed=secrets.randbelow(2**31),
        start_sfen=START,
    )
    if side == Side.WHITE:
        names = _names(game)
        turn = opponent_use(checkpoint=found, work=lambda o: _turn(o, game, None, names))
        _apply(game, turn)
    else:
        game.state, game.analysis = opponent_use(checkpoint=found, work=_opening)
    game.save()
    return game


def _opening(opponent: GameOpponent) -> tuple[dict[str, Any], dict[str, Any]]:
    """The start position's state, and its analysis for the person who has the first move."""
    state = opponent.game_state(START, [])
    answer = opponent.analyse([state["sfen"]], top_k=TOP_K)[0]
    return state, {key: answer[key] for key in ("value", "win_probability", "top_moves")}


def _turn(
    opponent: GameOpponent, game: PlayGame, move: str | None, names: tuple[str, str]
) -> dict[str, Any]:
    """One turn by the engine, with the record if it ended the game (same pool slot). Runs
    on an analysis thread: everything it needs from the database is read before."""
    turn = opponent.play_turn(
        game.start_sfen,
        list(game.moves),
        move,
        temperature=_temperature(game),
        seed=game.seed + game.ply,
        top_k=TOP_K,
    )
    if turn["state"]["over"]:
        turn["record"] = opponent.game_record(game.start_sfen, turn["moves"], names=names)
    return turn


def _apply(game: PlayGame, turn: dict[str, Any]) -> None:
    state = turn["state"]
    game.moves = list(turn["moves"])
    game.ply = len(game.moves)
    game.state = state
    game.analysis = turn["analysis"]
    game.model_move = turn["model_move"] or ""
    if state["over"]:
        game.status = PlayStatus.FINISHED
        game.result, game.reason = state["result"], state["reason"]


def play_game_move(*, game: PlayGame, move: Any, ply: Any) -> dict[str, Any]:
    """The person's ``move`` (USI) at ``ply`` (the ply count they saw), then the network's
    answer. ``MoveIllegal`` naming ``move`` with the rules' reason; ``PlayConflict`` (409)
    for a finished game or a stale ply; ``PlayRejected`` for a missing move or ply. Returns
    the turn: the network's move, its probability and the analysis shown."""
    errors: dict[str, list[str]] = {}
    if not isinstance(move, str) or not move.strip():
        errors["move"] = ["a move in USI notation (e.g. 7g7f, 8h2b+, P*5e)"]
    if isinstance(ply, bool) or not isinstance(ply, int) or ply < 0:
        errors["ply"] = ["the ply count of the position you moved in (a whole number)"]
    if errors:
        raise PlayRejected(errors)
    _ensure_current(game, ply)
    names = _names(game)
    try:
        turn = opponent_use(
            checkpoint=game.checkpoint, work=lambda o: _turn(o, game, move.strip(), names)
        )
    except MoveRefused as exc:
        raise MoveIllegal({"move": [str(exc)]}) from exc
    seen = game.ply
    _apply(game, turn)
    with transaction.atomic():
        # Compare-and-swap on the ply: zero rows means another request stored this ply first
        # (or finished the game); its moves stand and this turn is dropped whole.
        stored = PlayGame.objects.filter(pk=game.pk, ply=seen, status=PlayStatus.ACTIVE).update(
            moves=game.moves,
            ply=game.ply,
            state=game.state,
            analysis=game.analysis,
            model_move=game.model_move,
            status=game.status,
            result=game.result,
            reason=game.reason,
            updated_at=timezone.now(),
        )
        if not stored:
            raise PlayConflict(
                "the game moved on while this move was played: reload it", field="ply"
            )
        if game.status == PlayStatus.FINISHED:
            _store_record(game, turn["record"])
    return turn


def _ensure_current(game: PlayGame, ply: int | None) -> None:
    if game.status != PlayStatus.ACTIVE:
        raise PlayConflict(f"the game is over ({game.reason})", field="move")
    if ply is not None and ply != game.ply:
        raise PlayConflict(f"the game is at ply {game.ply}, not {ply}: reload it", field="ply")


def play_game_resign(*, game: PlayGame, ply: Any = None) -> PlayGame:
    """The person resigns (on their move, as every active game waits for it); the game is
    stored as a record of the checkpoint's run. ``PlayConflict`` (409) if it is over or at
    another ply than ``ply`` (when given)."""
    if ply is not None and (isinstance(ply, bool) or not isinstance(ply, int)):
        raise PlayRejected({"ply": ["the ply count of the position (a whole number)"]})
    _ensure_current(game, ply)
    names = _names(game)  # read here: the work runs on an analysis thread
    record = opponent_use(
        checkpoint=game.checkpoint,
        work=lambda o: o.game_record(
            game.start_sfen, list(game.moves), names=names, resigned=game.side
        ),
    )
    with transaction.atomic():
        # The same guard as a move: a move stored meanwhile, or a second resign, wins.
        stored = PlayGame.objects.filter(pk=game.pk, ply=game.ply, status=PlayStatus.ACTIVE).update(
            status=PlayStatus.FINISHED,
            result=record["result"],
            reason=record["reason"],
            state={**game.state, "over": True, "legal_moves": [], **_ending(record)},
            analysis=None,
            updated_at=timezone.now(),
        )
        if not stored:
            raise PlayConflict("the game moved on or ended meanwhile: reload it", field="ply")
        game.refresh_from_db()
        _store_record(game, record)
    return game


def _ending(record: dict[str, Any]) -> dict[str, Any]:
    return {"result": record["result"], "reason": record["reason"]}


def _store_record(game: PlayGame, record: dict[str, Any]) -> GameRecord:
    """The finished game as a ``human`` record of the checkpoint's run (once: the caller
    holds the compare-and-swap that finished it)."""
    checkpoint = game.checkpoint
    stored = game_record_store(
        run_id=checkpoint.run_id,
        record={**record, "step": checkpoint.step},
        source=GameSource.HUMAN,
    )
    GameRecord.objects.filter(pk=stored.pk).update(checkpoint=checkpoint)
    PlayGame.objects.filter(pk=game.pk).update(record=stored)
    game.record = stored
    return stored
