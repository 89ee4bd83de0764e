"""The league: Elo ratings of checkpoints across every run, kept by matches between neighbours.

Best and final checkpoints of trainers that play games enter on their own
(``league_consider``) at 1000. Beat calls ``league_round`` every ``KEISEI_LEAGUE_SECONDS``: the
entries with the fewest games are paired with their nearest neighbours in the rating list,
and each pair plays a short match.

Elo: the whole match is one rating period. With ``E = 1 / (1 + 10 ** ((R_b - R_a) / 400))``
the expected score of A per game, A gains ``K * (S - n * E)`` where S is A's score (a win 1, a
draw 1/2) over n games, and B loses the same; K = 16 per game. Both ratings are read before
the match, so the order of games within it does not matter.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from runs.locks import AdvisoryLock, advisory_lock_try
from runs.models import Checkpoint, CheckpointKind, GameSource, LeagueEntry, LeagueMatch
from runs.services.matches import MatchUnplayable, Opponent, match_play, trainer_plays_games
from runs.services.records import game_record_store

log = logging.getLogger(__name__)

K_FACTOR = 16.0
START_RATING = 1000.0
LEAGUE_KINDS = (CheckpointKind.BEST, CheckpointKind.FINAL)
# The first games of each match are kept as records on both runs; the rest only count.
LEAGUE_RECORDED_GAMES = 2


# ----- Elo ------------------------------------------------------------------------------------


def elo_expected(rating: float, other: float) -> float:
    """The expected score per game of a player rated ``rating`` against ``other``."""
    return 1.0 / (1.0 + float(10.0 ** ((other - rating) / 400.0)))


def elo_change(
    *, rating: float, other: float, wins: int, draws: int, losses: int, k: float = K_FACTOR
) -> float:
    """What a match adds to the first player's rating (the second loses as much)."""
    games = wins + draws + losses
    return k * ((wins + 0.5 * draws) - games * elo_expected(rating, other))


# ----- entering ---------------------------------------------------------------------------------


def league_consider(checkpoint: Checkpoint) -> LeagueEntry | None:
    """Enter ``checkpoint`` if it qualifies (a best or final checkpoint of a trainer that plays
    games); else None.

    Called for every checkpoint a trainer reports; entering twice is a no-op.
    """
    if checkpoint.kind not in LEAGUE_KINDS or not trainer_plays_games(checkpoint.run.trainer):
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
    with advisory_lock_try(AdvisoryLock.LEAGUE_ROUND) as taken:
        if not taken:
            log.info("a league round is still playing; this one is skipped")
            return []
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


def _league_play(*, first_id: int, second_id: int, games: int) -> LeagueMatch | None:
    """One match; an entry whose file cannot be played is retired with the reason."""
    entries = LeagueEntry.objects.select_related("checkpoint__run").in_bulk([first_id, second_id])
    first, second = entries[first_id], entries[second_id]
    try:
        outcome = match_play(
            agent=first.checkpoint,
            opponent=Opponent.of_checkpoint(second.checkpoint),
            games=games,
            seed=first_id * 7919 + second_id + (first.games + second.games),
            record_games=LEAGUE_RECORDED_GAMES,
            names=(league_player_name(first), league_player_name(second)),
        )
    except MatchUnplayable as exc:
        _league_retire(first if exc.checkpoint.pk == first.checkpoint_id else second, str(exc))
        return None
    result = outcome.result
    with transaction.atomic():  # the match and its records, or neither
        match = league_record_match(
            first_id=first_id,
            second_id=second_id,
            wins=result["wins"],
            draws=result["draws"],
            losses=result["losses"],
        )
        for entry in _distinct_runs(first, second):
            for record in outcome.records:
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
