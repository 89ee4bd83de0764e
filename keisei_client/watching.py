"""Following one run live: the WebSocket first, REST to fill gaps, polling when live fails.

The socket (``/ws/runs/<id>/``, docs/websocket.md) sends a snapshot, then durable events
(numbered by ``seq``) and transient metrics and progress. After a drop, the events missed are
read from ``runs/<id>/events/?after_seq=N`` and the socket is opened again with
``?after_seq=N``; an event is shown once whichever way it came. When the socket cannot be
opened at all (a proxy without WebSockets, a server refusing more connections), the run and
its events are polled over REST, and the socket is tried again now and then.
"""

from __future__ import annotations

import json
import time
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import ClientConnection, connect

from keisei_client.exits import ClientError, Exit
from keisei_client.portal import FINISHED, Portal
from keisei_client.watch_views import JsonView, LiveView, View

POLL_SECONDS = 2.0
# How long the socket may be silent before the run is checked over REST (a run that ended
# while its last message was lost must not be watched forever).
QUIET_SECONDS = 30.0
# How often polling tries the socket again.
RETRY_LIVE_SECONDS = 15.0
# How long an unreachable portal is waited for before watch gives up (exit 6).
GIVE_UP_SECONDS = 300.0
TOO_MANY_CONNECTIONS = 4008
QUICK_CLOSE_SECONDS = 2.0


class LiveUnavailable(Exception):
    """The socket could not be opened (or the server closed it at once)."""


class Watcher:
    """Follows one run until it is finished; remembers the last durable ``seq`` shown."""

    def __init__(self, portal: Portal, run_id: int, view: View) -> None:
        self.portal = portal
        self.run_id = run_id
        self.view = view
        self.last_seq: int | None = None
        self.status: str | None = None
        self.events_api = True
        self.finished_in_snapshot: str | None = None

    def follow(self) -> str:
        """Watch until the run is finished; returns its final status."""
        run = self.portal.request("GET", f"runs/{self.run_id}/")
        self.status = str(run["status"])
        self.view.run(run)
        next_live = 0.0
        down_since: float | None = None
        while self.status not in FINISHED:
            try:
                if time.monotonic() >= next_live:
                    try:
                        self._live()
                        down_since = None
                        continue  # a drop: the gap is filled, open the socket again at once
                    except LiveUnavailable as exc:
                        self.view.note(f"live updates unavailable ({exc}); polling")
                        next_live = time.monotonic() + RETRY_LIVE_SECONDS
                self._poll()
                down_since = None
            except ClientError as exc:
                # A portal restarting (or the network away) is waited for, up to a limit;
                # any other refusal (a revoked token, a deleted run) ends the watch.
                if exc.exit_code != Exit.UNAVAILABLE:
                    raise
                if down_since is None:
                    down_since = time.monotonic()
                    self.view.note(f"{exc.message}; trying again for {GIVE_UP_SECONDS:g} s")
                elif time.monotonic() - down_since > GIVE_UP_SECONDS:
                    raise
            if self.status not in FINISHED:
                time.sleep(POLL_SECONDS)
        self._read_to_the_end()
        return self.status

    def _read_to_the_end(self) -> None:
        """The events after the final status: the run's summary is its last, written with
        the end (docs/websocket.md), so one read of the timeline has it."""
        try:
            self._fill_gap()
        except ClientError:
            pass  # the end is known; `keisei show` gives the summary when the portal is back

    def _live(self) -> None:
        """One socket connection, until it drops or the run is finished."""
        url = self.portal.websocket_url(f"/ws/runs/{self.run_id}/")
        if self.last_seq is not None:
            url += f"?after_seq={self.last_seq}"
        try:
            ws = connect(
                url,
                additional_headers={"Authorization": f"Token {self.portal.token}"},
                open_timeout=10,
                proxy=None,
            )
        except InvalidHandshake as exc:
            raise LiveUnavailable(str(exc)) from None
        except (OSError, TimeoutError) as exc:
            raise LiveUnavailable(str(exc) or type(exc).__name__) from None
        opened = time.monotonic()
        with ws:
            self._receive(ws)
        if self.status not in FINISHED:
            if time.monotonic() - opened < QUICK_CLOSE_SECONDS:
                # Closed as soon as opened (a server failing on connect): poll for a while
                # rather than reconnect in a tight loop.
                self._fill_gap()
                raise LiveUnavailable("the server closed the connection at once")
            self.view.note(f"live connection lost; resuming after event {self.last_seq}")
            self._fill_gap()

    def _receive(self, ws: ClientConnection) -> None:
        while self.status not in FINISHED:
            try:
                raw = ws.recv(timeout=QUIET_SECONDS)
            except TimeoutError:
                self._poll()
                continue
            except ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code == TOO_MANY_CONNECTIONS:
                    raise LiveUnavailable("too many connections for this user") from None
                return
            self.handle(json.loads(raw))
            if self.finished_in_snapshot:
                self._fill_gap()  # up to and with the final status event
                if self.status not in FINISHED:  # a portal without the events endpoint
                    self.status = self.finished_in_snapshot

    def handle(self, message: dict[str, Any]) -> None:
        """One message from the socket or the events endpoint (the same shape)."""
        kind, seq = message.get("type"), message.get("seq")
        if kind == "connected":
            data = message.get("data") or {}
            # With ?after_seq the events after it follow the snapshot: keep our own mark.
            if self.last_seq is None and data.get("last_seq") is not None:
                self.last_seq = int(data["last_seq"])
            said = str((data.get("run") or {}).get("status") or "")
            if said and said not in FINISHED:
                self.status = said
            # A finished run's own status event is read below: not ended here, or the events
            # replayed after this snapshot (?after_seq) would go unshown.
            self.finished_in_snapshot = said if said in FINISHED else None
        elif seq is not None:
            if self.last_seq is not None and seq <= self.last_seq:
                return  # had it already, from the other source
            self.last_seq = int(seq)
            if kind == "status":
                self.status = str((message.get("data") or {}).get("status") or self.status)
        self.view.message(message)

    def _fill_gap(self) -> None:
        """The durable events after ``last_seq`` from REST, in order."""
        if not self.events_api:
            return
        path = f"runs/{self.run_id}/events/"
        try:
            if self.last_seq is None:
                # Polling from the start: begin now, as the socket's snapshot would.
                self.last_seq = int(self.portal.get(path, after_seq=0, limit=1)["last_seq"])
            while True:
                page = self.portal.get(path, after_seq=self.last_seq, limit=1000)
                for event in page["results"]:
                    self.handle(event)
                if not page.get("has_more") or not page["results"]:
                    return
        except ClientError as exc:
            if exc.exit_code != Exit.NOT_FOUND:
                raise
            # The run itself was just read: a 404 here is a portal without the events API.
            self.events_api = False

    def _poll(self) -> None:
        """The missed events, then the run (its progress and status) over REST."""
        self._fill_gap()
        run = self.portal.request("GET", f"runs/{self.run_id}/")
        self.status = str(run["status"])
        self.view.run(run)


def watch_run(portal: Portal, run_id: int, *, as_json: bool) -> int:
    """Follow a run until it ends: exit 0 if it completed, 1 otherwise; Ctrl-C leaves it be."""
    view: View = JsonView() if as_json else LiveView(run_id)
    try:
        with view:
            status = Watcher(portal, run_id, view).follow()
    except KeyboardInterrupt:
        raise ClientError(
            f"stopped watching; run {run_id} goes on (keisei stop {run_id} stops it)",
            exit_code=Exit.INTERRUPTED,
        ) from None
    view.finished(run_id, status)
    return Exit.OK if status == "completed" else Exit.FAILED
