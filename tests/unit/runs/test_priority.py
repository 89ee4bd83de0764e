"""runs.priority: a process that trains lowers every thread it has, never raises one."""

from __future__ import annotations

import os
import signal
import subprocess
import threading

import pytest

from runs.priority import autogroup_priority_lower, process_priority_lower

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


autogroups = pytest.mark.skipif(
    not os.path.exists("/proc/self/autogroup")
    or open("/proc/sys/kernel/sched_autogroup_enabled").read().strip() != "1",
    reason="this kernel does not group scheduling by session",
)


def _session_nice() -> int:
    with open("/proc/self/autogroup") as fh:
        return int(fh.read().split()[-1])


@autogroups
def test_a_session_of_its_own_is_lowered_as_a_whole():
    def body() -> int:
        os.setsid()  # a session (and scheduling group) of its own, as the launcher starts workers
        before = _session_nice()
        if not autogroup_priority_lower(before + 4):
            return 1
        if _session_nice() != before + 4:
            return 2
        return 0 if not autogroup_priority_lower(before + 2) else 3  # never raised back

    assert _in_a_child(body) == 0


@autogroups
def test_a_session_shared_with_other_programs_is_left_alone():
    def body() -> int:
        os.setsid()
        # A program that is neither this process's parent, child nor sibling, in its session
        # (as a shell and what else it started would be): a sleep whose parent has exited.
        spawn = subprocess.run(
            ["sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!"], capture_output=True, text=True
        )
        stranger = int(spawn.stdout)
        try:
            before = _session_nice()
            changed = autogroup_priority_lower(before + 4)
            return 0 if not changed and _session_nice() == before else 1
        finally:
            os.kill(stranger, signal.SIGKILL)

    assert _in_a_child(body) == 0
