"""The hang watchdog on its own clock, and what a lost pool process's reason says. The
worker-level behaviour is tested over a real worker in
tests/integration/runs/test_faults_worker.py."""

from __future__ import annotations

import threading
import time

from runs.watchdog import Liveness, Watchdog
from runs.worker_lost import lost_cause
from tests.support.waiting import wait_for


def test_the_watchdog_fires_once_after_the_limit_with_no_sign_of_life():
    fired: list[float] = []
    started = time.monotonic()
    with Watchdog(Liveness(), seconds=0.3, on_hang=fired.append, name="test-watchdog"):
        wait_for(lambda: fired, timeout=5, what="the watchdog to fire")
        assert time.monotonic() - started >= 0.3
        assert fired[0] >= 0.3  # the idle time it saw
    assert len(fired) == 1


def test_the_watchdog_stays_quiet_while_the_trainer_marks_itself_alive():
    """Seen to fail with ``Liveness.mark`` doing nothing: it fired."""
    fired: list[float] = []
    liveness = Liveness()
    done = threading.Event()
    with Watchdog(liveness, seconds=0.3, on_hang=fired.append, name="test-watchdog"):
        until = time.monotonic() + 1.0  # more than three limits, marked every 50 ms
        while time.monotonic() < until:
            liveness.mark()
            done.wait(0.05)
    assert fired == []


def test_a_sigkill_is_named_with_the_oom_killer_as_its_likely_sender():
    cause = lost_cause("Worker exited prematurely: signal 9 (SIGKILL) Job: 3.")
    assert cause.startswith("killed by signal 9 (SIGKILL): the kernel's OOM killer")


def test_another_exit_is_named_as_it_is():
    assert lost_cause("Worker exited prematurely: exitcode 70 Job: 3.") == (
        "it died with exitcode 70"
    )
    assert lost_cause("something billiard never said") == ""
