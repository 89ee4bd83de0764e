"""The CPU priority of a process that trains: below the web tier's, so that on a host where
Daphne, PostgreSQL and Redis share the cores with training, pages, the API and live sockets
answer first and training takes what they leave (docs/operations.md, "CPU priority").

Linux keeps the nice value per thread, and a thread starts with its creator's: the threads a
pool process already has (the engine warm-up, torch's, the broker's) are lowered one by one,
and those a run starts afterwards (its heartbeat, its reporter) inherit it.

A thread's nice weighs only against threads of its own session where the kernel groups by
session (autogroup scheduling, on by default on desktop and many server kernels): the CPU is
shared between sessions first. The launcher, systemd and container runtimes start each service
in a session of its own, so a nice training thread still took half the cores from Daphne's
session. The session's own nice (``/proc/self/autogroup``) is lowered too, when the session
holds nothing but this worker.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

NICE_MAX = 19
AUTOGROUP_ENABLED = Path("/proc/sys/kernel/sched_autogroup_enabled")


def process_priority_lower(nice: int) -> int:
    """Lower every thread of this process to at least ``nice`` (0: leave it; a thread already
    lower stays). Unprivileged processes can lower, never raise back, so it is for processes
    that train from then on. Returns how many threads changed."""
    if nice <= 0:
        return 0
    nice = min(nice, NICE_MAX)
    tasks = Path("/proc/self/task")
    tids = [int(entry.name) for entry in tasks.iterdir()] if tasks.is_dir() else [0]
    changed = 0
    for tid in tids:
        try:
            if os.getpriority(os.PRIO_PROCESS, tid) < nice:
                os.setpriority(os.PRIO_PROCESS, tid, nice)
                changed += 1
        except OSError:  # the thread has ended meanwhile
            continue
    if changed:
        log.info("training at nice %s (%s threads lowered)", nice, changed)
    return changed


def autogroup_priority_lower(nice: int) -> bool:
    """Lower this session's scheduling group to ``nice`` when the kernel groups by session and
    the session holds only this worker (this process, its parent, its children and its
    parent's other children: a Celery master and its pool). A session shared with other
    programs (a worker started from an interactive shell) is left alone, with a warning.
    Returns whether it changed."""
    if nice <= 0:
        return False
    try:
        if AUTOGROUP_ENABLED.read_text().strip() != "1":
            return False
        group, current = _autogroup(os.getpid())
    except (OSError, ValueError):
        return False  # a kernel without autogroup scheduling
    nice = min(nice, NICE_MAX)
    if current >= nice:
        return False
    members = _autogroup_members(group)
    ours = {os.getpid(), os.getppid()}
    strangers = sorted(p for p in members if p not in ours and _parent_of(p) not in ours)
    if strangers:
        log.warning(
            "training threads are nice, but their session is shared with other processes "
            "(pids %s), so the kernel cannot give the web tier the CPU first: start the worker "
            "in a session of its own (the launcher, systemd and containers do)",
            ", ".join(map(str, strangers[:10])),
        )
        return False
    try:
        Path("/proc/self/autogroup").write_text(str(nice))
    except OSError as exc:
        log.warning("could not lower this session's CPU share: %s", exc)
        return False
    log.info("training session at nice %s (%s)", nice, group)
    return True


def _autogroup(pid: int) -> tuple[str, int]:
    """(group name, nice) from ``/proc/<pid>/autogroup`` ("/autogroup-85 nice 0")."""
    name, _, value = Path(f"/proc/{pid}/autogroup").read_text().split()
    return name, int(value)


def _processes() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _autogroup_members(group: str) -> set[int]:
    members = set()
    for pid in _processes():
        try:
            if _autogroup(pid)[0] == group:
                members.add(pid)
        except (OSError, ValueError):  # ended meanwhile, or a kernel thread
            continue
    return members


def _parent_of(pid: int) -> int | None:
    """The parent's pid from ``/proc/<pid>/stat`` (None once the process has gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])
