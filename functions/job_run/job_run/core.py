"""Parses Custom::JobRun properties, builds the job message, reads results and words every Reason.

Pure on purpose (no boto3, no crhelper): every rule that can refuse a template is here, so it is
checked before any AWS call and tested without AWS.

- Create and Update: `parse_properties` yields a `JobRunSpec` (topic, results queue, job, payload,
  wait), refusing a topic or queue other than the ones pinned in the function's environment.
  `job_message` is what gets published; `parse_result` reads what the app sends back;
  `failure_reason` and `timeout_reason` say what went wrong in at most 256 characters.
- Update during a rollback: `skips_job` tells from the stack's status that the job must not run.
- Delete needs nothing from here: it publishes nothing.

CloudFormation passes every scalar of a custom resource's properties as a string ("600"), so
numbers are parsed here; a Payload may arrive as an object or as a JSON string of one. Properties
this resource does not know (the template's `Revision`) are allowed: they exist only so that a
change of theirs makes CloudFormation send an Update, which runs the job again.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from cfn_guard.aws import REGION, TOPIC_ARN, topic_region

DEFAULT_TIMEOUT: Final = 600
MIN_TIMEOUT: Final = 10
MAX_TIMEOUT: Final = 3600
# The response must reach CloudFormation before ServiceTimeout ends.
SERVICE_TIMEOUT_MARGIN: Final = 30
# crhelper keeps only the last 240 characters of a longer Reason, which would cut off its start.
MAX_REASON: Final = 256
# SNS's limit for a whole message, in bytes.
MAX_MESSAGE_BYTES: Final = 262_144
# How much of the app's error text a log line may carry (the app caps it at 1000 already).
MAX_ERROR_LOG: Final = 1000
# Reasons name the job; a longer name is shortened there (it is in the template anyway).
_JOB_IN_REASON: Final = 40

# The only stack status in which CloudFormation sends this resource an Update it must not act on.
ROLLBACK_STATUS: Final = "UPDATE_ROLLBACK_IN_PROGRESS"

ResultStatus = Literal["succeeded", "failed", "rejected"]
RESULT_STATUSES: Final = ("succeeded", "failed", "rejected")

_QUEUE_PATH_RE: Final = re.compile(r"^/(?P<account>\d{12})/(?P<name>[A-Za-z0-9_-]{1,80})$")
_QUEUE_HOST_REGION_RE: Final = re.compile(rf"^sqs\.(?P<region>{REGION})\.amazonaws\.com(?:\.cn)?$")
_HOST_RE: Final = re.compile(r"^[A-Za-z0-9.-]+(?::\d{1,5})?$")
_JOB_RE: Final = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class PropertyError(ValueError):
    """A property is missing or invalid; the message is the Reason CloudFormation shows."""


class ResultError(ValueError):
    """A message on the results queue is not a result this resource can read."""


@dataclass(frozen=True)
class JobRunSpec:
    """What the template asks for, validated and normalised."""

    topic_arn: str
    queue_url: str
    job: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    timeout_seconds: int = DEFAULT_TIMEOUT

    @property
    def region(self) -> str:
        return topic_region(self.topic_arn)


@dataclass(frozen=True)
class JobResult:
    """The app's report of one run (DESIGN §2.6)."""

    message_id: str
    job: str
    status: ResultStatus
    attempt: int
    error: str | None
    finished_at: str


# ---------------------------------------------------------------------------------- ARNs, URLs


def parse_topic_arn(value: object, where: str = "TopicArn") -> str:
    if not isinstance(value, str) or not value.strip():
        raise PropertyError(f"{where} is required: the ARN of the job topic (!Ref JobTopic)")
    topic = value.strip()
    if TOPIC_ARN.match(topic) is None:
        raise PropertyError(
            f"{where} {short(topic, 120)!r} is not an SNS topic ARN "
            "(arn:<partition>:sns:<region>:<account>:<name>)"
        )
    return topic


def parse_queue_url(value: object, where: str = "ResultQueueUrl") -> str:
    """An SQS queue URL: http(s)://<host>/<account>/<name>, a standard (not FIFO) queue."""
    if not isinstance(value, str) or not value.strip():
        raise PropertyError(
            f"{where} is required: the URL of the job results queue (!Ref JobResultQueue)"
        )
    url = value.strip()
    expected = "(https://sqs.<region>.amazonaws.com/<account>/<queue>)"
    try:
        parts = urlsplit(url)
    except ValueError:
        raise PropertyError(f"{where} is not a URL {expected}") from None
    if (
        parts.scheme not in ("https", "http")
        or not parts.netloc
        or not _HOST_RE.match(parts.netloc)
    ):
        raise PropertyError(f"{where} {short(url, 120)!r} is not an SQS queue URL {expected}")
    if parts.path.endswith(".fifo"):
        raise PropertyError(f"{where} is a FIFO queue; job results go to a standard queue")
    if parts.query or parts.fragment or _QUEUE_PATH_RE.match(parts.path) is None:
        raise PropertyError(f"{where} {short(url, 120)!r} is not an SQS queue URL {expected}")
    return url


def queue_account(queue_url: str) -> str:
    match = _QUEUE_PATH_RE.match(urlsplit(queue_url).path)
    if match is None:
        raise PropertyError(f"{queue_url!r} is not an SQS queue URL")
    return match.group("account")


def queue_region(queue_url: str) -> str | None:
    """The region an sqs.<region>.amazonaws.com URL names; None for other hosts (local stacks)."""
    match = _QUEUE_HOST_REGION_RE.match(urlsplit(queue_url).hostname or "")
    return match.group("region") if match else None


def parse_pins(environ: Mapping[str, str]) -> tuple[str, str]:
    """The topic and queue the template pinned (JOB_TOPIC_ARN, RESULT_QUEUE_URL); ValueError if
    either is missing or malformed: the function then refuses every request."""
    try:
        topic = parse_topic_arn(environ.get("JOB_TOPIC_ARN"), "JOB_TOPIC_ARN")
        queue = parse_queue_url(environ.get("RESULT_QUEUE_URL"), "RESULT_QUEUE_URL")
    except PropertyError as error:
        raise ValueError(f"environment: {error}") from None
    return topic, queue


# ---------------------------------------------------------------------------------- scalars


def _integer(value: object, where: str, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise PropertyError(f"{where} must be a whole number, got {value!r}")
    if isinstance(value, int):
        number = value
    elif (isinstance(value, float) and value.is_integer()) or (
        isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value)
    ):
        number = int(value)
    else:
        raise PropertyError(f"{where} must be a whole number, got {short(str(value), 40)!r}")
    if not low <= number <= high:
        raise PropertyError(f"{where} must be from {low} to {high}, got {number}")
    return number


def short(text: str, limit: int) -> str:
    """`text`, cut to `limit` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------------------- properties


def parse_payload(value: object) -> dict[str, Any]:
    """A JSON object, given as a YAML/JSON object or as a JSON string; absent means {}."""
    if value is None:
        return {}
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise PropertyError(f"Payload is not valid JSON: {error.msg}") from None
    if not isinstance(value, dict):
        raise PropertyError(f"Payload must be a JSON object, got {type(value).__name__}")
    return value


def parse_properties(
    props: Mapping[str, Any], *, pinned_topic: str, pinned_queue: str
) -> JobRunSpec:
    """Validate ResourceProperties; raise PropertyError with a Reason a person can act on."""
    if not isinstance(props, Mapping):
        raise PropertyError("ResourceProperties must be an object")
    topic = parse_topic_arn(props.get("TopicArn"))
    if topic != pinned_topic:
        raise PropertyError(
            f"TopicArn {short(topic, 90)} is not the job topic this function may publish to "
            f"({short(pinned_topic, 90)}, its JOB_TOPIC_ARN)"
        )
    queue = parse_queue_url(props.get("ResultQueueUrl"))
    if queue != pinned_queue:
        raise PropertyError(
            f"ResultQueueUrl {short(queue, 90)} is not the results queue this function may read "
            f"({short(pinned_queue, 90)}, its RESULT_QUEUE_URL)"
        )
    topic_match = TOPIC_ARN.match(topic)
    assert topic_match is not None  # noqa: S101 - parse_topic_arn matched it
    if queue_account(queue) != topic_match.group("account"):
        raise PropertyError(
            f"ResultQueueUrl must be in the topic's account ({topic_match.group('account')}), "
            f"got {queue_account(queue)}"
        )
    region = queue_region(queue)
    if region is not None and region != topic_match.group("region"):
        raise PropertyError(
            f"ResultQueueUrl must be in the topic's region ({topic_match.group('region')}), "
            f"got {region}"
        )

    job = props.get("Job")
    if not isinstance(job, str) or not job.strip():
        raise PropertyError("Job is required: the name of the job to run, such as db_migrate")
    job = job.strip()
    if _JOB_RE.match(job) is None:
        raise PropertyError(
            f"Job {short(job, 60)!r} is not a job name (1 to 128 letters, digits, _ . : -)"
        )
    payload = parse_payload(props.get("Payload"))

    timeout = _integer(
        props.get("TimeoutSeconds", DEFAULT_TIMEOUT), "TimeoutSeconds", MIN_TIMEOUT, MAX_TIMEOUT
    )
    if "ServiceTimeout" in props:
        service_timeout = _integer(props["ServiceTimeout"], "ServiceTimeout", 1, 3600)
        if timeout > service_timeout - SERVICE_TIMEOUT_MARGIN:
            raise PropertyError(
                f"TimeoutSeconds ({timeout}) must be at most ServiceTimeout - "
                f"{SERVICE_TIMEOUT_MARGIN} ({service_timeout - SERVICE_TIMEOUT_MARGIN}), so the "
                "answer reaches CloudFormation in time"
            )
    spec = JobRunSpec(topic, queue, job, payload, timeout)
    size = len(job_message(spec, timestamp=0).encode("utf-8"))
    if size > MAX_MESSAGE_BYTES:
        raise PropertyError(
            f"Payload makes the job message {size} bytes; SNS takes at most {MAX_MESSAGE_BYTES}"
        )
    return spec


def job_message(spec: JobRunSpec, timestamp: int) -> str:
    """DESIGN §2.3 and §2.6: the job, its payload, when, and the request to report the result."""
    return json.dumps(
        {"job": spec.job, "payload": dict(spec.payload), "timestamp": timestamp, "report": True},
        separators=(",", ":"),
    )


def effective_wait(timeout_seconds: int, remaining_seconds: float, margin: float) -> float:
    """How long this invocation may wait: the asked timeout, capped so the answer is always sent."""
    return max(0.0, min(float(timeout_seconds), remaining_seconds - margin))


def skips_job(stack_status: str) -> bool:
    """An Update that CloudFormation sends while it rolls the stack back must not run the job.

    The rollback puts back the previous properties, so the job would run again: a migration on
    whichever image the jobs service runs at that moment. It already ran forward (or failed and
    rolled its own transaction back), and an older image cannot migrate a schema a newer one
    made; running it could only turn the rollback into UPDATE_ROLLBACK_FAILED.
    """
    return stack_status == ROLLBACK_STATUS


# ---------------------------------------------------------------------------------- results


def result_owner(body: str) -> str | None:
    """The message_id a result message is for, or None when the body names none."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, RecursionError):
        return None
    if isinstance(data, dict) and isinstance(data.get("message_id"), str):
        return str(data["message_id"])
    return None


def parse_result(body: str) -> JobResult:
    """A result message as the app sends it; ResultError names what is wrong with it."""
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        raise ResultError("the result is not JSON") from None
    if not isinstance(data, dict):
        raise ResultError("the result is not a JSON object")
    message_id, job, status = data.get("message_id"), data.get("job"), data.get("status")
    attempt, error, finished_at = data.get("attempt"), data.get("error"), data.get("finished_at")
    if not isinstance(message_id, str) or not message_id:
        raise ResultError("the result has no message_id")
    if not isinstance(job, str):
        raise ResultError("the result's job is not a string")
    if status not in RESULT_STATUSES:
        raise ResultError(
            f"the result's status {str(status)[:20]!r} is not one of {RESULT_STATUSES}"
        )
    if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
        raise ResultError("the result's attempt is not a positive whole number")
    if error is not None and not isinstance(error, str):
        raise ResultError("the result's error is neither null nor text")
    if not isinstance(finished_at, str):
        raise ResultError("the result's finished_at is not text")
    return JobResult(message_id, job, status, attempt, error, finished_at)


def error_for_log(error: str | None) -> str:
    """The app's error text on one line, capped; the app never puts job data or secrets in it."""
    if not error:
        return "(no error text)"
    return short(_CONTROL.sub(" ", error).strip(), MAX_ERROR_LOG)


def fit(text: str) -> str:
    """A Reason in at most MAX_REASON characters, keeping its start (the part that says what)."""
    return short(text, MAX_REASON)


def _fit(prefix: str, detail: str) -> str:
    """prefix + detail in at most MAX_REASON characters, shortening the detail."""
    room = MAX_REASON - len(prefix)
    if room <= 1:
        return short(prefix, MAX_REASON)
    return prefix + short(detail, room)


def failure_reason(result: JobResult, job: str) -> str:
    """FAILED at once for `failed` and `rejected`: the job, the MessageId and the app's error."""
    name = short(job, _JOB_IN_REASON)
    error = error_for_log(result.error)
    if result.status == "rejected":
        return _fit(f"Job {name} (message {result.message_id}) was rejected by the app: ", error)
    return _fit(
        f"Job {name} (message {result.message_id}) failed on attempt {result.attempt}: ", error
    )


def malformed_reason(job: str, message_id: str, problem: str) -> str:
    return _fit(
        f"Job {short(job, _JOB_IN_REASON)} (message {message_id}): the app reported a result "
        "this resource cannot read: ",
        problem,
    )


def timeout_reason(job: str, message_id: str, waited_seconds: float) -> str:
    return _fit(
        f"Job {short(job, _JOB_IN_REASON)} (message {message_id}) reported no result within "
        f"{math.ceil(waited_seconds)} s. ",
        "Look for this message_id in the jobs service's application log, and in the job "
        "dead-letter queue.",
    )
