"""The job_runs table as an idempotency record: claim a delivery once, keep it alive, finish it.

SNS retries with the same MessageId, and may deliver while an earlier delivery of the same message
is still running (its 15 s timeout is far below a job's run time). Exactly one delivery wins the
claim (an INSERT ... ON CONFLICT DO UPDATE whose WHERE re-checks the row under its lock); a run
whose heartbeat stopped for longer than App Runner's 120 s request limit was abandoned (the instance
died) and may be claimed again.

Each write here is one statement run in autocommit: PostgreSQL commits a single statement on its
own, so the row is committed (visible to every other delivery, and durable) when the call
returns, exactly as with BEGIN ... COMMIT around it, at half the round trips (pool pre-ping and
the statement, instead of pre-ping, BEGIN, statement and COMMIT).
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bookapp import logs

log = logging.getLogger(__name__)

RunStatus = Literal["running", "succeeded", "failed", "rejected"]

# App Runner ends every request after 120 s: a run silent for longer has no request left to end it.
LEASE_SECONDS = 120.0
HEARTBEAT_SECONDS = 10.0

# The statements run as the driver's SQL (psycopg's %(name)s parameters), on the hot path of every
# delivery: no SQL compilation step, and SQLAlchemy's cursor events still fire (tracing).
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


def _autocommit(engine: Engine) -> sa.Connection:
    """A pooled connection on which each statement commits on its own (one statement per write)."""
    connection = engine.connect()
    connection.execution_options(isolation_level="AUTOCOMMIT")
    return connection


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
    with _autocommit(engine) as connection:
        attempt = connection.exec_driver_sql(_CLAIM, params).scalar_one_or_none()
        if attempt is not None:
            return Claim(attempt=attempt)
        # Only says which answer to give: whatever the row holds now, this delivery did not claim.
        row = connection.exec_driver_sql(_STATUS, {"message_id": message_id}).one()
    return Claim(attempt=None, status=row.status, error=row.error)


def record_rejected(
    engine: Engine, message_id: str, job: str, payload: Mapping[str, Any] | None, error: str
) -> None:
    with _autocommit(engine) as connection:
        connection.exec_driver_sql(
            _RECORD_REJECTED,
            {
                "message_id": message_id,
                "job": job,
                "payload": json.dumps(payload) if payload is not None else None,
                "error": error,
            },
        )


def finish(
    engine: Engine, message_id: str, attempt: int, status: RunStatus, error: str | None = None
) -> bool:
    """Record the outcome, only if this attempt still owns the run; returns whether it did."""
    with _autocommit(engine) as connection:
        result = connection.exec_driver_sql(
            _FINISH,
            {"status": status, "error": error, "message_id": message_id, "attempt": attempt},
        )
        return result.rowcount == 1


def recorded(engine: Engine, message_id: str) -> RecordedRun | None:
    """The finished run of `message_id` as job_runs holds it, or None if it is not finished."""
    with _autocommit(engine) as connection:
        row = connection.exec_driver_sql(_RECORDED, {"message_id": message_id}).one_or_none()
    if row is None:
        return None
    return RecordedRun(
        message_id=row.message_id,
        job=row.job,
        status=row.status,
        attempts=row.attempts,
        error=row.error,
        finished_at=row.finished_at,
    )


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
                with _autocommit(self._engine) as connection:
                    connection.exec_driver_sql(
                        _BEAT, {"message_ids": message_ids, "attempts": attempts}
                    )
            except sa.exc.SQLAlchemyError:
                continue  # the database is away; the next beat tries again
