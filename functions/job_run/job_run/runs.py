"""The AWS calls behind Custom::JobRun; each takes its client as an argument.

- `publish`: one SNS Publish of the job message, with the `job` message attribute that filter
  policies route on. Returns the MessageId, which the app uses as the run's key.
- `wait_for_result`: reads the results queue until the result for that MessageId arrives or the
  wait ends. Results for other messages belong to other job-run resources waiting at the same
  time: they are made visible again at once (visibility timeout 0) and never deleted. Every copy
  of our own result is deleted.
- `stack_status`: the stack's status, to tell an Update sent by a rollback.

Errors become `JobRunError` with a Reason for the person reading stack events: what was attempted,
on which topic or queue, and what to do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from cfn_guard.aws import ACCESS_DENIED_CODES, THROTTLED_CODES, error_code
from job_run.core import (
    JobResult,
    JobRunSpec,
    ResultError,
    error_for_log,
    fit,
    job_message,
    malformed_reason,
    parse_result,
    result_owner,
    short,
)

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleeper = Callable[[float], None]

# SQS's longest long poll; the SQS client's read timeout must be longer.
MAX_LONG_POLL_SECONDS = 20
# While a result is being decided on, no other reader sees it; released at once if it is not ours.
RECEIVE_VISIBILITY_SECONDS = 30

# Also the names SQS and an encrypted topic's KMS key use for throttling.
_THROTTLED = THROTTLED_CODES | {"RequestThrottled", "KMSThrottling"}
_TOPIC_MISSING = frozenset({"NotFound", "NotFoundException"})
_QUEUE_MISSING = frozenset(
    {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NonExistentQueue"}
)


class JobRunError(RuntimeError):
    """A call failed or the job did; the message is the Reason CloudFormation shows."""


def _message(error: ClientError) -> str:
    text = str(error.response.get("Error", {}).get("Message", ""))
    return " ".join(text.split())[:120]


def _kms_problem(code: str) -> bool:
    # SNS names them KMSAccessDenied, KMSDisabled, ...; SQS KMS.AccessDeniedException, ...
    return code.startswith("KMS")


def queue_name(queue_url: str) -> str:
    """The queue's name: the last part of its URL, which is all a Reason needs to name it."""
    return queue_url.rstrip("/").rsplit("/", 1)[-1]


def _explain(error: Exception, call: str, target: str, context: str = "") -> JobRunError:
    """Turn an AWS failure into a Reason of at most 256 characters; the raw error is logged."""
    logger.warning("%s on %s failed: %s", call, target, error)
    if not isinstance(error, ClientError):
        text = f"{call} on {target} failed: {type(error).__name__}"
    else:
        code = error_code(error)
        if code in ACCESS_DENIED_CODES:
            text = (
                f"Access denied: the function's role may not call {call} on {target}; grant it "
                "in the template (and the resource policy must admit the role)."
            )
        elif code in _THROTTLED:
            text = f"{call} on {target} was throttled after retries; deploy again."
        elif _kms_problem(code):
            text = (
                f"{call} on {target}: KMS key unusable ({code}): grant the role "
                "kms:GenerateDataKey* and kms:Decrypt on the jobs key and keep it enabled."
            )
        else:
            text = f"{call} on {target} failed: {code} {_message(error)}".strip()
    return JobRunError(fit(context + text))


def publish(client: SNSClient, spec: JobRunSpec, timestamp: int) -> str:
    """Publish the job message with report=true; return SNS's MessageId."""
    try:
        response = client.publish(
            TopicArn=spec.topic_arn,
            Message=job_message(spec, timestamp),
            MessageAttributes={"job": {"DataType": "String", "StringValue": spec.job}},
        )
    except ClientError as error:
        if error_code(error) in _TOPIC_MISSING:
            logger.warning("sns:Publish on %s failed: %s", spec.topic_arn, error)
            raise JobRunError(
                fit(f"Topic {spec.topic_arn} does not exist (or is in another region)")
            ) from None
        raise _explain(error, "sns:Publish", spec.topic_arn) from None
    except BotoCoreError as error:
        raise _explain(error, "sns:Publish", spec.topic_arn) from None
    message_id = response["MessageId"]
    logger.info("Published job %s to %s: message %s", spec.job, spec.topic_arn, message_id)
    return message_id


def stack_status(client: CloudFormationClient, stack_id: str) -> str:
    try:
        stacks = client.describe_stacks(StackName=stack_id)["Stacks"]
    except (ClientError, BotoCoreError) as error:
        raise _explain(
            error,
            "cloudformation:DescribeStacks",
            stack_id.split("/")[1] if stack_id.count("/") >= 2 else stack_id,
            "Could not tell whether the stack is rolling back (then no job runs): ",
        ) from None
    if not stacks:
        raise JobRunError(fit(f"cloudformation:DescribeStacks found no stack {stack_id}"))
    return str(stacks[0]["StackStatus"])


def _receive(
    client: SQSClient, queue_url: str, long_poll: int, context: str
) -> list[dict[str, Any]]:
    try:
        response = client.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=long_poll,
            VisibilityTimeout=RECEIVE_VISIBILITY_SECONDS,
        )
    except ClientError as error:
        if error_code(error) in _QUEUE_MISSING:
            logger.warning("sqs:ReceiveMessage on %s failed: %s", queue_url, error)
            raise JobRunError(fit(f"{context}Results queue {queue_url} does not exist")) from None
        raise _explain(error, "sqs:ReceiveMessage", queue_name(queue_url), context) from None
    except BotoCoreError as error:
        raise _explain(error, "sqs:ReceiveMessage", queue_name(queue_url), context) from None
    messages: list[dict[str, Any]] = list(response.get("Messages", []))  # type: ignore[arg-type]
    return messages


def _delete(client: SQSClient, queue_url: str, receipt: str, context: str) -> None:
    try:
        client.delete_message(QueueUrl=queue_url, ReceiptHandle=receipt)
    except (ClientError, BotoCoreError) as error:
        raise _explain(error, "sqs:DeleteMessage", queue_name(queue_url), context) from None


def _release(client: SQSClient, queue_url: str, receipts: list[str]) -> None:
    """Make other resources' results visible again at once; a failure here only delays them."""
    if not receipts:
        return
    entries = [
        {"Id": str(index), "ReceiptHandle": receipt, "VisibilityTimeout": 0}
        for index, receipt in enumerate(receipts)
    ]
    try:
        response = client.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)  # type: ignore[arg-type]
    except (ClientError, BotoCoreError) as error:
        logger.warning(
            "Could not release %d result(s) of other job runs (they reappear after %d s): %s",
            len(receipts),
            RECEIVE_VISIBILITY_SECONDS,
            error,
        )
        return
    for failed in response.get("Failed", []):
        logger.warning(
            "Could not release a result of another job run (it reappears after %d s): %s",
            RECEIVE_VISIBILITY_SECONDS,
            failed.get("Code"),
        )


def wait_for_result(
    client: SQSClient,
    queue_url: str,
    message_id: str,
    job: str,
    *,
    wait_seconds: float,
    poll_seconds: float,
    long_poll_seconds: int = MAX_LONG_POLL_SECONDS,
    clock: Clock = time.monotonic,
    sleep: Sleeper = time.sleep,
) -> JobResult | None:
    """The result for `message_id`, or None when none came within `wait_seconds`.

    Never waits past `wait_seconds`: the caller already subtracted the time it needs to answer.
    Long polls (up to `long_poll_seconds`) wait on SQS's side; after a receive that brought only
    other runs' results, or with long polling off, it sleeps `poll_seconds` before asking again,
    so results nobody takes do not make it spin.
    """
    context = f"Published {short(job, 40)} as message {message_id}, then "
    deadline = clock() + wait_seconds
    receives = 0
    while True:
        remaining = deadline - clock()
        if remaining <= 0:
            logger.error(
                "No result for message %s after %.0f s (%d receives)",
                message_id,
                wait_seconds,
                receives,
            )
            return None
        long_poll = max(0, min(long_poll_seconds, MAX_LONG_POLL_SECONDS, int(remaining)))
        messages = _receive(client, queue_url, long_poll, context)
        receives += 1
        mine: JobResult | None = None
        problem: str | None = None
        others: list[str] = []
        for message in messages:
            body = str(message.get("Body", ""))
            receipt = str(message["ReceiptHandle"])
            owner = result_owner(body)
            if owner != message_id:
                if owner is None:
                    logger.warning(
                        "Results queue message %s names no message_id; left for its retention",
                        message.get("MessageId"),
                    )
                others.append(receipt)
                continue
            _delete(client, queue_url, receipt, context)
            if mine is not None:
                continue  # the app sent the result again (a redelivery): one copy is enough
            try:
                mine = parse_result(body)
            except ResultError as error:
                problem = str(error)
        _release(client, queue_url, others)
        if problem is not None and mine is None:
            raise JobRunError(malformed_reason(job, message_id, problem))
        if mine is not None:
            logger.info(
                "Result for message %s: %s on attempt %d (%s) after %d receive(s)%s",
                message_id,
                mine.status,
                mine.attempt,
                mine.finished_at,
                receives,
                "" if mine.status == "succeeded" else f": {error_for_log(mine.error)}",
            )
            return mine
        if messages or long_poll == 0:
            pause = min(poll_seconds, deadline - clock())
            if pause > 0:
                sleep(pause)
