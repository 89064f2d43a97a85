"""The SNS job endpoint: verify, confirm subscriptions, run each notification's job once.

Status codes follow SNS's retry rules (2xx and 4xx are final, 5xx and timeouts are retried, then the
dead-letter queue keeps the message): a message that can never succeed (malformed, forged, unknown
job, invalid payload) gets 4xx; a failure that may pass (database away, job exception, certificate
download failed) gets 5xx; a run still in progress gets 503 so SNS comes back after it finished.

A message with `"report": true` also gets its outcome sent to the results queue once it is recorded
(bookapp.results); a result that cannot be sent answers 5xx, and SNS's retry, finding the run
finished, sends it again without running anything.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import botocore.exceptions
import psycopg.errors
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bookapp import logs, migrate, results, runs
from bookapp.db import database_unavailable
from bookapp.jobs import REGISTRY, TEST_JOBS, InvalidJobPayload, JobContext
from bookapp.sns import (
    MAX_BODY_BYTES,
    CertificateUnavailable,
    Envelope,
    MalformedMessage,
    VerificationFailed,
    Verifier,
    parse_envelope,
)

log = logging.getLogger(__name__)

# How long a run that has finished keeps trying to record its outcome while the database is away.
# The request may be past SNS's 15 s already; what matters is that the outcome gets recorded once
# the database is back, so SNS's retry finds it (200 duplicate) instead of waiting for the lease to
# expire and running the job again. The heartbeat keeps the run's lease alive meanwhile.
FINISH_RETRY_SECONDS = 60.0
_FINISH_MAX_DELAY = 2.0

SnsConfirmer = Callable[[str, str], None]  # (topic ARN, token)


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict[str, Any]


def _answer(status: int, outcome: str, **extra: Any) -> Outcome:
    return Outcome(status, {"status": outcome, **extra})


def _run_answer(status: runs.RunStatus, error_text: str | None, attempt: int) -> Outcome:
    """The answer to a delivery whose run ended and was recorded: 500 makes SNS retry a failure."""
    if status == "succeeded":
        return _answer(200, "succeeded", attempt=attempt)
    if status == "rejected":
        return _answer(422, "rejected", reason=error_text, attempt=attempt)
    return _answer(500, "failed", attempt=attempt)


def _error_text(error: BaseException) -> str:
    """A short reason for logs and job_runs.error that carries no job data.

    SQLAlchemy's message ends with the statement and its parameters (the payload), and
    PostgreSQL's DETAIL and CONTEXT lines may quote the values: keep the driver's error class and
    its first line only.
    """
    if isinstance(error, sa.exc.SQLAlchemyError):
        source: BaseException = getattr(error, "orig", None) or error
        text = f"{type(source).__name__}: {str(source).partition(chr(10))[0]}"
    else:
        text = f"{type(error).__name__}: {error}"
    # PostgreSQL text cannot hold NUL: an error text with one could never be recorded.
    return text.replace("\x00", "\\0")[:1000]


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def parse_job_message(message: str) -> tuple[str, dict[str, Any]]:
    """DESIGN §2.3: {"job": NAME, "payload": {...}, "timestamp": EPOCH}; payload defaults to {}."""
    try:
        data = json.loads(message)
    except json.JSONDecodeError:
        raise InvalidJobPayload("Message is not JSON") from None
    except (RecursionError, ValueError):
        raise InvalidJobPayload(
            "Message is JSON nested too deeply or with too large a number"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("job"), str) or not data["job"]:
        raise InvalidJobPayload('Message must be a JSON object with a "job" name')
    payload = data.get("payload", {})
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise InvalidJobPayload('"payload" must be a JSON object')
    if not isinstance(data.get("report", False), bool):
        raise InvalidJobPayload('"report" must be true or false')
    # PostgreSQL's text and jsonb cannot hold NUL: such a message could never be recorded, and
    # retrying cannot help, so it is refused like any other payload that can never run.
    if "\x00" in data["job"] or _holds_nul(payload):
        raise InvalidJobPayload("job name or payload contains a NUL character (\\u0000)")
    return data["job"], payload


def wants_report(message: str) -> bool:
    """Whether the message asks for its result (DESIGN §2.6): `"report": true`, nothing else."""
    try:
        data = json.loads(message)
    except (ValueError, RecursionError):  # not JSON, or past Python's nesting or digit limits
        return False
    return isinstance(data, dict) and data.get("report") is True


class JobEndpoint:
    """Holds what the endpoint needs; `handle` is synchronous and runs in a worker thread.

    `results_queue` is where results go when a message asks for them; None when the app has no
    JOB_RESULTS_QUEUE_URL (then `report` is ignored, and that is logged once).
    """

    def __init__(
        self,
        engine: Engine,
        verifier: Verifier,
        confirm: SnsConfirmer,
        *,
        enable_test_jobs: bool = False,
        results_queue: results.ResultQueue | None = None,
    ) -> None:
        self.engine = engine
        self.verifier = verifier
        self.confirm = confirm
        self.enable_test_jobs = enable_test_jobs
        self.results_queue = results_queue
        self.heartbeats = runs.Heartbeats(engine)
        self._unreported_logged = False

    async def respond(self, request: Request) -> Response:
        body = await _read_limited(request)
        if body is None:
            log.warning("job request rejected", extra={"check": "size", "limit": MAX_BODY_BYTES})
            return JSONResponse({"status": "rejected", "reason": "body too large"}, status_code=413)
        outcome = await run_in_threadpool(self.handle, body)
        headers = {"Retry-After": "20"} if outcome.status == 503 else None
        return JSONResponse(outcome.body, status_code=outcome.status, headers=headers)

    def handle(self, body: bytes) -> Outcome:
        try:
            envelope = parse_envelope(body)
        except MalformedMessage as error:
            log.warning("job request rejected", extra={"check": "envelope", "reason": str(error)})
            return _answer(400, "rejected", reason=str(error))
        # Nothing of an unverified message is logged but the check that refused it (and its type,
        # one of three): its MessageId joins the log context only once the signature held.
        try:
            self.verifier.verify(envelope)
        except VerificationFailed as error:
            log.warning(
                "job request rejected",
                extra={"check": error.check, "reason": str(error), "type": envelope.type},
            )
            return _answer(403, "rejected", reason="verification failed")
        except CertificateUnavailable as error:
            log.error("signing certificate unavailable", extra={"reason": str(error)})  # noqa: TRY400
            return _answer(503, "unavailable", reason="signing certificate unavailable")
        token = logs.message_id.set(envelope.message_id)
        try:
            return self._verified(envelope)
        finally:
            logs.message_id.reset(token)

    def _verified(self, envelope: Envelope) -> Outcome:
        if envelope.type == "SubscriptionConfirmation":
            return self._confirm(envelope)
        if envelope.type == "UnsubscribeConfirmation":
            log.warning("subscription was unsubscribed", extra={"topic_arn": envelope.topic_arn})
            return _answer(200, "acknowledged")
        return self._notification(envelope)

    def _confirm(self, envelope: Envelope) -> Outcome:
        try:
            self.confirm(envelope.topic_arn, envelope.fields["Token"])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            log.error("ConfirmSubscription failed", extra={"reason": _error_text(error)})  # noqa: TRY400
            return _answer(503, "unavailable", reason="could not confirm the subscription")
        log.info("subscription confirmed", extra={"topic_arn": envelope.topic_arn})
        return _answer(200, "confirmed")

    def _notification(self, envelope: Envelope) -> Outcome:
        message_id = envelope.message_id
        report = wants_report(envelope.message)
        try:
            name, payload = parse_job_message(envelope.message)
        except InvalidJobPayload as error:
            return self._reject(message_id, envelope.message, str(error), report)
        if name not in REGISTRY:
            return self._reject(message_id, envelope.message, f"unknown job {name[:100]!r}", report)
        if name in TEST_JOBS and not self.enable_test_jobs:
            return self._reject(
                message_id,
                envelope.message,
                f"{name} is a test job: off unless ENABLE_TEST_JOBS=true",
                report,
            )
        try:
            claim = self._claim(message_id, name, payload)
        except sa.exc.SQLAlchemyError as error:
            log.error(  # noqa: TRY400 - the reason is enough, no traceback
                "job not claimed: database", extra={"job": name, "reason": _error_text(error)}
            )
            return _answer(503, "unavailable", reason="database unavailable")
        if claim.attempt is None:
            return self._already(message_id, name, claim, report)
        return self._run(message_id, name, payload, claim.attempt, report)

    def _claim(self, message_id: str, name: str, payload: Mapping[str, Any]) -> runs.Claim:
        try:
            return runs.claim(self.engine, message_id, name, payload)
        except sa.exc.ProgrammingError as error:
            # On a fresh database job_runs exists only after the first migration: db_migrate
            # creates it (under the migration lock) and is then recorded like any other job.
            # Every other job answers 503 until then, so SNS retries it.
            if name != "db_migrate" or not isinstance(error.orig, psycopg.errors.UndefinedTable):
                raise
        log.info("job_runs missing: migrating before db_migrate is recorded", extra={"job": name})
        migrate.upgrade_to_head(self.engine)
        return runs.claim(self.engine, message_id, name, payload)

    def _reject(self, message_id: str, message: str, reason: str, report: bool) -> Outcome:
        job = "?"
        try:
            data = json.loads(message)
            if isinstance(data, dict) and isinstance(data.get("job"), str):
                job = data["job"][:200].replace("\x00", "")
        except (RecursionError, ValueError):  # JSONDecodeError is a ValueError
            pass
        try:
            runs.record_rejected(self.engine, message_id, job, None, reason)
        except sa.exc.SQLAlchemyError as error:
            log.error("rejection not recorded: database", extra={"reason": _error_text(error)})  # noqa: TRY400
            return _answer(503, "unavailable", reason="database unavailable")
        # run_status like "job finished": the stack's log metric filters count both lines.
        log.warning("job rejected", extra={"job": job, "reason": reason, "run_status": "rejected"})
        unreported = self._report(message_id, report)
        if unreported is not None:
            return unreported
        return _answer(422, "rejected", reason=reason)

    def _already(self, message_id: str, name: str, claim: runs.Claim, report: bool) -> Outcome:
        log.info("duplicate delivery", extra={"job": name, "run_status": claim.status})
        if claim.status in ("succeeded", "rejected"):
            # A retry of a finished run: its result may not have reached the queue last time.
            unreported = self._report(message_id, report)
            if unreported is not None:
                return unreported
        if claim.status == "succeeded":
            return _answer(200, "succeeded", duplicate=True)
        if claim.status == "rejected":
            return _answer(422, "rejected", reason=claim.error or "rejected", duplicate=True)
        return _answer(503, "in_progress", reason="the job is running; retry later")

    def _report(self, message_id: str, report: bool) -> Outcome | None:
        """Send the recorded outcome if the message asked for it; an Outcome (5xx) if that failed.

        The result is read back from job_runs, so it says exactly what is recorded, and a retry
        sends the same result again.
        """
        if not report:
            return None
        if self.results_queue is None:
            if not self._unreported_logged:
                self._unreported_logged = True
                log.warning(
                    "a job message asks for its result, but JOB_RESULTS_QUEUE_URL is not set: "
                    "results are not reported (logged once)"
                )
            return None
        try:
            run = runs.recorded(self.engine, message_id)
        except sa.exc.SQLAlchemyError as error:
            log.error("job result not reported: database", extra={"reason": _error_text(error)})  # noqa: TRY400
            return _answer(503, "unavailable", reason="database unavailable")
        if run is None:
            log.error("job result not reported: the run has no recorded outcome")
            return _answer(503, "unavailable", reason="job result not reported")
        try:
            self.results_queue.send(results.JobResult.of(run))
        except results.ReportNotSent as error:
            log.error(  # noqa: TRY400 - the reason is enough, no traceback
                "job result not reported",
                extra={"job": run.job, "run_status": run.status, "reason": str(error)},
            )
            return _answer(503, "unavailable", reason="job result not reported")
        return None

    def _run(
        self, message_id: str, name: str, payload: Mapping[str, Any], attempt: int, report: bool
    ) -> Outcome:
        # One line per delivery ("job finished"); a run still going at its first heartbeat also
        # logs "job running" (runs.Heartbeats), so a run whose instance died leaves a trace.
        started = time.monotonic()
        status: runs.RunStatus
        error_text: str | None = None
        interrupted = False
        with self.heartbeats.keep_alive(message_id, attempt, name):
            try:
                context = JobContext(engine=self.engine, message_id=message_id, attempt=attempt)
                REGISTRY[name](payload, context)
            except InvalidJobPayload as error:
                status, error_text = "rejected", str(error)
            except sa.exc.SQLAlchemyError as error:
                status, error_text = "failed", _error_text(error)
                if database_unavailable(error):
                    # Not the job's own failure: the database went away, or refused a new
                    # connection (an old instance after a password rotation). The run is recorded
                    # failed, so SNS's retry claims it again at once, but it is neither counted
                    # as a failed job ("job finished") nor reported: the answer is 503.
                    interrupted = True
                    error_text = f"interrupted, database unavailable: {error_text}"
                    log.warning(
                        "job interrupted: database unavailable",
                        extra={"job": name, "attempt": attempt, "reason": error_text},
                    )
                else:
                    # No exc_info: the exception's text quotes the statement's values; the frames
                    # say where it failed.
                    log.error(  # noqa: TRY400
                        "job failed",
                        extra={
                            "job": name,
                            "attempt": attempt,
                            "reason": error_text,
                            "traceback": "".join(traceback.format_tb(error.__traceback__)),
                        },
                    )
            except Exception as error:
                log.exception("job failed", extra={"job": name, "attempt": attempt})
                status, error_text = "failed", _error_text(error)
            else:
                status = "succeeded"
            recorded = self._finish(name, message_id, attempt, status, error_text)
        if recorded is None:
            return _answer(503, "unavailable", reason="database unavailable")
        if not recorded:
            # The lease ran out (no heartbeat for LEASE_SECONDS) and another delivery claimed the
            # run: that attempt records the outcome. SNS need not retry this one.
            log.warning(
                f"outcome not recorded: attempt {attempt} no longer owns the run",
                extra={"job": name, "attempt": attempt, "run_status": status},
            )
            return _answer(200, status, attempt=attempt, superseded=True)
        if interrupted:
            return _answer(503, "unavailable", reason="database unavailable", attempt=attempt)
        log.info(
            "job finished",
            extra={
                "job": name,
                "attempt": attempt,
                "run_status": status,
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
            },
        )
        unreported = self._report(message_id, report)
        if unreported is not None:
            return unreported
        return _run_answer(status, error_text, attempt)

    def _finish(
        self,
        name: str,
        message_id: str,
        attempt: int,
        status: runs.RunStatus,
        error_text: str | None,
    ) -> bool | None:
        """runs.finish, retried with backoff for FINISH_RETRY_SECONDS; None if never recorded."""
        deadline = time.monotonic() + FINISH_RETRY_SECONDS
        delay = 0.25
        while True:
            try:
                return runs.finish(self.engine, message_id, attempt, status, error_text)
            except sa.exc.SQLAlchemyError as error:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    log.error(  # noqa: TRY400 - the reason is enough, no traceback
                        "job outcome not recorded",
                        extra={"job": name, "run_status": status, "reason": _error_text(error)},
                    )
                    return None
                log.warning(
                    "job outcome not recorded yet: retrying",
                    extra={"job": name, "run_status": status, "reason": _error_text(error)},
                )
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, _FINISH_MAX_DELAY)


async def _read_limited(request: Request) -> bytes | None:
    """The body, or None when it is larger than SNS's 256 KB message limit allows (300 KB)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
