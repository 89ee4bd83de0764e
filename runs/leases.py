"""Leased work: who holds a piece of work on a worker, written once for every kind of job.

A leased job (a run, an evaluation job, any later one) is a row with a lease: the worker that
holds it (``host:pid``), when the lease runs out, and how many times it was taken. The worker
renews the lease from a ``Heartbeat`` thread while the work goes on; beat's reaper hands out
work whose lease ran out (its worker died), or fails it once it is out of attempts.

A kind of work plugs in with a ``LeaseTerms``: its model (which extends ``Leased``), the field
that holds its state, and which states mean what. Every operation here is a compare-and-swap
UPDATE filtered on the state and the holder: zero rows changed means someone else got there
first (another delivery of the same task, the reaper, a user's cancel). Every end state clears
the lease; every give-up is one transaction with what the caller records about it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.db import close_old_connections, connection, models, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from monitoring.prometheus import lease_expiries_add

log = logging.getLogger(__name__)

# The lease columns as an end state leaves them.
LEASE_CLEARED: dict[str, Any] = {"lease_owner": "", "lease_expires_at": None}


class Leased(models.Model):
    """The lease columns of a job that one worker at a time may hold.

    The model also needs ``error`` (text) and ``finished_at`` (datetime) columns: the reaper
    writes them when it gives up.
    """

    lease_owner = models.CharField(
        max_length=200, blank=True, help_text="the worker (host:pid) holding it"
    )
    lease_expires_at = models.DateTimeField(
        null=True, blank=True, help_text="the reaper takes it back after this"
    )
    attempts = models.PositiveSmallIntegerField(default=0, help_text="times a worker took it")

    class Meta:
        abstract = True


class LeaseLost(Exception):
    """The work is no longer this worker's (its lease expired and was taken back): stop, and
    write nothing more about it."""


L = TypeVar("L", bound=Leased)


@dataclass(frozen=True)
class LeaseTerms(Generic[L]):
    """How one kind of leased work is held.

    ``held``: the states in which a worker holds the lease; ``requeued``: the state the reaper
    puts work back in; ``failed``: the state it ends in when out of attempts.
    """

    model: type[L]
    state_field: str
    held: tuple[str, ...]
    requeued: str
    failed: str

    def rows(self, pk: int) -> QuerySet[L]:
        return self.model._default_manager.filter(pk=pk)

    def held_by(self, pk: int, worker: str) -> QuerySet[L]:
        """The row, if ``worker`` holds it now."""
        return self.rows(pk).filter(**{f"{self.state_field}__in": self.held}, lease_owner=worker)


def worker_id(pid: int | None = None) -> str:
    """This process (or process ``pid`` of this host), as leases name it: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid() if pid is None else pid}"


def lease_expiry() -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=settings.KEISEI_LEASE_SECONDS)


def lease_claim(
    terms: LeaseTerms[Any], *, pk: int, worker: str, source: str, **changes: Any
) -> bool:
    """Take the work from state ``source`` into the first held state, counting the attempt.

    False when it was not in ``source`` any more: another delivery (acks are late, so a task
    can arrive twice) or a cancel got there first.
    """
    return bool(
        terms.rows(pk)
        .filter(**{terms.state_field: source})
        .update(
            **{terms.state_field: terms.held[0]},
            lease_owner=worker,
            lease_expires_at=lease_expiry(),
            attempts=F("attempts") + 1,
            **changes,
        )
    )


def lease_renew(terms: LeaseTerms[Any], *, pk: int, worker: str) -> bool:
    """Push the expiry out; False means the work is no longer ``worker``'s."""
    return bool(terms.held_by(pk, worker).update(lease_expires_at=lease_expiry()))


def lease_hold(terms: LeaseTerms[Any], *, pk: int, worker: str) -> None:
    """Lock the row for the caller's transaction; ``LeaseLost`` unless ``worker`` holds it.

    Results are written under this lock, so the reaper cannot take the work back between the
    check and the write.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("lease_hold locks a row: call it inside transaction.atomic()")
    # FOR NO KEY UPDATE: rows written for the work elsewhere meanwhile (their foreign-key
    # checks) must not wait for this transaction (services/commands.py says why).
    if not terms.held_by(pk, worker).select_for_update(no_key=True).exists():
        raise LeaseLost(f"{terms.model.__name__} {pk} is no longer held by {worker}")


def lease_end(terms: LeaseTerms[Any], *, pk: int, worker: str, state: str, **changes: Any) -> bool:
    """Move the work ``worker`` holds to ``state`` (an end, or back to the queue) and clear
    the lease. False when it was not ``worker``'s any more."""
    return bool(
        terms.held_by(pk, worker).update(**{terms.state_field: state}, **LEASE_CLEARED, **changes)
    )


def leases_reap(
    terms: LeaseTerms[L],
    *,
    now: dt.datetime | None = None,
    requeued: Callable[[L, str], None],
    gave_up: Callable[[L, str], None],
) -> list[int]:
    """Take back work whose lease ran out: requeued, or failed once it has had
    ``KEISEI_MAX_ATTEMPTS`` attempts. Returns the ids changed.

    Each row is one transaction: the state change and what ``requeued(row, reason)`` or
    ``gave_up(row, error)`` record (events, wake-ups after commit) land together or not at all.
    """
    now = now or timezone.now()
    expired = terms.model._default_manager.filter(
        **{f"{terms.state_field}__in": terms.held}, lease_expires_at__lt=now
    )
    reaped = []
    for row in expired:
        # The holder and the expiry are matched too: a worker that renewed meanwhile keeps
        # its work, and a row another reaper took is left alone.
        still_expired = terms.held_by(row.pk, row.lease_owner).filter(lease_expires_at__lt=now)
        lost = f"the worker {row.lease_owner} stopped renewing its lease"
        if _take_back(terms, row, still_expired, lost, now, requeued, gave_up):
            reaped.append(row.pk)
    if reaped:  # for /metrics' keisei_lease_expiries (a Redis tally; never raises)
        lease_expiries_add(kind=terms.model._meta.model_name or "", count=len(reaped))
    return reaped


def leases_take_back(
    terms: LeaseTerms[L],
    *,
    worker: str,
    reason: str,
    requeued: Callable[[L, str], None],
    gave_up: Callable[[L, str], None],
) -> list[int]:
    """Take back at once every piece of work ``worker`` holds, whatever its expiry: for a
    worker process known to be dead (its parent saw it exit), so nobody waits for the lease
    to run out. The same outcomes as ``leases_reap``; work other workers hold is untouched.
    """
    now = timezone.now()
    taken = []
    held = terms.model._default_manager.filter(
        **{f"{terms.state_field}__in": terms.held}, lease_owner=worker
    )
    for row in held:
        if _take_back(terms, row, terms.held_by(row.pk, worker), reason, now, requeued, gave_up):
            taken.append(row.pk)
    return taken


def _take_back(
    terms: LeaseTerms[L],
    row: L,
    still_held: QuerySet[L],
    lost: str,
    now: dt.datetime,
    requeued: Callable[[L, str], None],
    gave_up: Callable[[L, str], None],
) -> bool:
    """Requeue ``row`` or fail it out of attempts, if ``still_held`` still finds it: one
    transaction with what the callbacks record."""
    with transaction.atomic():
        if row.attempts >= settings.KEISEI_MAX_ATTEMPTS:
            error = f"{lost}; gave up after {row.attempts} attempts"
            changes = {terms.state_field: terms.failed, "error": error, "finished_at": now}
            if still_held.update(**changes, **LEASE_CLEARED):
                gave_up(row, error)
                return True
        elif still_held.update(**{terms.state_field: terms.requeued}, **LEASE_CLEARED):
            requeued(row, lost)
            return True
    return False


class Heartbeat:
    """Calls ``renew`` from a thread every third of a lease; sets ``lost`` when it says the
    lease is no longer ours (another worker holds the work now)."""

    def __init__(self, renew: Callable[[], bool], name: str) -> None:
        self.renew = renew
        self.name = name
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=name, daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def check(self) -> None:
        """``LeaseLost`` once a renewal has found the work taken back."""
        if self.lost.is_set():
            raise LeaseLost(f"{self.name}: the lease was lost")

    def _beat(self) -> None:
        interval = max(1.0, settings.KEISEI_LEASE_SECONDS / 3)
        try:
            while not self._stop.wait(interval):
                try:
                    if not self.renew():
                        self.lost.set()
                        return
                except Exception:  # the database is away: keep trying until the lease runs out
                    log.warning("lease renewal failed (%s)", self.name, exc_info=True)
                    close_old_connections()
        finally:
            connection.close()  # this thread's own connection
