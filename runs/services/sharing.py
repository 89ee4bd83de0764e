"""Sharing a run read-only: with named users, with groups, or with every signed-in user.

Who may change a run's sharing (its owner or staff) is the caller's check, through
``runs.access.run_for_steerer``; what a share lets someone do is ``runs.access``'s. Every
change is one audit entry and one line of the run's timeline, in the change's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Q

from audit import services as audit
from audit.models import Action
from monitoring.models import EventType
from monitoring.services import event_record
from runs.models import Run, RunShare
from runs.services.errors import SharingRefused

# One request names at most this many users and as many groups (a typo'd loop, not a team).
MAX_SHARE_TARGETS = 200


def _names(raw: Any, field: str, errors: dict[str, list[str]]) -> list[str]:
    """The names of ``field`` as a list of distinct non-empty strings, in the order given."""
    if raw is None:
        return []
    if not isinstance(raw, list | tuple) or not all(isinstance(n, str) for n in raw):
        errors.setdefault(field, []).append("must be a list of names")
        return []
    names = list(dict.fromkeys(n.strip() for n in raw if n.strip()))
    if len(names) > MAX_SHARE_TARGETS:
        errors.setdefault(field, []).append(f"at most {MAX_SHARE_TARGETS} names at once")
        return []
    return names


def _targets(
    run: Run, users: Sequence[str] | None, groups: Sequence[str] | None
) -> tuple[dict[str, Any], dict[str, Group]]:
    """The users and groups named, found by name; ``SharingRefused`` naming the field and every
    unknown name otherwise."""
    errors: dict[str, list[str]] = {}
    user_names = _names(users, "users", errors)
    group_names = _names(groups, "groups", errors)
    user_model = get_user_model()
    found_users = {
        u.get_username(): u
        for u in user_model.objects.filter(**{f"{user_model.USERNAME_FIELD}__in": user_names})
    }
    found_groups = {g.name: g for g in Group.objects.filter(name__in=group_names)}
    for name in user_names:
        if name not in found_users:
            errors.setdefault("users", []).append(f"no user named {name!r}")
        elif found_users[name].pk == run.owner_id:
            errors.setdefault("users", []).append(f"{name!r} owns this run")
    for name in group_names:
        if name not in found_groups:
            errors.setdefault("groups", []).append(f"no group named {name!r}")
    if errors:
        raise SharingRefused(errors)
    return found_users, found_groups


def _record(run: Run, by: Any, action: Action, message: str, details: dict[str, Any]) -> None:
    audit.record(action=action, user=by, target_type="run", target_id=run.pk, details=details)
    event_record(
        run_id=run.pk,
        type=EventType.LOG,
        message=message,
        data={"sharing": details},
        actor=f"user:{by.get_username()}",
        owner_id=run.owner_id,
    )


def _listed(users: Iterable[str], groups: Iterable[str]) -> str:
    parts = [f"user {name}" for name in users] + [f"group {name}" for name in groups]
    return ", ".join(parts)


def run_share(
    *, run: Run, by: Any, users: Sequence[str] | None = (), groups: Sequence[str] | None = ()
) -> list[str]:
    """Share ``run`` read-only with the users and groups named (by username and group name).

    Naming one it is already shared with is no error and no new entry. Returns what was
    newly shared, as ``user NAME`` / ``group NAME``.
    """
    found_users, found_groups = _targets(run, users, groups)
    with transaction.atomic():
        have_users = set(run.shares.filter(user__isnull=False).values_list("user_id", flat=True))
        have_groups = set(run.shares.filter(group__isnull=False).values_list("group_id", flat=True))
        new_users = {n: u for n, u in found_users.items() if u.pk not in have_users}
        new_groups = {n: g for n, g in found_groups.items() if g.pk not in have_groups}
        if not new_users and not new_groups:
            return []
        # ON CONFLICT DO NOTHING: a share added meanwhile by another request stays one row.
        RunShare.objects.bulk_create(
            [RunShare(run=run, user=u, created_by=by) for u in new_users.values()]
            + [RunShare(run=run, group=g, created_by=by) for g in new_groups.values()],
            ignore_conflicts=True,
        )
        details = {"users": sorted(new_users), "groups": sorted(new_groups)}
        listed = _listed(details["users"], details["groups"])
        _record(run, by, Action.RUN_SHARE, f"shared read-only with {listed}", details)
    return [f"user {n}" for n in sorted(new_users)] + [f"group {n}" for n in sorted(new_groups)]


def run_unshare(
    *, run: Run, by: Any, users: Sequence[str] | None = (), groups: Sequence[str] | None = ()
) -> list[str]:
    """Stop sharing ``run`` with the users and groups named. Unknown names are refused like
    ``run_share``'s; a known one it was not shared with is no error. Returns what was removed."""
    found_users, found_groups = _targets(run, users, groups)
    with transaction.atomic():
        shares = run.shares.filter(
            Q(user__in=list(found_users.values())) | Q(group__in=list(found_groups.values()))
        ).select_related("user", "group")
        gone_users = sorted(s.user.get_username() for s in shares if s.user is not None)
        gone_groups = sorted(s.group.name for s in shares if s.group is not None)
        if not gone_users and not gone_groups:
            return []
        shares.delete()
        details = {"users": gone_users, "groups": gone_groups}
        listed = _listed(gone_users, gone_groups)
        _record(run, by, Action.RUN_UNSHARE, f"no longer shared with {listed}", details)
    return [f"user {n}" for n in gone_users] + [f"group {n}" for n in gone_groups]


def run_set_public(*, run: Run, by: Any, public: bool) -> bool:
    """Make ``run`` visible (read-only) to every signed-in user, or private again.

    False when it already was so (compare-and-swap: nothing recorded twice)."""
    if not isinstance(public, bool):
        raise SharingRefused({"public": ["must be true or false"]})
    with transaction.atomic():
        changed = Run.objects.filter(pk=run.pk).exclude(public=public).update(public=public)
        if changed:
            run.public = public
            message = "made public to every signed-in user" if public else "made private"
            _record(run, by, Action.RUN_PUBLIC, message, {"public": public})
    return bool(changed)


def run_sharing_set(
    *, run: Run, by: Any, public: bool, users: Sequence[str], groups: Sequence[str]
) -> None:
    """Replace ``run``'s sharing with exactly this (``PUT .../sharing/``): every name is
    checked before anything changes, and it all commits or nothing does."""
    if not isinstance(public, bool):
        raise SharingRefused({"public": ["must be true or false"]})
    found_users, found_groups = _targets(run, users, groups)
    with transaction.atomic():
        current = list(run.shares.select_related("user", "group"))
        old_users = {s.user.get_username() for s in current if s.user is not None}
        old_groups = {s.group.name for s in current if s.group is not None}
        run_unshare(
            run=run,
            by=by,
            users=sorted(old_users - set(found_users)),
            groups=sorted(old_groups - set(found_groups)),
        )
        run_share(run=run, by=by, users=list(found_users), groups=list(found_groups))
        run_set_public(run=run, by=by, public=public)
