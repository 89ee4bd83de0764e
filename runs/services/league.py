"""The league: Elo ratings of checkpoints across every run, kept by matches between neighbours.

Best and final checkpoints of trainers that play games enter on their own
(``league_consider``) at 1000. Beside them sit **anchors**: the built-in players a trainer
states a fixed rating for (``Trainer.anchor_ratings``: shogi-ppo's random 1000, greedy 2000,
two_ply 3000), so that a rating means the same thing across the site's lifetime. Beat calls
``league_round`` every ``KEISEI_LEAGUE_SECONDS``: the checkpoint entries with the fewest games
are paired with their nearest neighbours of the same trainer in the rating list (an anchor or
another checkpoint; anchors never meet each other), and each pair plays a short match.

Elo: the whole match is one rating period. With ``E = 1 / (1 + 10 ** ((R_b - R_a) / 400))``
the expected score of A per game, A gains ``K * (S - n * E)`` where S is A's score (a win 1, a
draw 1/2) over n games, and B loses the same; K = 16 per game. Both ratings are read before
the match, so the order of games within it does not matter. An anchor's rating never moves:
its opponent gains or loses as against any player of that rating, and the anchor only counts
the games.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from keisei.registry import available_trainers, get_trainer
from runs.locks import AdvisoryLock, advisory_lock_try
from runs.models import Checkpoint, CheckpointKind, GameSource, LeagueEntry, LeagueMatch
from runs.services.arena import ArenaFeed
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


def league_anchors_ensure() -> list[LeagueEntry]:
    """Every anchor the installed trainers state, present and at its stated rating.

    Idempotent (called before each round). A rating changed in a trainer's code is adopted
    here: it is a fixed point of the scale, not a result of matches.
    """
    anchors = []
    for trainer in available_trainers():
        if not trainer_plays_games(trainer):
            continue
        for builtin, rating in get_trainer(trainer).anchor_ratings.items():
            try:
                with transaction.atomic():
                    entry, _ = LeagueEntry.objects.update_or_create(
                        trainer=trainer, builtin=builtin, defaults={"rating": float(rating)}
                    )
            except IntegrityError:  # created by a concurrent caller: it wrote the same rating
                entry = LeagueEntry.objects.get(trainer=trainer, builtin=builtin)
            anchors.append(entry)
    return anchors


# ----- pairing ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Contender:
    id: int
    rating: float
    games: int
    trainer: str = ""
    is_anchor: bool = False  # a fixed-rating built-in player: it is chosen, never chooses


def league_pairings(contenders: Sequence[Contender], *, max_matches: int) -> list[tuple[int, int]]:
    """Pairs of entry ids for one round, at most ``max_matches``, nobody twice.

    Checkpoint entries with the fewest games choose first (ties: the older entry); each takes
    its nearest unpaired neighbour of the same trainer in the rating list, above or below
    (ties: fewer games, then the closer rating, then the older entry). Anchors only answer:
    they never choose, so two anchors (whose ratings cannot move) never meet.
    """
    # One rating list per trainer: entries of different trainers cannot play each other.
    ranked: dict[str, list[Contender]] = {}
    for contender in sorted(contenders, key=lambda c: (-c.rating, c.id)):
        ranked.setdefault(contender.trainer, []).append(contender)
    position = {c.id: i for field in ranked.values() for i, c in enumerate(field)}
    paired: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for chooser in sorted(contenders, key=lambda c: (c.games, c.id)):
        if len(pairs) >= max_matches:
            break
        if chooser.id in paired or chooser.is_anchor:
            continue
        field, i = ranked[chooser.trainer], position[chooser.id]
        for distance in range(1, len(field)):
            near = [
                field[j]
                for j in (i - distance, i + distance)
                if 0 <= j < len(field) and field[j].id not in paired
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
    """Store a match (``first``'s W/D/L) and move both ratings by the Elo change; an anchor's
    rating stays where it is (its games are counted)."""
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
        for entry, delta, won, lost in (
            (first, change, wins, losses),
            (second, -change, losses, wins),
        ):
            LeagueEntry.objects.filter(pk=entry.pk).update(
                rating=F("rating") + (0.0 if entry.is_anchor else delta),
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
        league_anchors_ensure()
        contenders = [
            Contender(
                id=e.pk,
                rating=e.rating,
                games=e.games,
                trainer=e.checkpoint.run.trainer if e.checkpoint else e.trainer,
                is_anchor=e.is_anchor,
            )
            for e in LeagueEntry.objects.filter(is_active=True).select_related("checkpoint__run")
        ]
        played = []
        for first_id, second_id in league_pairings(contenders, max_matches=matches):
            match = _league_play(first_id=first_id, second_id=second_id, games=games)
            if match is not None:
                played.append(match.pk)
        return played


def _league_play(*, first_id: int, second_id: int, games: int) -> LeagueMatch | None:
    """One match; an entry whose file cannot be played is retired with the reason. The first
    entry is the chooser, a checkpoint (anchors never choose): it plays as the agent."""
    entries = LeagueEntry.objects.select_related("checkpoint__run").in_bulk([first_id, second_id])
    first, second = entries[first_id], entries[second_id]
    if first.checkpoint is None:
        raise ValueError(f"league entry {first_id} is an anchor: anchors never choose")
    rival = (
        Opponent(name=second.builtin)
        if second.checkpoint is None
        else Opponent.of_checkpoint(second.checkpoint)
    )
    seed = first_id * 7919 + second_id + (first.games + second.games)
    names = (league_player_name(first), league_player_name(second))
    # The arena shows the match live to the viewers of the first player's run.
    feed = ArenaFeed(
        run_id=first.checkpoint.run_id,
        owner_id=first.checkpoint.run.owner_id,
        game=f"league:{first_id}:{second_id}:{seed}",
        source=GameSource.LEAGUE,
        title=f"league: {names[0]} vs {names[1]}",
        players=names,
        ratings=(round(first.rating, 1), round(second.rating, 1)),
    )
    try:
        outcome = match_play(
            agent=first.checkpoint,
            opponent=rival,
            games=games,
            seed=seed,
            record_games=LEAGUE_RECORDED_GAMES,
            names=names,
            watch=feed,
        )
    except MatchUnplayable as exc:
        _league_retire(first if exc.checkpoint.pk == first.checkpoint_id else second, str(exc))
        return None
    finally:
        feed.finish()
    result = outcome.result
    with transaction.atomic():  # the match and its records, or neither
        match = league_record_match(
            first_id=first_id,
            second_id=second_id,
            wins=result["wins"],
            draws=result["draws"],
            losses=result["losses"],
        )
        stored = [
            game_record_store(
                run_id=checkpoint.run_id,
                record={**record, "step": checkpoint.step},
                source=GameSource.LEAGUE,
                checkpoint_id=checkpoint.pk,
            )
            for checkpoint in _distinct_runs(first, second)
            for record in outcome.records
        ]
        match.game_records.add(*stored)  # the league page links a match to its games
    return match


def league_player_name(entry: LeagueEntry) -> str:
    """How an entry is named in game records: its public league id, never its run (the
    other side's owner may not be allowed to see that run); an anchor by its player."""
    return f"anchor {entry.builtin}" if entry.is_anchor else f"league entry {entry.pk}"


def _distinct_runs(*entries: LeagueEntry) -> list[Checkpoint]:
    """The entries' checkpoints, one per run: a run that plays itself gets its records once
    (anchors have no run and get none)."""
    seen: dict[int, Checkpoint] = {}
    for entry in entries:
        if entry.checkpoint is not None:
            seen.setdefault(entry.checkpoint.run_id, entry.checkpoint)
    return list(seen.values())


def _league_retire(entry: LeagueEntry, reason: str) -> None:
    log.warning("league entry %s retired: %s", entry.pk, reason)
    LeagueEntry.objects.filter(pk=entry.pk).update(is_active=False, retired_reason=reason[:2000])
