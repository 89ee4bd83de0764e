"""The league: Elo ratings of checkpoints across every run, kept by matches between neighbours.

Best and final shogi-ppo checkpoints enter on their own (``league_consider``) at 1000. Beat
calls ``league_round`` every ``KEISEI_LEAGUE_SECONDS``: the entries with the fewest games are
paired with their nearest neighbours in the rating list, and each pair plays a short match.

Elo: the whole match is one rating period. With ``E = 1 / (1 + 10 ** ((R_b - R_a) / 400))``
the expected score of A per game, A gains ``K * (S - n * E)`` where S is A's score (a win 1, a
draw 1/2) over n games, and B loses the same; K = 16 per game. Both ratings are read before
the match, so the order of games within it does not matter.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F

from runs import selectors
from runs.models import Checkpoint, CheckpointKind, GameSource, LeagueEntry, LeagueMatch
from runs.services.checkpoints import checkpoint_fetch
from runs.services.errors import CheckpointUnusable
from runs.services.records import game_record_store

log = logging.getLogger(__name__)

K_FACTOR = 16.0
START_RATING = 1000.0
LEAGUE_TRAINERS = ("shogi-ppo",)
LEAGUE_KINDS = (CheckpointKind.BEST, CheckpointKind.FINAL)
# One round at a time across every worker (a session-level PostgreSQL advisory lock).
ROUND_LOCK_KEY = 0x4B45_4953  # "KEIS"
HIDDEN_RUN = "hidden run"
# The first games of each match are kept as records on both runs; the rest only count.
LEAGUE_RECORDED_GAMES = 2


# ----- Elo ------------------------------------------------------------------------------------


def elo_expected(rating: float, other: float) -> float:
    """The expected score per game of a player rated ``rating`` against ``other``."""
    return 1.0 / (1.0 + 10.0 ** ((other - rating) / 400.0))


def elo_change(
    *, rating: float, other: float, wins: int, draws: int, losses: int, k: float = K_FACTOR
) -> float:
    """What a match adds to the first player's rating (the second loses as much)."""
    games = wins + draws + losses
    return k * ((wins + 0.5 * draws) - games * elo_expected(rating, other))


# ----- entering ---------------------------------------------------------------------------------


def league_consider(checkpoint: Checkpoint) -> LeagueEntry | None:
    """Enter ``checkpoint`` if it qualifies (a best or final shogi-ppo checkpoint); else None.

    Called for every checkpoint a trainer reports; entering twice is a no-op.
    """
    if checkpoint.kind not in LEAGUE_KINDS or checkpoint.run.trainer not in LEAGUE_TRAINERS:
        return None
    return league_enter(checkpoint=checkpoint)


def league_enter(*, checkpoint: Checkpoint) -> LeagueEntry:
    """Put a checkpoint in the league at the starting rating (or return its entry)."""
    try:
        with transaction.atomic():
            entry, _ = LeagueEntry.objects.get_or_create(checkpoint=checkpoint)
    except IntegrityError:  # entered by someone else between the get and the create
        entry = LeagueEntry.objects.get(checkpoint=checkpoint)
    return entry


# ----- pairing ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Contender:
    id: int
    rating: float
    games: int


def league_pairings(contenders: Sequence[Contender], *, max_matches: int) -> list[tuple[int, int]]:
    """Pairs of entry ids for one round, at most ``max_matches``, nobody twice.

    Entries with the fewest games choose first (ties: the older entry); each takes its nearest
    unpaired neighbour in the rating list, above or below (ties: fewer games, then the closer
    rating, then the older entry).
    """
    ranked = sorted(contenders, key=lambda c: (-c.rating, c.id))
    position = {c.id: i for i, c in enumerate(ranked)}
    paired: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for chooser in sorted(contenders, key=lambda c: (c.games, c.id)):
        if len(pairs) >= max_matches:
            break
        if chooser.id in paired:
            continue
        i = position[chooser.id]
        for distance in range(1, len(ranked)):
            near = [
                ranked[j]
                for j in (i - distance, i + distance)
                if 0 <= j < len(ranked) and ranked[j].id not in paired
            ]
            if near:
                rival = min(near, key=lambda c: (c.games, abs(c.rating - chooser.rating), c.id))
                paired |= {chooser.id, rival.id}
                pairs.append((chooser.id, rival.id))
                break
    return pairs


# ----- matches ----------------------------------------------------------------------------------


def league_record_match(
    *, first_id: int, second_id: int, wins: int, draws: int, losses: int
) -> LeagueMatch:
    """Store a match (``first``'s W/D/L) and move both ratings by the Elo change."""
    games = wins + draws + losses
    now = dt.datetime.now(dt.UTC)
    with transaction.atomic():
        # Row locks, in id order so two writers can never deadlock on the same pair.
        locked = {
            e.pk: e
            for e in LeagueEntry.objects.select_for_update()
            .filter(pk__in=[first_id, second_id])
            .order_by("pk")
        }
        first, second = locked[first_id], locked[second_id]
        change = elo_change(
            rating=first.rating, other=second.rating, wins=wins, draws=draws, losses=losses
        )
        match = LeagueMatch.objects.create(
            first=first,
            second=second,
            games=games,
            wins=wins,
            draws=draws,
            losses=losses,
            first_rating_before=first.rating,
            second_rating_before=second.rating,
            rating_change=change,
        )
        for entry_id, delta, won, lost in (
            (first_id, change, wins, losses),
            (second_id, -change, losses, wins),
        ):
            LeagueEntry.objects.filter(pk=entry_id).update(
                rating=F("rating") + delta,
                games=F("games") + games,
                wins=F("wins") + won,
                draws=F("draws") + draws,
                losses=F("losses") + lost,
                last_played_at=now,
            )
    return match


def league_round(*, matches: int | None = None, games: int | None = None) -> list[int]:
    """Pair the active entries and play each match; the ids of the matches played.

    Only one round runs at a time: a round that finds another still playing returns at once.
    """
    matches = settings.KEISEI_LEAGUE_MATCHES_PER_ROUND if matches is None else matches
    games = settings.KEISEI_LEAGUE_GAMES if games is None else games
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [ROUND_LOCK_KEY])
        (locked,) = cursor.fetchone()
    if not locked:
        log.info("a league round is still playing; this one is skipped")
        return []
    try:
        contenders = [
            Contender(id=e.pk, rating=e.rating, games=e.games)
            for e in LeagueEntry.objects.filter(is_active=True)
        ]
        played = []
        for first_id, second_id in league_pairings(contenders, max_matches=matches):
            match = _league_play(first_id=first_id, second_id=second_id, games=games)
            if match is not None:
                played.append(match.pk)
        return played
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [ROUND_LOCK_KEY])


def _league_play(*, first_id: int, second_id: int, games: int) -> LeagueMatch | None:
    """One match; an entry whose file cannot be played is retired with the reason."""
    import torch

    from keisei.shogi.checkpoint import CheckpointError
    from keisei.shogi.players import evaluate_checkpoint

    entries = LeagueEntry.objects.select_related("checkpoint").in_bulk([first_id, second_id])
    first, second = entries[first_id], entries[second_id]
    workdir = Path(settings.KEISEI_WORK_DIR) / f"league-{uuid.uuid4().hex[:12]}"
    paths: dict[int, Path] = {}
    try:
        for entry, folder in ((first, "first"), (second, "second")):
            try:
                paths[entry.pk] = checkpoint_fetch(entry.checkpoint, workdir / folder)
            except CheckpointUnusable as exc:
                _league_retire(entry, str(exc))
                return None
        torch.set_num_threads(1)
        try:
            result, records = evaluate_checkpoint(
                paths[first_id],
                paths[second_id],
                games=games,
                max_plies=None,
                seed=first_id * 7919 + second_id + (first.games + second.games),
                record_games=LEAGUE_RECORDED_GAMES,
                names=(league_player_name(first), league_player_name(second)),
            )
        except CheckpointError as exc:
            # The message names the file; the file names which of the two is bad.
            bad = first if str(paths[first_id]) in str(exc) else second
            _league_retire(bad, str(exc))
            return None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    with transaction.atomic():  # the match and its records, or neither
        match = league_record_match(
            first_id=first_id,
            second_id=second_id,
            wins=result.wins,
            draws=result.draws,
            losses=result.losses,
        )
        for entry in _distinct_runs(first, second):
            for record in records:
                game_record_store(
                    run_id=entry.checkpoint.run_id,
                    record={**record, "step": entry.checkpoint.step},
                    source=GameSource.LEAGUE,
                )
    return match


def league_player_name(entry: LeagueEntry) -> str:
    """How an entry is named in game records: its public league id, never its run (the
    other side's owner may not be allowed to see that run)."""
    return f"league entry {entry.pk}"


def _distinct_runs(*entries: LeagueEntry) -> list[LeagueEntry]:
    """One entry per run: a run that plays itself gets its records once."""
    seen: dict[int, LeagueEntry] = {}
    for entry in entries:
        seen.setdefault(entry.checkpoint.run_id, entry)
    return list(seen.values())


def _league_retire(entry: LeagueEntry, reason: str) -> None:
    log.warning("league entry %s retired: %s", entry.pk, reason)
    LeagueEntry.objects.filter(pk=entry.pk).update(is_active=False, retired_reason=reason[:2000])


# ----- standings ------------------------------------------------------------------------------


def league_standings(*, user: Any) -> list[dict[str, Any]]:
    """Every entry, strongest first. Ratings are for everyone; which run (and checkpoint) an
    entry is, only for people who may see that run: for others it is a "hidden run"."""
    entries = list(
        LeagueEntry.objects.select_related("checkpoint__run__owner").order_by(
            "-is_active", "-rating", "id"
        )
    )
    run_ids = {e.checkpoint.run_id for e in entries}
    visible = set(
        selectors.run_list_visible(user=user).filter(pk__in=run_ids).values_list("pk", flat=True)
    )
    standings = []
    for rank, entry in enumerate(entries, start=1):
        checkpoint = entry.checkpoint
        run = checkpoint.run
        shown = run.pk in visible
        standings.append(
            {
                "rank": rank,
                "id": entry.pk,
                "rating": round(entry.rating, 1),
                "games": entry.games,
                "wins": entry.wins,
                "draws": entry.draws,
                "losses": entry.losses,
                "is_active": entry.is_active,
                "retired_reason": entry.retired_reason if shown else "",
                "entered_at": entry.entered_at.isoformat(),
                "last_played_at": entry.last_played_at.isoformat()
                if entry.last_played_at
                else None,
                "label": f"{run.display_name} @ step {checkpoint.step}" if shown else HIDDEN_RUN,
                "run": {"id": run.pk, "name": run.display_name, "owner": run.owner.get_username()}
                if shown
                else None,
                "checkpoint": {
                    "id": checkpoint.pk,
                    "step": checkpoint.step,
                    "kind": checkpoint.kind,
                }
                if shown
                else None,
            }
        )
    return standings
