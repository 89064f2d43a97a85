"""The throwaway PostgreSQL is our own child process, survives a taken port, restarts in place.

`pg_ctl start` used to detach the postmaster (its parent became PID 1), so a test run killed
mid-way left it running; and a port taken between picking and binding failed the run.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import harness.postgres
from harness.postgres import PostgresError, PostgresServer, running_postgres


def _parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another process (this test) listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


def test_the_postmaster_is_a_child_of_this_process(pg: PostgresServer) -> None:
    assert pg.pid is not None
    assert _parent_of(pg.pid) == os.getpid()
    assert pg.psql("SELECT 1").strip() == "1"


def test_a_restart_after_an_immediate_stop_keeps_the_port_and_the_data(pg: PostgresServer) -> None:
    # synchronous_commit is off on this server: commit this one for real before the crash.
    pg.psql(
        "SET synchronous_commit = on; CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)",
        pg.dbname,
    )
    port, first = pg.port, pg.pid
    assert first is not None
    pg.stop("immediate")
    assert not pg.is_running
    assert not _alive(first)
    pg.stop()  # a second stop is harmless
    pg.start()
    assert pg.port == port
    assert pg.pid != first
    assert pg.psql("SELECT sum(n) FROM kept", pg.dbname).strip() == "7"


def test_a_restart_on_a_port_taken_meanwhile_fails_naming_the_port(pg: PostgresServer) -> None:
    pg.stop("fast")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
            squatter.bind(("127.0.0.1", pg.port))
            squatter.listen()
            with pytest.raises(PostgresError, match=f"port {pg.port} was taken"):
                pg.start(timeout=10)
        assert not pg.is_running
    finally:
        pg.start()
    assert pg.psql("SELECT 1").strip() == "1"


def test_an_unknown_stop_mode_is_refused(pg: PostgresServer) -> None:
    with pytest.raises(ValueError, match="smart, fast, immediate"):
        pg.stop("gentle")
    assert pg.is_running


def test_a_port_taken_before_the_first_start_moves_the_server_to_a_free_port(
    taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    picks = iter([taken_port])
    real_free_port = harness.postgres.free_port
    monkeypatch.setattr(
        harness.postgres, "free_port", lambda: next(picks, None) or real_free_port()
    )
    with running_postgres() as server:
        assert server.port != taken_port
        assert server.pid is not None
        pid, root = server.pid, server.root
        with socket.create_connection(("127.0.0.1", server.port), timeout=2):
            pass
        assert "could not bind" in server.log_file.read_text()
    assert not _alive(pid)
    assert not root.exists()


def test_a_port_taken_on_every_attempt_fails_naming_the_ports(
    taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(harness.postgres, "free_port", lambda: taken_port)
    with (
        pytest.raises(
            RuntimeError, match=f"PostgreSQL found its port taken 3 times .*{taken_port}"
        ),
        running_postgres(),
    ):
        pass
