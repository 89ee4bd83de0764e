"""The hook through which ``runs`` tells monitoring who may watch a run and what it looks like.

``runs`` registers these functions at start-up (``RunsConfig.ready``); monitoring never imports
``runs``, which keeps the layers one way. The decision itself is ``runs.access``'s alone
(anonymous and inactive users see nothing): nothing here second-guesses it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MayView = Callable[[Any, int], bool]
Snapshot = Callable[[int], dict[str, Any] | None]
ActiveRuns = Callable[[Any], list[dict[str, Any]]]

_may_view: MayView | None = None
_snapshot: Snapshot | None = None
_active_runs: ActiveRuns | None = None


def register(
    *, may_view: MayView, snapshot: Snapshot, visible_active_runs: ActiveRuns | None = None
) -> None:
    global _may_view, _snapshot, _active_runs
    _may_view, _snapshot = may_view, snapshot
    if visible_active_runs is not None:
        _active_runs = visible_active_runs


def user_may_view_run(user: Any, run_id: int) -> bool:
    """False for anonymous users, unknown runs and runs the user may not see."""
    if _may_view is None:
        raise RuntimeError("no run access hook is registered (is the runs app installed?)")
    return _may_view(user, run_id)


def run_snapshot(run_id: int) -> dict[str, Any] | None:
    """Status, progress and the like of a run, as the run app describes it."""
    if _snapshot is None:
        raise RuntimeError("no run snapshot hook is registered (is the runs app installed?)")
    return _snapshot(run_id)


def visible_active_runs(user: Any) -> list[dict[str, Any]]:
    """The queued, running and paused runs ``user`` may see (a short list, newest first)."""
    if _active_runs is None:
        raise RuntimeError("no active-runs hook is registered (is the runs app installed?)")
    return _active_runs(user)
