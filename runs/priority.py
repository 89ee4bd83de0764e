"""The CPU priority of a process that trains: below the web tier's, so that on a host where
Daphne, PostgreSQL and Redis share the cores with training, pages, the API and live sockets
answer first and training takes what they leave (docs/operations.md, "CPU priority").

Linux keeps the nice value per thread, and a thread starts with its creator's: the threads a
pool process already has (the engine warm-up, torch's, the broker's) are lowered one by one,
and those a run starts afterwards (its heartbeat, its reporter) inherit it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

NICE_MAX = 19


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
