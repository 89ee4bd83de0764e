"""runs.priority: a process that trains lowers every thread it has, never raises one."""

from __future__ import annotations

import os
import threading

import pytest

from runs.priority import process_priority_lower

pytestmark = pytest.mark.unit


def _in_a_child(body) -> int:
    """Run ``body`` in a forked child (nice cannot be undone here) and return its exit code."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os._exit(body())
        except BaseException:
            os._exit(99)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_every_thread_of_the_process_is_lowered_and_new_ones_inherit():
    def body() -> int:
        started, release = threading.Event(), threading.Event()
        seen: dict[str, int] = {}

        def earlier() -> None:
            seen["tid"] = threading.get_native_id()
            started.set()
            release.wait(10)

        thread = threading.Thread(target=earlier)
        thread.start()
        started.wait(10)
        base = os.getpriority(os.PRIO_PROCESS, 0)
        changed = process_priority_lower(base + 5)
        later: list[int] = []
        after = threading.Thread(target=lambda: later.append(os.getpriority(os.PRIO_PROCESS, 0)))
        after.start()
        after.join()
        ok = (
            changed >= 2
            and os.getpriority(os.PRIO_PROCESS, 0) == base + 5
            and os.getpriority(os.PRIO_PROCESS, seen["tid"]) == base + 5
            and later == [base + 5]
        )
        release.set()
        thread.join()
        return 0 if ok else 1

    assert _in_a_child(body) == 0


def test_zero_leaves_it_and_a_lower_thread_is_not_raised():
    def body() -> int:
        base = os.getpriority(os.PRIO_PROCESS, 0)
        if process_priority_lower(0) != 0 or os.getpriority(os.PRIO_PROCESS, 0) != base:
            return 1
        process_priority_lower(base + 6)
        process_priority_lower(base + 3)  # asks for less: nothing changes
        return 0 if os.getpriority(os.PRIO_PROCESS, 0) == base + 6 else 2

    assert _in_a_child(body) == 0
