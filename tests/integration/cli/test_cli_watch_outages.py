"""``keisei watch`` through a network that fails: the WebSocket cut and then refused, polling
meanwhile, the portal away altogether, the socket back; every durable event shown once, in
order, none missing. And Ctrl-C, which leaves the run alone."""

from __future__ import annotations

import signal
import subprocess
import threading

import pytest

from keisei_client.exits import Exit
from tests.support.cli import KEISEI, cli_env, json_lines, keisei
from tests.support.proxy import Proxy
from tests.support.tokens import api_token
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


class Watching:
    """``keisei watch RUN --json`` in the background, its lines collected as they come."""

    def __init__(self, run_id: int, *, home, url: str, token: str) -> None:
        self.process = subprocess.Popen(
            [KEISEI, "watch", str(run_id), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(home, url=url, token=token),
            # As a terminal starts it: a test runner started in the background (no job control)
            # ignores SIGINT, the child would inherit that, and Python would install no
            # KeyboardInterrupt for Ctrl-C.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.lines: list[str] = []
        self.errors: list[str] = []  # stderr, read as it comes: a full pipe would block it
        threading.Thread(
            target=self._read, args=(self.process.stdout, self.lines), daemon=True
        ).start()
        threading.Thread(
            target=self._read, args=(self.process.stderr, self.errors), daemon=True
        ).start()

    @staticmethod
    def _read(stream, into: list[str]) -> None:
        assert stream is not None
        for line in stream:
            into.append(line)

    def saw_status(self, status: str, *, as_event: bool = False) -> bool:
        """Whether a line told of ``status``: a status event, or (unless ``as_event``) the run
        as read or a snapshot."""
        for m in json_lines("".join(self.lines)):
            data = m["data"] or {}
            if m["type"] == "status":
                said = data.get("status")
            elif as_event:
                continue
            else:
                said = (
                    data.get("status")
                    if m["type"] == "run"
                    else (data.get("run") or {}).get("status")
                )
            if said == status:
                return True
        return False


def test_watch_falls_back_to_polling_and_resumes_by_seq(
    daphne_server, celery_worker, owner, tmp_path
):
    from monitoring.models import RunEvent
    from runs import services

    run = services.run_queue(owner=owner, trainer="digits", config={"epochs": 500, "batch_size": 8})
    token = api_token(owner)
    proxy = Proxy(daphne_server)
    watching = Watching(run.pk, home=tmp_path, url=proxy.url, token=token)
    try:
        wait_for(
            lambda: watching.saw_status("running"), timeout=120, what="the watcher to see it run"
        )
        # It may have read "running" from the run itself before its socket was open.
        wait_for(lambda: proxy.upgrades_passed >= 1, timeout=30, what="the watcher's socket")

        # The network drops the socket and will not carry another: the watcher polls.
        proxy.refuse_websockets = True
        assert proxy.cut() == 1
        wait_for(lambda: proxy.upgrades_refused >= 1, timeout=30, what="a refused reconnect")
        paused = keisei("pause", str(run.pk), home=tmp_path, url=daphne_server, token=token)
        assert paused.returncode == Exit.OK, paused.stderr
        # The status event itself, read from the events endpoint while the socket is refused.
        wait_for(
            lambda: watching.saw_status("paused", as_event=True),
            timeout=60,
            what="the pause, polled",
        )

        # The portal goes away altogether for a while (a restart): the watcher waits for it.
        proxy.refuse_everything = True
        proxy.cut(websockets_only=False)
        wait_for(lambda: proxy.connections_refused >= 3, timeout=60, what="polls while away")
        assert watching.process.poll() is None, "the watcher waits for the portal"
        proxy.refuse_everything = False

        # The socket is allowed again: the watcher goes back to it, resuming after its seq.
        proxy.refuse_websockets = False
        wait_for(lambda: proxy.upgrades_passed >= 2, timeout=60, what="the socket reopened")
        stopped = keisei("stop", str(run.pk), home=tmp_path, url=daphne_server, token=token)
        assert stopped.returncode == Exit.OK, stopped.stderr
        assert watching.process.wait(timeout=120) == Exit.FAILED  # stopped, not completed
    finally:
        if watching.process.poll() is None:
            watching.process.kill()
        proxy.close()

    messages = json_lines("".join(watching.lines))
    seqs = [m["seq"] for m in messages if m["seq"] is not None]
    stored = list(
        RunEvent.objects.filter(run=run, seq__gte=seqs[0])
        .order_by("seq")
        .values_list("seq", flat=True)
    )
    assert seqs == stored, "every durable event from the first one seen, once, in order"
    # The final status, then the run's summary (its last event), both seen before the end.
    ending = [(m["type"], m["data"]["status"]) for m in messages[-2:]]
    assert ending == [("status", "stopped"), ("summary", "stopped")], ending


def test_ctrl_c_stops_watching_and_leaves_the_run_alone(
    daphne_server, celery_worker, owner, tmp_path
):
    from runs import services
    from runs.models import RunStatus

    run = services.run_queue(owner=owner, trainer="digits", config={"epochs": 500, "batch_size": 8})
    token = api_token(owner)
    watching = Watching(run.pk, home=tmp_path, url=daphne_server, token=token)
    try:
        wait_for(
            lambda: watching.saw_status("running"), timeout=120, what="the watcher to see it run"
        )
        watching.process.send_signal(signal.SIGINT)
        try:
            code = watching.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(
                "keisei watch did not stop on Ctrl-C; it wrote:\n" + "".join(watching.errors[-40:])
            )
        assert code == Exit.INTERRUPTED, "".join(watching.errors[-40:])
        wait_for(
            lambda: f"run {run.pk} goes on" in "".join(watching.errors),
            timeout=10,
            what="the watcher's last words",
        )
        run.refresh_from_db()
        assert run.status == RunStatus.RUNNING
    finally:
        if watching.process.poll() is None:
            watching.process.kill()
        # Free the worker for the next test.
        stopped = keisei("stop", str(run.pk), home=tmp_path, url=daphne_server, token=token)
        assert stopped.returncode == Exit.OK, stopped.stderr
        wait_for(
            lambda: run.refresh_from_db() or run.status == RunStatus.STOPPED,
            timeout=120,
            what="the run to stop",
        )
