"""Lambda entry for Custom::JobRun: crhelper wiring around `core` and `runs`.

- Create: validate the properties, publish {"job", "payload", "timestamp", "report": true} to the
  job topic (with the `job` message attribute), then wait on the results queue for the result
  whose message_id is the published MessageId. `succeeded` -> SUCCESS with physical id = that
  MessageId and `Data` MessageId and Attempts. `failed` or `rejected` -> FAILED at once with the
  app's error text. No result in time -> FAILED naming the job, the MessageId, the time waited
  and where to look.
- Update: runs the job again in the same way (a changed `Revision` is what asks for it); the
  physical id stays. An Update that CloudFormation sends while it rolls the stack back (stack
  status UPDATE_ROLLBACK_IN_PROGRESS) runs nothing and succeeds: see `core.skips_job`.
- Delete: publishes nothing and succeeds.

The function acts only on the topic and the queue its template pinned (JOB_TOPIC_ARN,
RESULT_QUEUE_URL): properties naming others are refused before any call.

Why the wait runs inside one invocation instead of crhelper's polling: the migration normally
takes seconds, so a bounded loop is simple and needs no EventBridge rules or lambda:AddPermission
rights (which crhelper's poller needs, and it never times out on its own). The wait is
min(TimeoutSeconds, remaining Lambda time - SAFETY_MARGIN_SECONDS), so the answer is always sent
before the Lambda (and ServiceTimeout) ends.

A duplicated invocation publishes the job once more and waits for that run's own result: jobs
run this way must be idempotent (db_migrate is: a second run under the migration lock finds
nothing to do).

Environment: JOB_TOPIC_ARN, RESULT_QUEUE_URL (required), LOG_LEVEL (INFO),
POLL_INTERVAL_SECONDS (2), SAFETY_MARGIN_SECONDS (30), LONG_POLL_SECONDS (20).
"""

from __future__ import annotations

import logging
import os
import time
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3

from cfn_guard.resource import custom_resource
from cfn_guard.serve import serve
from cfn_guard.settings import log_level, retry_config
from job_run import core, runs
from job_run.core import PropertyError
from job_run.runs import JobRunError

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

logger = logging.getLogger(__name__)


RETRY_CONFIG = retry_config()
# A long poll holds the connection for up to 20 s: the read timeout must outlast it.
SQS_CONFIG = retry_config(read_timeout=runs.MAX_LONG_POLL_SECONDS + 10)


def _settings() -> tuple[str, float, float, int]:
    level = log_level(os.environ)
    poll = float(os.environ.get("POLL_INTERVAL_SECONDS", "2"))
    margin = float(os.environ.get("SAFETY_MARGIN_SECONDS", "30"))
    long_poll = int(os.environ.get("LONG_POLL_SECONDS", str(runs.MAX_LONG_POLL_SECONDS)))
    if not 0 < poll <= 60:
        raise ValueError("POLL_INTERVAL_SECONDS must be more than 0 and at most 60")
    if not 0 <= margin <= 300:
        raise ValueError("SAFETY_MARGIN_SECONDS must be from 0 to 300")
    if not 0 <= long_poll <= runs.MAX_LONG_POLL_SECONDS:
        raise ValueError(f"LONG_POLL_SECONDS must be from 0 to {runs.MAX_LONG_POLL_SECONDS}")
    return level, poll, margin, long_poll


_init_error: Exception | None = None
PINNED_TOPIC, PINNED_QUEUE = "", ""
try:
    LOG_LEVEL, POLL_SECONDS, MARGIN_SECONDS, LONG_POLL_SECONDS = _settings()
    PINNED_TOPIC, PINNED_QUEUE = core.parse_pins(os.environ)
except ValueError as error:
    _init_error = error
    LOG_LEVEL, POLL_SECONDS, MARGIN_SECONDS, LONG_POLL_SECONDS = "INFO", 2.0, 30.0, 20

helper = custom_resource(LOG_LEVEL, init_error=_init_error)

# Injectable for tests: the wait's clock and sleeper, and the message timestamp.
clock: runs.Clock = time.monotonic
sleep: runs.Sleeper = time.sleep
now: runs.Clock = time.time


@cache
def get_client(service: str, region: str) -> Any:
    """One client per service and region (the topic's), created on first use."""
    config = SQS_CONFIG if service == "sqs" else RETRY_CONFIG
    return boto3.client(service, region_name=region, config=config)  # type: ignore[call-overload]


def _sns(region: str) -> SNSClient:
    client: SNSClient = get_client("sns", region)
    return client


def _sqs(region: str) -> SQSClient:
    client: SQSClient = get_client("sqs", region)
    return client


def _cloudformation(region: str) -> CloudFormationClient:
    client: CloudFormationClient = get_client("cloudformation", region)
    return client


def _remaining_seconds(context: Any) -> float:
    return float(context.get_remaining_time_in_millis()) / 1000.0


def _spec(event: dict[str, Any]) -> core.JobRunSpec:
    return core.parse_properties(
        event.get("ResourceProperties") or {},
        pinned_topic=PINNED_TOPIC,
        pinned_queue=PINNED_QUEUE,
    )


def _run(spec: core.JobRunSpec, context: Any, *, on_create: bool) -> str:
    """Publish the job, wait for its result; return the MessageId or raise with the Reason."""
    wait = core.effective_wait(spec.timeout_seconds, _remaining_seconds(context), MARGIN_SECONDS)
    if wait < spec.timeout_seconds - 1:
        logger.warning(
            "Waiting %.0f s instead of %d s: the Lambda has no more time left",
            wait,
            spec.timeout_seconds,
        )
    message_id = runs.publish(_sns(spec.region), spec, int(now()))
    if on_create:
        # Kept on FAILED too (crhelper sends this id when the handler raises); Delete ignores it.
        helper.PhysicalResourceId = message_id
    result = runs.wait_for_result(
        _sqs(spec.region),
        spec.queue_url,
        message_id,
        spec.job,
        wait_seconds=wait,
        poll_seconds=POLL_SECONDS,
        long_poll_seconds=LONG_POLL_SECONDS,
        clock=clock,
        sleep=sleep,
    )
    if result is None:
        raise JobRunError(core.timeout_reason(spec.job, message_id, wait))
    if result.status != "succeeded":
        raise JobRunError(core.failure_reason(result, spec.job))
    helper.Data.update({"MessageId": message_id, "Attempts": str(result.attempt)})
    return message_id


@helper.create
def create(event: dict[str, Any], context: Any) -> str:
    return _run(_spec(event), context, on_create=True)


@helper.update
def update(event: dict[str, Any], context: Any) -> str:
    spec = _spec(event)
    physical_id = str(event.get("PhysicalResourceId", ""))
    status = runs.stack_status(_cloudformation(spec.region), str(event.get("StackId", "")))
    if core.skips_job(status):
        logger.warning("The stack is rolling back (%s): job %s is not run again", status, spec.job)
        helper.Data.update({"MessageId": "", "Attempts": "0"})
        return physical_id
    _run(spec, context, on_create=False)
    return physical_id


@helper.delete
def delete(event: dict[str, Any], _context: Any) -> None:
    logger.info(
        "Delete of %s: a job run leaves nothing to remove; nothing is published",
        event.get("PhysicalResourceId"),
    )


def handler(event: dict[str, Any], context: Any) -> None:
    """Lambda entry point: the shared guard admits only this stack's requests with CloudFormation's
    response URLs; crhelper then answers, FAILED with the error as Reason."""
    serve(event, context, helper)


__all__ = ["JobRunError", "PropertyError", "handler"]
