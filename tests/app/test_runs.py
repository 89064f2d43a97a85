"""The job_runs record directly: heartbeats, leases and who may finish a run.

The heartbeat keeps a long run (longer than SNS's 15 s timeout and App Runner's 120 s limit) from
being taken for abandoned, and only the owning attempt may record the outcome.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
import sqlalchemy as sa
from psycopg.pq import TransactionStatus

from bookapp import logs, runs
from bookapp.config import parse_database_url
from bookapp.db import create_engine
from harness.postgres import PostgresServer

IDLE = TransactionStatus.IDLE


@pytest.mark.usefixtures("clean_runs")
def test_silent_run_is_claimed_again_after_its_lease(engine: sa.Engine) -> None:
    message_id = str(uuid.uuid4())
    runs.claim(engine, message_id, "test_book_job", {})
    time.sleep(1.1)
    assert runs.claim(engine, message_id, "test_book_job", {}, lease=1.0).attempt == 2


@pytest.mark.usefixtures("clean_runs")
def test_only_the_owning_attempt_records_the_outcome(engine: sa.Engine) -> None:
    message_id = str(uuid.uuid4())
    runs.claim(engine, message_id, "test_book_job", {})
    time.sleep(1.1)
    runs.claim(engine, message_id, "test_book_job", {}, lease=1.0)
    assert runs.finish(engine, message_id, 1, "succeeded") is False
    assert runs.finish(engine, message_id, 2, "succeeded") is True


@pytest.mark.usefixtures("clean_runs")
def test_lease_is_read_when_claiming_so_it_can_be_changed(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    message_id = str(uuid.uuid4())
    runs.claim(engine, message_id, "test_book_job", {})
    monkeypatch.setattr(runs, "LEASE_SECONDS", 0.5)
    time.sleep(0.6)
    assert runs.claim(engine, message_id, "test_book_job", {}).attempt == 2


@pytest.fixture
def one_connection_engine(pg: PostgresServer) -> Iterator[tuple[sa.Engine, list[str]]]:
    """An engine of the app's kind with a single pooled connection, and the job_runs statements
    it runs (seen by the observer tracing uses)."""
    engine = create_engine(parse_database_url(pg.url()), pool_size=1)
    statements: list[str] = []

    def record(statement: str) -> contextlib.nullcontext[None]:
        statements.append(statement)
        return contextlib.nullcontext()

    runs.observe(engine, record)
    yield engine, statements
    engine.dispose()


def _committed(engine: sa.Engine, message_id: str) -> tuple[str, int] | None:
    with engine.connect() as connection:
        row = connection.execute(
            sa.text("SELECT status, attempts FROM job_runs WHERE message_id = :m"),
            {"m": message_id},
        ).one_or_none()
    return None if row is None else (row.status, row.attempts)


@pytest.mark.usefixtures("clean_runs")
def test_claim_and_finish_are_one_statement_each_and_committed_when_they_return(
    engine: sa.Engine, one_connection_engine: tuple[sa.Engine, list[str]]
) -> None:
    """Autocommit: no BEGIN/COMMIT round trips, and nothing left open on the pooled connection."""
    single, statements = one_connection_engine
    message_id = str(uuid.uuid4())
    assert runs.claim(single, message_id, "test_book_job", {}).attempt == 1
    with single.connect() as connection:
        # The pool's only connection: no transaction left open by the claim.
        assert connection.connection.dbapi_connection.info.transaction_status == IDLE
    # Another session (another delivery) sees the claim at once.
    assert _committed(engine, message_id) == ("running", 1)
    assert runs.finish(single, message_id, 1, "succeeded") is True
    assert _committed(engine, message_id) == ("succeeded", 1)
    assert [s.split()[0] for s in statements] == ["INSERT", "UPDATE"]


@pytest.mark.usefixtures("clean_runs")
def test_a_claim_that_fails_leaves_no_row_and_the_connection_usable(
    engine: sa.Engine, one_connection_engine: tuple[sa.Engine, list[str]]
) -> None:
    single, _ = one_connection_engine
    message_id = str(uuid.uuid4())
    with pytest.raises(sa.exc.DataError):
        # PostgreSQL refuses \u0000 in jsonb: the statement fails as a whole.
        runs.claim(single, message_id, "test_book_job", {"text": "\x00"})
    assert _committed(engine, message_id) is None
    assert runs.claim(single, message_id, "test_book_job", {}).attempt == 1


def _backend_pids(engine: sa.Engine, count: int) -> set[int]:
    """The server process ids of `count` connections checked out of `engine`'s pool at once."""
    with contextlib.ExitStack() as stack:
        connections = [stack.enter_context(engine.connect()) for _ in range(count)]
        return {c.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() for c in connections}


@pytest.mark.usefixtures("clean_runs")
def test_an_error_that_is_not_the_databases_returns_the_connection_idle_and_not_in_autocommit(
    pg: PostgresServer,
) -> None:
    one = create_engine(parse_database_url(pg.url()), pool_size=1)
    try:
        [before] = _backend_pids(one, 1)

        def failing(_statement: str) -> contextlib.nullcontext[None]:
            raise RuntimeError("the observer's own bug")

        runs.observe(one, failing)
        with pytest.raises(RuntimeError):
            runs.claim(one, str(uuid.uuid4()), "test_book_job", {})
        runs.observe(one, None)
        with one.connect() as connection:
            driver = connection.connection.driver_connection
            assert driver is not None
            assert driver.autocommit is False
            # The same session: a healthy connection is not thrown away.
            assert connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() == before
    finally:
        runs.observe(one, None)
        one.dispose()


@pytest.mark.usefixtures("clean_runs")
def test_a_connection_that_breaks_during_a_statement_is_replaced_with_the_rest_of_the_pool(
    pg: PostgresServer, engine: sa.Engine
) -> None:
    """As SQLAlchemy's own Connection does: the error is SQLAlchemy's OperationalError saying the
    connection was invalidated, and no pooled connection of before is handed out again."""
    two = create_engine(parse_database_url(pg.url()), pool_size=2)
    try:
        before = _backend_pids(two, 2)

        def end_the_session(_statement: str) -> contextlib.nullcontext[None]:
            # The checkout check has passed: the server ends the session under the statement.
            with engine.connect() as other:
                other.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY(%(p)s)",
                    {"p": list(before)},
                )
            runs.observe(two, None)
            return contextlib.nullcontext()

        runs.observe(two, end_the_session)
        message_id = str(uuid.uuid4())
        invalidated_before = two.pool._invalidate_time
        with pytest.raises(sa.exc.OperationalError) as raised:
            runs.claim(two, message_id, "test_book_job", {"secret": "kept out"})
        assert raised.value.connection_invalidated
        assert "kept out" not in str(raised.value)
        # The whole pool was invalidated by the failed statement itself, not only replaced one by
        # one by the checkout check (which would find the other terminated session too).
        assert two.pool._invalidate_time > invalidated_before
        after = _backend_pids(two, 2)
        assert not after & before
        assert runs.claim(two, message_id, "test_book_job", {}).attempt == 1
    finally:
        two.dispose()


@pytest.mark.usefixtures("clean_runs")
def test_a_database_error_in_a_job_runs_statement_is_sqlalchemys_with_the_values_hidden(
    engine: sa.Engine,
) -> None:
    with pytest.raises(sa.exc.DataError) as raised:
        runs.claim(engine, str(uuid.uuid4()), "test_book_job", {"secret": "\x00 kept out"})
    assert raised.value.statement is not None
    assert raised.value.statement.split()[0] == "INSERT"
    assert "kept out" not in str(raised.value)
    assert type(raised.value.orig).__module__.startswith("psycopg")


def _heartbeat_threads(ignore: frozenset[threading.Thread] = frozenset()) -> list[threading.Thread]:
    """Live heartbeat threads, less those in `ignore`: threads of earlier tests' endpoints beat
    every 10 s and may still be alive, so each test counts only the threads it started."""
    return [t for t in threading.enumerate() if t.name == "heartbeats" and t not in ignore]


def _earlier_threads() -> frozenset[threading.Thread]:
    return frozenset(_heartbeat_threads())


def _wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def _heartbeat_age(engine: sa.Engine, message_id: str) -> float:
    """Seconds since the run's heartbeat, on the database's clock (the one the lease is read on)."""
    with engine.connect() as connection:
        age = connection.execute(
            sa.text(
                "SELECT extract(epoch FROM clock_timestamp() - heartbeat_at) "
                "FROM job_runs WHERE message_id = :m"
            ),
            {"m": message_id},
        ).scalar_one()
    return float(age)


def _heartbeat_at(engine: sa.Engine, message_id: str) -> object:
    with engine.connect() as connection:
        return connection.execute(
            sa.text("SELECT heartbeat_at FROM job_runs WHERE message_id = :m"), {"m": message_id}
        ).scalar_one()


@pytest.mark.usefixtures("clean_runs")
def test_one_thread_keeps_every_concurrent_run_claimed(engine: sa.Engine) -> None:
    earlier = _earlier_threads()
    heartbeats = runs.Heartbeats(engine, interval=0.1)
    message_ids = [str(uuid.uuid4()) for _ in range(5)]
    for message_id in message_ids:
        assert runs.claim(engine, message_id, "test_book_job", {}).attempt == 1
    with contextlib.ExitStack() as stack:
        for message_id in message_ids:
            stack.enter_context(heartbeats.keep_alive(message_id, 1))
        assert len(_heartbeat_threads(earlier)) == 1
        time.sleep(1.3)
        # With a 1 s lease each run would be abandoned without the heartbeat.
        for message_id in message_ids:
            again = runs.claim(engine, message_id, "test_book_job", {}, lease=1.0)
            assert (again.attempt, again.status) == (None, "running")


@pytest.mark.usefixtures("clean_runs")
def test_a_run_that_left_the_heartbeat_is_abandoned_while_the_others_stay_claimed(
    engine: sa.Engine,
) -> None:
    heartbeats = runs.Heartbeats(engine, interval=0.1)
    left, stays = str(uuid.uuid4()), str(uuid.uuid4())
    for message_id in (left, stays):
        runs.claim(engine, message_id, "test_book_job", {})
    with heartbeats.keep_alive(stays, 1):
        with heartbeats.keep_alive(left, 1):
            time.sleep(0.3)
        # As if the request running `left` had died: nothing beats for it any more. A beat that
        # took `left` just before it left may still land, late on a loaded machine: wait on the
        # database's clock until its heartbeat is older than the lease, not a fixed time.
        deadline = time.monotonic() + 10
        while _heartbeat_age(engine, left) <= 1.05:
            assert time.monotonic() < deadline, "the heartbeat of the run that left kept moving"
            time.sleep(0.05)
        assert runs.claim(engine, left, "test_book_job", {}, lease=1.0).attempt == 2
        assert runs.claim(engine, stays, "test_book_job", {}, lease=1.0).attempt is None


@pytest.mark.usefixtures("clean_runs")
def test_heartbeats_only_touch_the_attempt_that_owns_the_run(engine: sa.Engine) -> None:
    heartbeats = runs.Heartbeats(engine, interval=0.1)
    message_id = str(uuid.uuid4())
    runs.claim(engine, message_id, "test_book_job", {})
    time.sleep(1.1)
    assert runs.claim(engine, message_id, "test_book_job", {}, lease=1.0).attempt == 2
    before = _heartbeat_at(engine, message_id)
    with heartbeats.keep_alive(message_id, 1):  # the superseded attempt
        time.sleep(0.5)
    assert _heartbeat_at(engine, message_id) == before


@pytest.mark.usefixtures("clean_runs")
def test_the_heartbeat_thread_ends_when_no_run_is_left_and_starts_again_for_the_next(
    engine: sa.Engine,
) -> None:
    earlier = _earlier_threads()
    heartbeats = runs.Heartbeats(engine, interval=0.1)
    message_id = str(uuid.uuid4())
    runs.claim(engine, message_id, "test_book_job", {})
    with heartbeats.keep_alive(message_id, 1):
        [first] = _heartbeat_threads(earlier)
    # It ends at its next beat that finds no run (0.1 s, however slow the machine is).
    _wait_for(lambda: not first.is_alive())
    assert _heartbeat_threads(earlier) == []
    with heartbeats.keep_alive(message_id, 1):
        [second] = _heartbeat_threads(earlier)
        assert second is not first
        time.sleep(1.3)
        assert runs.claim(engine, message_id, "test_book_job", {}, lease=1.0).attempt is None


@pytest.mark.usefixtures("clean_runs")
def test_the_heartbeat_survives_a_database_error_and_beats_again(engine: sa.Engine) -> None:
    heartbeats = runs.Heartbeats(engine, interval=0.1)
    message_id = str(uuid.uuid4())
    runs.claim(engine, message_id, "test_book_job", {})
    failures = [psycopg.OperationalError("database away")] * 3

    def flaky(statement: str) -> contextlib.nullcontext[None]:
        if failures and "heartbeat_at = now()" in statement and "unnest" in statement:
            raise failures.pop()  # as the driver raises it: the endpoint sees SQLAlchemy's error
        return contextlib.nullcontext()

    runs.observe(engine, flaky)
    try:
        with heartbeats.keep_alive(message_id, 1):
            time.sleep(1.4)
            assert failures == []
            assert runs.claim(engine, message_id, "test_book_job", {}, lease=1.0).attempt is None
    finally:
        runs.observe(engine, None)


@pytest.mark.usefixtures("clean_runs")
def test_a_run_still_going_at_its_first_beat_is_logged_once_as_running(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    heartbeats = runs.Heartbeats(engine, interval=0.1)
    message_id = str(uuid.uuid4())
    runs.claim(engine, message_id, "test_book_job", {})
    token = logs.request_id.set("delivery-request")
    try:
        with (
            caplog.at_level(logging.INFO, logger="bookapp.runs"),
            heartbeats.keep_alive(message_id, 1, "test_book_job"),
        ):
            time.sleep(0.5)  # several beats
    finally:
        logs.request_id.reset(token)
    running = [r for r in caplog.records if r.getMessage() == "job running"]
    assert len(running) == 1
    assert running[0].__dict__["message_id"] == message_id
    # Logged from the heartbeat thread, which has no request context of its own.
    assert running[0].__dict__["request_id"] == "delivery-request"
    assert running[0].__dict__["job"] == "test_book_job"
    assert running[0].__dict__["attempt"] == 1
