"""Who may see, steer or download a run: decided here and nowhere else.

Today a run is seen and steered by its owner and by staff, and nobody anonymous or inactive
sees anything. Pages, the API, downloads, the league, compare, evaluation and command
opponents, the admin, and (through ``monitoring.access``) the WebSocket consumers and the
system page all ask this module, so roles or sharing are a change here alone.

A refusal is ``NotFound``: another user's run answers exactly as an absent one (404, never
403, which would say it exists).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Q, QuerySet

from monitoring.errors import NotFound
from runs.models import Checkpoint, GameRecord, Preset, Run


def is_active_user(user: Any) -> bool:
    """Signed in and not deactivated: the least anyone needs to see anything."""
    return bool(
        user is not None
        and getattr(user, "is_authenticated", False)
        and getattr(user, "is_active", False)
    )


def runs_visible(*, user: Any) -> QuerySet[Run]:
    """Every run ``user`` may see (no order imposed here)."""
    runs = Run.objects.select_related("owner")
    if not is_active_user(user):
        return runs.none()
    if user.is_staff:
        return runs.all()
    return runs.filter(owner=user)


def runs_steerable(*, user: Any) -> QuerySet[Run]:
    """Every run ``user`` may steer (stop, pause, ...). Today the same people as may see it;
    kept apart so a read-only role is a change here only."""
    return runs_visible(user=user)


def run_for_viewer(*, user: Any, run_id: int) -> Run:
    """The run if ``user`` may see it; ``NotFound`` otherwise."""
    run = runs_visible(user=user).filter(pk=run_id).first()
    if run is None:
        raise NotFound("no such run")
    return run


def run_for_steerer(*, user: Any, run_id: int) -> Run:
    """The run if ``user`` may steer it; ``NotFound`` otherwise (a run one may see but not
    steer would say so when roles exist; today there is none)."""
    run = runs_steerable(user=user).filter(pk=run_id).first()
    if run is None:
        raise NotFound("no such run")
    return run


def may_view_run(user: Any, run_id: int) -> bool:
    """For ``monitoring.access`` (WebSocket consumers, the system page): a yes or a no."""
    return runs_visible(user=user).filter(pk=run_id).exists()


def may_steer_run(*, user: Any, run: Run) -> bool:
    """Whether the run page offers its steering buttons to ``user``."""
    return runs_steerable(user=user).filter(pk=run.pk).exists()


def runs_for_viewer(*, user: Any, run_ids: Iterable[int]) -> list[Run]:
    """The runs named, in that order; ``NotFound`` if any is not one ``user`` may see (which
    one is not said)."""
    ids = list(run_ids)
    visible = runs_visible(user=user).filter(pk__in=ids).in_bulk()
    if len(visible) != len(set(ids)):
        raise NotFound("no such run")
    return [visible[run_id] for run_id in ids]


def run_ids_visible(*, user: Any, run_ids: Iterable[int]) -> set[int]:
    """Which of ``run_ids`` ``user`` may see (the league names only those)."""
    return set(runs_visible(user=user).filter(pk__in=list(run_ids)).values_list("pk", flat=True))


def checkpoint_for_viewer(*, user: Any, run_id: int, checkpoint_id: int) -> Checkpoint:
    """A checkpoint of a run ``user`` may see (to download or evaluate); ``NotFound`` else."""
    checkpoint = (
        Checkpoint.objects.select_related("run")
        .filter(pk=checkpoint_id, run_id=run_id, run__in=runs_visible(user=user))
        .first()
    )
    if checkpoint is None:
        raise NotFound("no such checkpoint")
    return checkpoint


def checkpoint_for_opponent(*, user: Any, checkpoint_id: int) -> Checkpoint:
    """A checkpoint ``user`` may name as an opponent (``checkpoint:<id>`` of a command, the
    opponent of an evaluation job): one of any run they may see; ``NotFound`` otherwise."""
    checkpoint = (
        Checkpoint.objects.select_related("run")
        .filter(pk=checkpoint_id, run__in=runs_visible(user=user))
        .first()
    )
    if checkpoint is None:
        raise NotFound(f"no checkpoint {checkpoint_id} that you may use")
    return checkpoint


def game_record_for_viewer(*, user: Any, run_id: int, record_id: int) -> GameRecord:
    """A game record of a run ``user`` may see; ``NotFound`` otherwise."""
    record = GameRecord.objects.filter(
        pk=record_id, run_id=run_id, run__in=runs_visible(user=user)
    ).first()
    if record is None:
        raise NotFound("no such game record")
    return record


def presets_visible(*, user: Any) -> QuerySet[Preset]:
    """The user's own presets and every shared one."""
    if not is_active_user(user):
        return Preset.objects.none()
    return Preset.objects.filter(Q(owner=user) | Q(shared=True)).select_related("owner")


def presets_owned(*, user: Any) -> QuerySet[Preset]:
    """The presets ``user`` may change or delete: their own."""
    if not is_active_user(user):
        return Preset.objects.none()
    return Preset.objects.filter(owner=user)
