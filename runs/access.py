"""Who may see, steer or download a run: decided here and nowhere else.

Roles (docs/security.md): staff see and steer everything; a trainer (anyone else) owns and
steers their runs; a viewer (member of the "viewers" group) may not queue runs. Anyone signed
in and active also sees, read-only, the runs shared with them (``RunShare``: with them or with
one of their groups) and every public run (``Run.public``). Nobody anonymous or inactive sees
anything. Pages, the API, downloads, the league, compare, evaluation and command opponents,
the admin, and (through ``monitoring.access``) the WebSocket consumers and the system page all
ask this module.

A run one may not see is ``NotFound``: it answers exactly as an absent one (404, never 403,
which would say it exists). A run one may see but not steer is ``RunReadOnly`` (403): its
existence is no secret to someone who can watch it, and "read-only" is the useful answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from monitoring.errors import ApplicationError, NotFound
from runs.models import VIEWERS_GROUP, Checkpoint, GameRecord, Preset, Run, RunShare


class RunReadOnly(ApplicationError):
    """The caller may see the run (shared with them, or public) but not change it."""

    code = "run_read_only"
    status = 403

    def __init__(self, run_id: int) -> None:
        super().__init__(
            f"run {run_id} is shared with you read-only: only its owner or staff may change it",
            extra={"run": run_id},
        )


class ViewerCannotQueue(ApplicationError):
    """A viewer (member of the "viewers" group) asked to queue a run: they watch, never train."""

    code = "viewer_cannot_queue"
    status = 403

    def __init__(self, username: str) -> None:
        super().__init__(
            f"{username} has the viewer role (group '{VIEWERS_GROUP}'): viewers may watch runs "
            "shared with them but may not queue runs",
            extra={"role": "viewer"},
        )


def is_active_user(user: Any) -> bool:
    """Signed in and not deactivated: the least anyone needs to see anything."""
    return bool(
        user is not None
        and getattr(user, "is_authenticated", False)
        and getattr(user, "is_active", False)
    )


def is_viewer(user: Any) -> bool:
    """A member of the "viewers" group who is not staff: watches, never queues a run."""
    if not is_active_user(user) or user.is_staff:
        return False
    return bool(user.groups.filter(name=VIEWERS_GROUP).exists())


def ensure_may_queue(user: Any) -> None:
    """``ViewerCannotQueue`` for a viewer: asked by ``services.run_queue`` (every way a run is
    queued: form, API, clone, fork, CLI) and by the run form before it is even shown."""
    if is_viewer(user):
        raise ViewerCannotQueue(user.get_username())


def role_of(user: Any) -> str:
    """``staff``, ``viewer`` or ``trainer`` (what the pages and ``me/`` show)."""
    if is_active_user(user) and user.is_staff:
        return "staff"
    return "viewer" if is_viewer(user) else "trainer"


def shares_reaching(*, user: Any) -> QuerySet[RunShare]:
    """The shares that name ``user`` or one of their groups."""
    return RunShare.objects.filter(Q(user=user) | Q(group__user=user))


def runs_visible(*, user: Any) -> QuerySet[Run]:
    """Every run ``user`` may see (no order imposed here): one query, whatever the shares.

    An ``EXISTS`` rather than a join through the shares, so a run shared twice with someone
    (directly and through a group) is still one row, with no ``DISTINCT`` to fight ordering.
    """
    runs = Run.objects.select_related("owner")
    if not is_active_user(user):
        return runs.none()
    if user.is_staff:
        return runs.all()
    shared = shares_reaching(user=user).filter(run=OuterRef("pk"))
    return runs.filter(Q(owner=user) | Q(public=True) | Exists(shared))


def runs_steerable(*, user: Any) -> QuerySet[Run]:
    """Every run ``user`` may steer (stop, pause, edit, delete, requeue, evaluate, share):
    their own, or every run for staff. Sharing never gives this."""
    runs = Run.objects.select_related("owner")
    if not is_active_user(user):
        return runs.none()
    if user.is_staff:
        return runs.all()
    return runs.filter(owner=user)


def run_for_viewer(*, user: Any, run_id: int) -> Run:
    """The run if ``user`` may see it; ``NotFound`` otherwise.

    The run by its id, then ``runs_visible``'s rule asked of that one row: building and
    compiling the visible set's query (its ``EXISTS`` over shares) cost twice the row's own
    (1.1 ms against 0.5 ms of CPU, measured in process on bench/api.py's runs), and owners,
    staff and public runs need no share read at all.
    """
    if not is_active_user(user):
        raise NotFound("no such run")
    run = Run.objects.select_related("owner").filter(pk=run_id).first()
    if run is None or not _sees(user, run):
        raise NotFound("no such run")
    return run


def _sees(user: Any, run: Run) -> bool:
    """``runs_visible``'s rule for one run already read (an active user): staff, the owner, a
    public run, else a share naming the user or one of their groups."""
    return bool(
        user.is_staff
        or run.owner_id == user.pk
        or run.public
        or shares_reaching(user=user).filter(run=run).exists()
    )


def run_for_steerer(*, user: Any, run_id: int) -> Run:
    """The run if ``user`` may steer it; ``RunReadOnly`` if they may only see it (shared or
    public), ``NotFound`` otherwise."""
    run = runs_steerable(user=user).filter(pk=run_id).first()
    if run is None:
        if runs_visible(user=user).filter(pk=run_id).exists():
            raise RunReadOnly(run_id)
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


def checkpoint_for_steerer(*, user: Any, run_id: int, checkpoint_id: int) -> Checkpoint:
    """A checkpoint of a run ``user`` may steer (to queue an evaluation job, which writes to
    that run); ``RunReadOnly`` for a run they may only see, ``NotFound`` else."""
    run = run_for_steerer(user=user, run_id=run_id)
    checkpoint = Checkpoint.objects.select_related("run").filter(pk=checkpoint_id, run=run).first()
    if checkpoint is None:
        raise NotFound("no such checkpoint")
    return checkpoint


def checkpoint_for_opponent(*, user: Any, checkpoint_id: int) -> Checkpoint:
    """A checkpoint ``user`` may name as an opponent (``checkpoint:<id>`` of a command, the
    opponent of an evaluation job): one of any run they may see, shared and public ones
    included (playing against it changes nothing of that run); ``NotFound`` otherwise."""
    checkpoint = (
        Checkpoint.objects.select_related("run")
        .filter(pk=checkpoint_id, run__in=runs_visible(user=user))
        .first()
    )
    if checkpoint is None:
        raise NotFound(f"no checkpoint {checkpoint_id} that you may use")
    return checkpoint


def checkpoint_steerable(*, user: Any, checkpoint_id: int) -> Checkpoint:
    """A checkpoint of a run ``user`` may steer (a job stored with its run, as a showcase's
    first player is); ``RunReadOnly`` for one of a run they may only see, ``NotFound``
    otherwise."""
    checkpoint = checkpoint_for_opponent(user=user, checkpoint_id=checkpoint_id)
    if not may_steer_run(user=user, run=checkpoint.run):
        raise RunReadOnly(checkpoint.run_id)
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
