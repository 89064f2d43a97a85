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

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

RunStatus = Literal["running", "succeeded", "failed", "rejected"]

# App Runner ends every request after 120 s: a run silent for longer has no request left to end it.
LEASE_SECONDS = 120.0
HEARTBEAT_SECONDS = 10.0

_CLAIM = sa.text(
    """
    INSERT INTO job_runs AS r (message_id, job, payload, status, attempts, started_at, heartbeat_at)
    VALUES (:message_id, :job, CAST(:payload AS jsonb), 'running', 1, now(), now())
    ON CONFLICT (message_id) DO UPDATE
       SET status = 'running', attempts = r.attempts + 1, started_at = now(), heartbeat_at = now(),
           finished_at = NULL, error = NULL, job = EXCLUDED.job, payload = EXCLUDED.payload
     WHERE r.status = 'failed'
        OR (r.status = 'running' AND r.heartbeat_at < now() - make_interval(secs => :lease))
    RETURNING r.attempts
    """
)
_STATUS = sa.text("SELECT status, error FROM job_runs WHERE message_id = :message_id")
_FINISH = sa.text(
    "UPDATE job_runs SET status = :status, finished_at = now(), heartbeat_at = now(), "
    "error = :error WHERE message_id = :message_id AND attempts = :attempt AND status = 'running'"
)
_BEAT = sa.text(
    "UPDATE job_runs SET heartbeat_at = now() "
    "WHERE message_id = :message_id AND attempts = :attempt AND status = 'running'"
)
_RECORD_REJECTED = sa.text(
    """
    INSERT INTO job_runs AS r (message_id, job, payload, status, attempts,
                               started_at, heartbeat_at, finished_at, error)
    VALUES (:message_id, :job, CAST(:payload AS jsonb), 'rejected', 1, now(), now(), now(), :error)
    ON CONFLICT (message_id) DO NOTHING
    """
)


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
        attempt = connection.execute(_CLAIM, params).scalar_one_or_none()
        if attempt is not None:
            return Claim(attempt=attempt)
        # Only says which answer to give: whatever the row holds now, this delivery did not claim.
        row = connection.execute(_STATUS, {"message_id": message_id}).one()
    return Claim(attempt=None, status=row.status, error=row.error)


def record_rejected(
    engine: Engine, message_id: str, job: str, payload: Mapping[str, Any] | None, error: str
) -> None:
    with _autocommit(engine) as connection:
        connection.execute(
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
        result = connection.execute(
            _FINISH,
            {"status": status, "error": error, "message_id": message_id, "attempt": attempt},
        )
        return result.rowcount == 1


class Heartbeat:
    """Touches heartbeat_at while a job runs, so a long run is not mistaken for an abandoned one."""

    def __init__(
        self, engine: Engine, message_id: str, attempt: int, interval: float | None = None
    ) -> None:
        self._engine = engine
        self._params = {"message_id": message_id, "attempt": attempt}
        self._interval = HEARTBEAT_SECONDS if interval is None else interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"heartbeat-{message_id}", daemon=True
        )

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                with _autocommit(self._engine) as connection:
                    connection.execute(_BEAT, self._params)
            except sa.exc.SQLAlchemyError:
                continue  # the database is away; the next beat tries again

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self._interval + 5)
