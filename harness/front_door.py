"""A stable address in front of the app, like App Runner's service URL: a loopback TCP forwarder.

Each accepted connection is piped to the backend that is current when it arrives. `switch(port)`
makes new connections go to a new backend (a new deployment's instance) while connections already
open finish on the old one, which `drain()` waits for before the old instance is stopped. The
rotation rehearsal uses it to replace the app under load the way a deployment does.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Self

from harness.processes import Service


class FrontDoor(Service):
    def __init__(self, backend_port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.backend_port = backend_port
        self.port = 0
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._open: dict[int, int] = {}  # backend port -> connections open to it
        self._closing = threading.Event()
        self.switched_at: float | None = None  # time.monotonic() of the last switch

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        listener = socket.create_server((self.host, 0))
        listener.settimeout(0.2)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, name="front-door", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()

    def switch(self, backend_port: int) -> int:
        """New connections go to `backend_port`; returns the previous backend's port."""
        with self._lock:
            previous, self.backend_port = self.backend_port, backend_port
            self.switched_at = time.monotonic()
        return previous

    def open_connections(self, backend_port: int) -> int:
        with self._lock:
            return self._open.get(backend_port, 0)

    def drain(self, backend_port: int, timeout: float) -> bool:
        """Waits until no connection to `backend_port` is open; False if some still are."""
        deadline = time.monotonic() + timeout
        while self.open_connections(backend_port):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def _accept(self) -> None:
        if self._listener is None:
            return
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                backend = self.backend_port
                self._open[backend] = self._open.get(backend, 0) + 1
            threading.Thread(
                target=self._serve, args=(client, backend), name="front-door-conn", daemon=True
            ).start()

    def _serve(self, client: socket.socket, backend_port: int) -> None:
        try:
            try:
                upstream = socket.create_connection((self.host, backend_port), timeout=5)
            except OSError:
                return  # the client sees its connection closed, as behind a load balancer
            upstream.settimeout(None)
            client.settimeout(None)
            pump = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
            pump.start()
            _pipe(client, upstream)
            pump.join(timeout=130)
            upstream.close()
        finally:
            client.close()
            with self._lock:
                self._open[backend_port] -= 1


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    """Copies bytes until `source` closes, then half-closes `sink`."""
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)
