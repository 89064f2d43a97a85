"""Child processes and loopback ports for the local rehearsal.

Every stand-in the rehearsal starts (PostgreSQL, moto's server, the Lambda runtime processes, the
app) is a child process in its own session, so that stopping it also stops whatever it spawned, and
nothing outlives the demo or the test run. Being in its own session, a child does not get the
signals sent to the terminal's or the CI job's process group: the process that started it must stop
it, so the demo and pytest turn SIGTERM into KeyboardInterrupt and clean up with SIGINT and SIGTERM
ignored. Output goes to a log file in the run's temporary folder, never to the terminal: a child may
log a secret that the demo itself must not print.

A free port is only free when it is picked: something else may bind it before the child does. The
children that bind a picked port start through `start_on_free_port`, which tries a new port when
the child reports the clash.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import socketserver
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self


class Service:
    """A stand-in that runs between `start()` and `stop()`; a with-block does both."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def stop_server_thread(
    server: socketserver.BaseServer | None, thread: threading.Thread | None
) -> None:
    """Stop an HTTP server that `serve_forever` runs in `thread`, and wait for the thread."""
    if server is not None:
        server.shutdown()
        server.server_close()
    if thread is not None:
        thread.join(timeout=5)


# What PostgreSQL, uvicorn and werkzeug (moto) print when the port they were given is taken.
_BIND_FAILURES = ("address already in use", "could not bind")


class PortInUseError(RuntimeError):
    """A child could not bind the port it was given: another process took it first."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until[T](
    probe: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.05
) -> T:
    """Calls `probe` until it returns something other than None; TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not ready after {timeout:.0f} s")
        time.sleep(interval)


def bind_failed(output: str) -> bool:
    """Whether a child's output says it could not bind its port."""
    text = output.lower()
    return any(marker in text for marker in _BIND_FAILURES)


def start_on_free_port[T](
    launch: Callable[[int], T],
    *,
    what: str,
    attempts: int = 3,
    first_port: int | None = None,
    pick: Callable[[], int] = free_port,
) -> T:
    """`launch(port)` on a free port; a new port each time it raises PortInUseError.

    `first_port` is tried first when given (a port picked earlier, e.g. written in a config).
    After `attempts` clashes, RuntimeError names `what` and the ports tried.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    tried: list[int] = []
    for attempt in range(attempts):
        port = first_port if attempt == 0 and first_port is not None else pick()
        tried.append(port)
        try:
            return launch(port)
        except PortInUseError:
            continue
    ports = ", ".join(str(port) for port in tried)
    raise RuntimeError(f"{what} found its port taken {attempts} times (ports {ports})")


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    """SIGINT and SIGTERM are ignored inside: a second Ctrl-C must not cut a cleanup short.

    Only the main thread can change signal handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {
        signum: signal.signal(signum, signal.SIG_IGN) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The HTTP status of GET `url`, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback URL
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code
    except (OSError, ValueError):
        return None


class ChildProcess:
    """A child process in its own session, with its output in a log file.

    `user` runs it as that user (and its group only), e.g. PostgreSQL, which refuses root; the
    process stays our child, so its pid and its exit are ours to see.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str],
        cwd: Path | None = None,
        user: str | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("ab")
        self._log_offset = self._log.tell()
        uid: int | None = None
        gid: int | None = None
        groups: list[int] | None = None
        if user is not None:
            entry = pwd.getpwnam(user)
            uid, gid, groups = entry.pw_uid, entry.pw_gid, []
        try:
            self.process = subprocess.Popen(  # noqa: S603 - argv built by the harness, no shell
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
                user=uid,
                group=gid,
                extra_groups=groups,
            )
        except BaseException:
            self._log.close()
            raise

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the child's output, for error messages of the harness itself."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def output(self) -> str:
        """What this child wrote to its log so far (not earlier runs that shared the file)."""
        try:
            with self.log_path.open("rb") as handle:
                handle.seek(self._log_offset)
                return handle.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM to the child's process group, SIGKILL after `timeout` s; idempotent."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=timeout)
        # Grandchildren that ignored SIGTERM while the leader exited.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if not self._log.closed:
            self._log.close()
