"""A loopback TCP proxy in front of Daphne that a test can turn against its clients: refuse
WebSocket upgrades (as a proxy without WebSocket support does), refuse every connection (as a
portal restarting does), and cut the open connections (as a network drop does)."""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit

REFUSAL = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class Proxy:
    """Listens on 127.0.0.1 and forwards each connection to ``target`` (an http:// base)."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.refuse_websockets = False
        self.refuse_everything = False
        self.upgrades_refused = 0
        self.upgrades_passed = 0
        self.connections_refused = 0
        # Each piped socket, and whether it carries a WebSocket.
        self._open: dict[socket.socket, bool] = {}
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self, *, websockets_only: bool = True) -> int:
        """Close the connections passed so far (WebSockets, or all), both ways; returns how
        many were cut."""
        with self._lock:
            cut = [s for s, is_ws in self._open.items() if is_ws or not websockets_only]
            for sock in cut:
                del self._open[sock]
        for sock in cut:
            _close(sock)
        return len(cut) // 2

    def close(self) -> None:
        self.listener.close()
        self.cut(websockets_only=False)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        if self.refuse_everything:
            self.connections_refused += 1
            _close(client)
            return
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(65536)
            if not chunk:
                client.close()
                return
            head += chunk
        is_upgrade = b"upgrade: websocket" in head.lower()
        if is_upgrade and self.refuse_websockets:
            self.upgrades_refused += 1
            client.sendall(REFUSAL)
            client.close()
            return
        upstream = socket.create_connection(self.target)
        upstream.sendall(head)
        with self._lock:
            self._open.update({client: is_upgrade, upstream: is_upgrade})
        if is_upgrade:
            self.upgrades_passed += 1  # counted once ``cut`` can find it
        threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
        _pipe(client, upstream)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    _close(source)
    _close(sink)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
