"""/readyz answers within seconds whatever state the database is in, and the engine's connections
notice a vanished database (TCP keepalives, tcp_user_timeout) instead of waiting on the kernel."""

from __future__ import annotations

import time
from contextlib import ExitStack
from typing import Any

import sqlalchemy as sa
from starlette.testclient import TestClient

from bookapp.db import POOL_SIZE, POOL_TIMEOUT_SECONDS
from harness.postgres import PostgresServer


def test_readyz_answers_503_within_seconds_while_the_database_is_down(
    client: TestClient, pg: PostgresServer
) -> None:
    assert client.get("/readyz").status_code == 200  # a pooled connection to a server that goes
    pg.stop()
    try:
        started = time.monotonic()
        response = client.get("/readyz")
        elapsed = time.monotonic() - started
    finally:
        pg.start()
    assert response.status_code == 503
    assert elapsed < 3


def test_readyz_answers_503_when_every_connection_is_busy_before_sns_would_give_up(
    client: TestClient,
) -> None:
    engine: sa.Engine = client.app.state.engine  # type: ignore[attr-defined]
    with ExitStack() as held:
        for _ in range(POOL_SIZE):
            held.enter_context(engine.connect())
        started = time.monotonic()
        response = client.get("/readyz")
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert POOL_TIMEOUT_SECONDS - 1 < elapsed < 12  # SNS gives a delivery 15 s
    assert client.get("/readyz").status_code == 200


def test_readiness_check_runs_under_a_statement_timeout(client: TestClient) -> None:
    engine: sa.Engine = client.app.state.engine  # type: ignore[attr-defined]
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.get("/readyz").status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert statements[-2:] == ["SET LOCAL statement_timeout = 2000", "SELECT 1"]


def test_connections_use_tcp_keepalives_and_a_user_timeout(client: TestClient) -> None:
    engine: sa.Engine = client.app.state.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        dsn = connection.connection.dbapi_connection.info.dsn  # type: ignore[union-attr]
    settings = dict(item.split("=", 1) for item in dsn.split())
    assert settings["keepalives"] == "1"
    assert settings["keepalives_idle"] == "30"
    assert int(settings["tcp_user_timeout"]) <= 30_000
