"""Reads of a run's sharing: with whom, and how a run reached someone who does not own it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet

from runs import access
from runs.models import Run


@dataclass(frozen=True)
class Sharing:
    """A run's sharing as the API and the run page show it."""

    public: bool
    users: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"public": self.public, "users": self.users, "groups": self.groups}


def run_sharing(run: Run) -> Sharing:
    """Whom ``run`` is shared with, names sorted (one query)."""
    shares = list(run.shares.select_related("user", "group"))
    return Sharing(
        public=run.public,
        users=sorted(s.user.get_username() for s in shares if s.user is not None),
        groups=sorted(s.group.name for s in shares if s.group is not None),
    )


def runs_filter_shared(runs: QuerySet[Run], *, user: Any, which: str) -> QuerySet[Run]:
    """``?shared=``: ``own`` (owned by ``user``), ``with_me`` (someone else's, shared with
    ``user`` or one of their groups), ``public`` (public runs, anyone's)."""
    if which == "own":
        return runs.filter(owner=user)
    if which == "with_me":
        reaching = access.shares_reaching(user=user).filter(run=OuterRef("pk"))
        return runs.filter(Exists(reaching)).exclude(owner=user)
    if which == "public":
        return runs.filter(public=True)
    raise ValueError(f"unknown shared filter {which!r}")


def run_shared_by(*, run: Run, user: Any) -> str | None:
    """For the run page: the owner's name when ``user`` sees ``run`` only because it is shared
    with them or public (not theirs, and they are not staff); None otherwise."""
    if not access.is_active_user(user) or user.is_staff or run.owner_id == user.pk:
        return None
    return str(run.owner.get_username())
