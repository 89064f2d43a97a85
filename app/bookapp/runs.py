"""The job_runs table as an idempotency record: claim a delivery once, keep it alive, finish it.

SNS retries with the same MessageId, and may deliver while an earlier delivery of the same message
is still running (its 15 s timeout is far below a job's run time). Exactly one delivery wins the
claim (an INSERT ... ON CONFLICT DO UPDATE whose WHERE re-checks the row under its lock); a run
whose heartbeat stopped for longer than App Runner's 120 s request limit was abandoned (the instance
died) and may be claimed again.

Each write here is one statement run in autocommit: PostgreSQL commits a single statement on its
own, so the row is committed (visible to every other delivery, and durable) when the call
returns, exactly as with BEGIN ... COMMIT around it, in one round trip instead of three (BEGIN,
statement, COMMIT).

The statements run on a connection of the engine's own pool, through the driver directly (see
`_autocommit`): SQLAlchemy's Connection around them (its checkout wrapper, the isolation level
switched to AUTOCOMMIT and back, its execution context and result objects) cost about as much CPU
as the statement's own client work (docs/performance.md, round 3).
What SQLAlchemy gave them is kept: the pool (same connections as every other query, with its
checkout check), errors raised as SQLAlchemy's exceptions with the parameters hidden, a
connection that broke invalidated with the whole pool, and a span per statement when tracing is on
(`observe`).
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Literal, cast

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bookapp import logs

log = logging.getLogger(__name__)

RunStatus = Literal["running", "succeeded", "failed", "rejected"]

# App Runner ends every request after 120 s: a run silent for longer has no request left to end it.
LEASE_SECONDS = 120.0
HEARTBEAT_SECONDS = 10.0

# The statements run as the driver's SQL (psycopg's %(name)s parameters), on the hot path of every
# delivery: no SQL compilation step.
_CLAIM = """
    INSERT INTO job_runs AS r (message_id, job, payload, status, attempts, started_at, heartbeat_at)
    VALUES (%(message_id)s, %(job)s, CAST(%(payload)s AS jsonb), 'running', 1, now(), now())
    ON CONFLICT (message_id) DO UPDATE
       SET status = 'running', attempts = r.attempts + 1, started_at = now(), heartbeat_at = now(),
           finished_at = NULL, error = NULL, job = EXCLUDED.job, payload = EXCLUDED.payload
     WHERE r.status = 'failed'
        OR (r.status = 'running' AND r.heartbeat_at < now() - make_interval(secs => %(lease)s))
    RETURNING r.attempts
    """
_STATUS = "SELECT status, error FROM job_runs WHERE message_id = %(message_id)s"
_RECORDED = (
    "SELECT message_id, job, status, attempts, error, finished_at FROM job_runs "
    "WHERE message_id = %(message_id)s AND status <> 'running' AND finished_at IS NOT NULL"
)
_FINISH = (
    "UPDATE job_runs SET status = %(status)s, finished_at = now(), heartbeat_at = now(), "
    "error = %(error)s "
    "WHERE message_id = %(message_id)s AND attempts = %(attempt)s AND status = 'running'"
)
_BEAT = """
    UPDATE job_runs AS r SET heartbeat_at = now()
      FROM unnest(CAST(%(message_ids)s AS text[]), CAST(%(attempts)s AS integer[]))
           AS b(message_id, attempt)
     WHERE r.message_id = b.message_id AND r.attempts = b.attempt AND r.status = 'running'
    """
_RECORD_REJECTED = """
    INSERT INTO job_runs AS r (message_id, job, payload, status, attempts,
                               started_at, heartbeat_at, finished_at, error)
    VALUES (%(message_id)s, %(job)s, CAST(%(payload)s AS jsonb), 'rejected', 1,
            now(), now(), now(), %(error)s)
    ON CONFLICT (message_id) DO NOTHING
    """


# Wraps each job_runs statement run on an engine: `observer(statement)` is entered before the
# statement and left after it (with its exception, if it failed). Tracing installs one that makes a
# span per statement (bookapp.tracing); SQLAlchemy's cursor events do not see these statements.
StatementObserver = Callable[[str], AbstractContextManager[object]]
_observers: weakref.WeakKeyDictionary[Engine, StatementObserver] = weakref.WeakKeyDictionary()


def observe(engine: Engine, observer: StatementObserver | None) -> None:
    """Have `observer` wrap every job_runs statement run on `engine` (None: stop observing)."""
    if observer is None:
        _observers.pop(engine, None)
    else:
        _observers[engine] = observer


Execute = Callable[[str, Mapping[str, Any]], "psycopg.Cursor[Any]"]


def _autocommit[T](engine: Engine, work: Callable[[Execute], T]) -> T:
    """`work(execute)` on one connection of `engine`'s pool, each statement committed on its own.

    The connection is checked out from the pool as any other (its checkout check included),
    switched to autocommit for `work` and back, and returned. Errors are SQLAlchemy's, as
    `engine.connect()` and `exec_driver_sql` raise them (parameters hidden when the engine hides
    them): a psycopg error becomes the matching `sqlalchemy.exc.DBAPIError` subclass (`.orig` the
    driver's error), and one that means the connection broke invalidates it and the rest of the
    pool, as SQLAlchemy does.
    """
    dialect = engine.dialect
    try:
        pooled = engine.raw_connection()
    except psycopg.Error as error:
        disconnect = dialect.is_disconnect(cast(Any, error), None, None)
        raise _wrapped(engine, None, None, error, disconnect) from error
    connection: psycopg.Connection[Any] = pooled.driver_connection  # type: ignore[assignment]
    observer = _observers.get(engine)
    current: list[Any] = [None, None]  # the statement running and its parameters, for errors

    def execute(statement: str, parameters: Mapping[str, Any]) -> psycopg.Cursor[Any]:
        current[0], current[1] = statement, parameters
        if observer is None:
            return connection.execute(statement, parameters)
        with observer(statement):
            return connection.execute(statement, parameters)

    try:
        connection.autocommit = True
        try:
            return work(execute)
        finally:
            if _idle(connection):
                connection.autocommit = False
    except psycopg.Error as error:
        disconnect = dialect.is_disconnect(cast(Any, error), pooled, None)
        if disconnect:
            # As SQLAlchemy's Connection does: this connection is closed, and every connection
            # pooled before now is replaced at its next checkout.
            engine.pool._invalidate(pooled, error)
        raise _wrapped(engine, current[0], current[1], error, disconnect) from error
    finally:
        if pooled.is_valid and not _idle(connection):
            # Left mid-statement (and in autocommit) by something other than a database error,
            # e.g. an interrupt: it must not go back into the pool as it is.
            pooled.invalidate()
        pooled.close()


def _idle(connection: psycopg.Connection[Any]) -> bool:
    """Open, and neither in a transaction nor in the middle of a statement."""
    return (
        not connection.closed
        and connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    )


def _wrapped(
    engine: Engine,
    statement: str | None,
    parameters: Mapping[str, Any] | None,
    error: psycopg.Error,
    disconnect: bool,
) -> sa.exc.StatementError:
    return sa.exc.DBAPIError.instance(
        statement,
        dict(parameters) if parameters is not None else None,
        error,
        psycopg.Error,
        hide_parameters=engine.hide_parameters,
        connection_invalidated=disconnect,
        dialect=engine.dialect,
    )


@dataclass(frozen=True)
class Claim:
    """The outcome of a claim: `attempt` is set when this delivery must run the job."""

    attempt: int | None
    status: RunStatus | None = None
    error: str | None = None


@dataclass(frozen=True)
class RecordedRun:
    """A run whose outcome is recorded: what a job result reports (bookapp.results)."""

    message_id: str
    job: str
    status: RunStatus
    attempts: int
    error: str | None
    finished_at: datetime.datetime


def claim(
    engine: Engine,
    message_id: str,
    job: str,
    payload: Mapping[str, Any],
    lease: float | None = None,
) -> Claim:
    params = {
        "message_id": message_id,
        "job": job,
        "payload": json.dumps(payload),
        "lease": LEASE_SECONDS if lease is None else lease,  # read now, so tests can patch it
    }

    def work(execute: Execute) -> Claim:
        row = execute(_CLAIM, params).fetchone()
        if row is not None:
            return Claim(attempt=row[0])
        # Only says which answer to give: whatever the row holds now, this delivery did not claim.
        row = execute(_STATUS, {"message_id": message_id}).fetchone()
        if row is None:  # deleted in between: as SQLAlchemy's .one() would say
            raise sa.exc.NoResultFound("No row was found when one was required")
        return Claim(attempt=None, status=row[0], error=row[1])

    return _autocommit(engine, work)


def record_rejected(
    engine: Engine, message_id: str, job: str, payload: Mapping[str, Any] | None, error: str
) -> None:
    params = {
        "message_id": message_id,
        "job": job,
        "payload": json.dumps(payload) if payload is not None else None,
        "error": error,
    }
    _autocommit(engine, lambda execute: execute(_RECORD_REJECTED, params))


def finish(
    engine: Engine, message_id: str, attempt: int, status: RunStatus, error: str | None = None
) -> bool:
    """Record the outcome, only if this attempt still owns the run; returns whether it did."""
    params = {"status": status, "error": error, "message_id": message_id, "attempt": attempt}
    return _autocommit(engine, lambda execute: execute(_FINISH, params).rowcount == 1)


def recorded(engine: Engine, message_id: str) -> RecordedRun | None:
    """The finished run of `message_id` as job_runs holds it, or None if it is not finished."""
    row = _autocommit(
        engine, lambda execute: execute(_RECORDED, {"message_id": message_id}).fetchone()
    )
    if row is None:
        return None
    message_id, job, status, attempts, error, finished_at = row
    return RecordedRun(
        message_id=message_id,
        job=job,
        status=status,
        attempts=attempts,
        error=error,
        finished_at=finished_at,
    )


def _touch(engine: Engine, params: Mapping[str, Any]) -> None:
    _autocommit(engine, lambda execute: execute(_BEAT, params))


@dataclass
class _Watched:
    """A run in progress: how many deliveries hold it, and whether "job running" was logged."""

    job: str
    request_id: str | None = None  # of the delivery that started it, for its "job running" line
    holders: int = 0
    announced: bool = False


class Heartbeats:
    """Touches heartbeat_at of every run in progress, so a long run is not taken for abandoned.

    One thread per endpoint beats all the runs of this process with one statement every
    `interval` (a thread per run cost more than the no-op job it watched). It starts with the first
    run and ends when no run is left; a run's first beat comes within one interval of its claim,
    far inside the lease. A run still going at its first beat is logged once as "job running"
    (the endpoint logs one line per delivery, when it finished): a run whose instance dies
    mid-way leaves that line without a "job finished".
    """

    def __init__(self, engine: Engine, interval: float | None = None) -> None:
        self._engine = engine
        self._interval = HEARTBEAT_SECONDS if interval is None else interval
        self._lock = threading.Lock()
        self._runs: dict[tuple[str, int], _Watched] = {}  # by (message_id, attempt)
        self._thread: threading.Thread | None = None

    @contextmanager
    def keep_alive(self, message_id: str, attempt: int, job: str = "?") -> Iterator[None]:
        key = (message_id, attempt)
        with self._lock:
            entry = self._runs.setdefault(key, _Watched(job, logs.request_id.get()))
            entry.holders += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._beat, name="heartbeats", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                entry = self._runs[key]
                entry.holders -= 1
                if entry.holders == 0:
                    del self._runs[key]

    def _beat(self) -> None:
        while True:
            time.sleep(self._interval)
            with self._lock:
                if not self._runs:
                    self._thread = None  # under the lock: the next run starts a new thread
                    return
                message_ids = [message_id for message_id, _ in self._runs]
                attempts = [attempt for _, attempt in self._runs]
                running = [(key, e) for key, e in self._runs.items() if not e.announced]
                for _key, entry in running:
                    entry.announced = True
            for (message_id, attempt), entry in running:
                # This thread has no request context: the delivery's ids are passed along.
                log.info(
                    "job running",
                    extra={
                        "message_id": message_id,
                        "request_id": entry.request_id,
                        "job": entry.job,
                        "attempt": attempt,
                    },
                )
            try:
                _touch(self._engine, {"message_ids": message_ids, "attempts": attempts})
            except sa.exc.SQLAlchemyError:
                continue  # the database is away; the next beat tries again
            except Exception:
                # Anything else must not end the thread: every run of this process would then
                # lose its lease and be taken for abandoned.
                log.exception("heartbeat failed")
