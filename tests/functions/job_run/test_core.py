"""The pure rules of Custom::JobRun: properties, pins, the job message, results and Reasons."""

from __future__ import annotations

import json
from typing import Any

import pytest

from job_run import core
from job_run.core import JobResult, PropertyError, ResultError

TOPIC = "arn:aws:sns:us-east-1:123456789012:jobs"
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/job-results"
MESSAGE_ID = "0e4f1c9a-6b2d-4c8e-9f10-2a3b4c5d6e7f"


def props(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "ServiceToken": "arn:x",
        "TopicArn": TOPIC,
        "ResultQueueUrl": QUEUE,
        "Job": "db_migrate",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def parse(**overrides: Any) -> core.JobRunSpec:
    return core.parse_properties(props(**overrides), pinned_topic=TOPIC, pinned_queue=QUEUE)


def result(**overrides: Any) -> JobResult:
    values: dict[str, Any] = {
        "message_id": MESSAGE_ID,
        "job": "db_migrate",
        "status": "failed",
        "attempt": 1,
        "error": "DataError: division by zero",
        "finished_at": "2026-11-26T08:00:00+00:00",
    }
    values.update(overrides)
    return JobResult(**values)


# ---------------------------------------------------------------------------------- properties


def test_minimal_properties_give_an_empty_payload_and_the_default_timeout() -> None:
    spec = parse()
    assert (spec.topic_arn, spec.queue_url, spec.job) == (TOPIC, QUEUE, "db_migrate")
    assert spec.payload == {}
    assert spec.timeout_seconds == 600
    assert spec.region == "us-east-1"


def test_properties_the_resource_does_not_know_are_allowed_so_they_can_trigger_updates() -> None:
    spec = parse(Revision="123456789012.dkr.ecr.us-east-1.amazonaws.com/app:2", Database="db-1")
    assert spec.job == "db_migrate"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"books": ["a", "b"]}, {"books": ["a", "b"]}),
        ('{"sleep_seconds": 3}', {"sleep_seconds": 3}),
        ("", {}),
        ({}, {}),
    ],
)
def test_payload_is_an_object_or_a_json_string_of_one(value: Any, expected: Any) -> None:
    assert parse(Payload=value).payload == expected


def test_a_local_queue_url_on_another_host_is_accepted_when_it_is_the_pinned_one() -> None:
    local = "http://127.0.0.1:5000/123456789012/job-results"
    spec = core.parse_properties(
        props(ResultQueueUrl=local), pinned_topic=TOPIC, pinned_queue=local
    )
    assert spec.queue_url == local
    assert core.queue_region(local) is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"TopicArn": None}, "TopicArn is required"),
        ({"TopicArn": 7}, "TopicArn is required"),
        ({"TopicArn": "jobs"}, "is not an SNS topic ARN"),
        ({"TopicArn": "arn:aws:sns:us-east-1:1234:jobs"}, "is not an SNS topic ARN"),
        ({"TopicArn": "arn:aws:sns:us-east-1:123456789012:jobs.fifo"}, "is not an SNS topic ARN"),
        ({"TopicArn": "arn:aws:sns:us-east-1:123456789012:other"}, "is not the job topic"),
        ({"ResultQueueUrl": None}, "ResultQueueUrl is required"),
        ({"ResultQueueUrl": "job-results"}, "is not an SQS queue URL"),
        ({"ResultQueueUrl": "ftp://sqs.example/123456789012/q"}, "is not an SQS queue URL"),
        ({"ResultQueueUrl": "https://sqs.example/1234/q"}, "is not an SQS queue URL"),
        ({"ResultQueueUrl": "https://sqs.example/123456789012/q?x=1"}, "is not an SQS queue URL"),
        ({"ResultQueueUrl": "https://sqs.example/123456789012/q.fifo"}, "FIFO"),
        ({"ResultQueueUrl": "https://sqs.example/123456789012/other"}, "is not the results queue"),
        ({"Job": None}, "Job is required"),
        ({"Job": ""}, "Job is required"),
        ({"Job": ["db_migrate"]}, "Job is required"),
        ({"Job": "db migrate"}, "is not a job name"),
        ({"Job": "x" * 129}, "is not a job name"),
        ({"Payload": 3}, "Payload must be a JSON object, got int"),
        ({"Payload": "null"}, "Payload must be a JSON object, got NoneType"),
        ({"Payload": "{"}, "Payload is not valid JSON"),
        ({"Payload": {"blob": "x" * 262_144}}, "SNS takes at most 262144"),
        ({"TimeoutSeconds": "9"}, "from 10 to 3600"),
        ({"TimeoutSeconds": "3601"}, "from 10 to 3600"),
        ({"TimeoutSeconds": "1.5"}, "whole number"),
        ({"TimeoutSeconds": True}, "whole number"),
        ({"ServiceTimeout": "0"}, "ServiceTimeout must be from 1 to 3600"),
        ({"ServiceTimeout": "600", "TimeoutSeconds": "600"}, "ServiceTimeout - 30 (570)"),
    ],
)
def test_bad_properties_are_refused_naming_the_property(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(PropertyError) as raised:
        parse(**overrides)
    assert message in str(raised.value)
    assert len(str(raised.value)) <= core.MAX_REASON


@pytest.mark.parametrize(
    ("queue", "message"),
    [
        ("https://sqs.us-east-1.amazonaws.com/210987654321/job-results", "topic's account"),
        ("https://sqs.eu-west-1.amazonaws.com/123456789012/job-results", "topic's region"),
    ],
)
def test_the_queue_must_be_in_the_topics_account_and_region(queue: str, message: str) -> None:
    with pytest.raises(PropertyError, match=message):
        core.parse_properties(props(ResultQueueUrl=queue), pinned_topic=TOPIC, pinned_queue=queue)


def test_properties_that_are_not_an_object_are_refused() -> None:
    with pytest.raises(PropertyError, match="must be an object"):
        core.parse_properties(["x"], pinned_topic=TOPIC, pinned_queue=QUEUE)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "JOB_TOPIC_ARN is required"),
        ({"JOB_TOPIC_ARN": TOPIC}, "RESULT_QUEUE_URL is required"),
        ({"JOB_TOPIC_ARN": "x", "RESULT_QUEUE_URL": QUEUE}, "JOB_TOPIC_ARN 'x' is not"),
        ({"JOB_TOPIC_ARN": TOPIC, "RESULT_QUEUE_URL": "x"}, "RESULT_QUEUE_URL 'x' is not"),
    ],
)
def test_pins_are_required_and_checked(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        core.parse_pins(environ)


def test_pins_are_read_from_the_environment() -> None:
    assert core.parse_pins({"JOB_TOPIC_ARN": TOPIC, "RESULT_QUEUE_URL": QUEUE}) == (TOPIC, QUEUE)


# ---------------------------------------------------------------------------------- the message


def test_the_job_message_asks_for_a_report() -> None:
    spec = parse(Payload={"a": "1"})
    assert json.loads(core.job_message(spec, timestamp=1764115200)) == {
        "job": "db_migrate",
        "payload": {"a": "1"},
        "timestamp": 1764115200,
        "report": True,
    }


@pytest.mark.parametrize(
    ("timeout", "remaining", "margin", "expected"),
    [(600, 900.0, 30.0, 600.0), (600, 100.0, 30.0, 70.0), (600, 10.0, 30.0, 0.0)],
)
def test_the_wait_is_bounded_by_the_time_left_minus_the_margin(
    timeout: int, remaining: float, margin: float, expected: float
) -> None:
    assert core.effective_wait(timeout, remaining, margin) == expected


@pytest.mark.parametrize(
    ("status", "skips"),
    [
        ("UPDATE_ROLLBACK_IN_PROGRESS", True),
        ("UPDATE_IN_PROGRESS", False),
        ("CREATE_IN_PROGRESS", False),
        ("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", False),
    ],
)
def test_only_an_update_during_a_rollback_skips_the_job(status: str, skips: bool) -> None:
    assert core.skips_job(status) is skips


# ---------------------------------------------------------------------------------- results


def test_a_result_is_read_as_the_app_sends_it() -> None:
    body = json.dumps(
        {
            "message_id": MESSAGE_ID,
            "job": "db_migrate",
            "status": "succeeded",
            "attempt": 2,
            "error": None,
            "finished_at": "2026-11-26T08:00:00+00:00",
        }
    )
    assert core.result_owner(body) == MESSAGE_ID
    assert core.parse_result(body) == result(status="succeeded", attempt=2, error=None)


@pytest.mark.parametrize(
    ("body", "owner"),
    [("not json", None), ("[1]", None), ('{"message_id": 5}', None), ('{"message_id": "m"}', "m")],
)
def test_the_owner_of_a_message_is_its_message_id_if_it_has_one(body: str, owner: Any) -> None:
    assert core.result_owner(body) == owner


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"status": "done"}, "status 'done' is not one of"),
        ({"attempt": 0}, "attempt is not a positive whole number"),
        ({"attempt": True}, "attempt is not a positive whole number"),
        ({"error": 5}, "error is neither null nor text"),
        ({"job": None}, "job is not a string"),
        ({"finished_at": None}, "finished_at is not text"),
        ({"message_id": ""}, "no message_id"),
    ],
)
def test_a_malformed_result_is_refused_naming_the_field(
    change: dict[str, Any], problem: str
) -> None:
    data = {
        "message_id": MESSAGE_ID,
        "job": "db_migrate",
        "status": "succeeded",
        "attempt": 1,
        "error": None,
        "finished_at": "2026-11-26T08:00:00+00:00",
    }
    data.update(change)
    with pytest.raises(ResultError, match=problem):
        core.parse_result(json.dumps(data))


def test_results_that_are_not_json_objects_are_refused() -> None:
    with pytest.raises(ResultError, match="not JSON"):
        core.parse_result("{")
    with pytest.raises(ResultError, match="not a JSON object"):
        core.parse_result("[]")


# ---------------------------------------------------------------------------------- Reasons


def test_a_failure_reason_names_the_job_the_message_the_attempt_and_the_error() -> None:
    assert core.failure_reason(result(attempt=3), "db_migrate") == (
        f"Job db_migrate (message {MESSAGE_ID}) failed on attempt 3: DataError: division by zero"
    )


def test_a_rejection_reason_quotes_the_apps_error() -> None:
    reason = core.failure_reason(result(status="rejected", error="unknown job 'x'"), "x")
    assert reason == f"Job x (message {MESSAGE_ID}) was rejected by the app: unknown job 'x'"


def test_a_long_error_is_cut_at_the_end_and_control_characters_become_spaces() -> None:
    reason = core.failure_reason(result(error="Line one\nline two " + "y" * 500), "db_migrate")
    assert len(reason) == core.MAX_REASON
    assert reason.endswith("…")
    assert "Line one line two" in reason
    assert "\n" not in reason


def test_a_failure_without_error_text_says_so() -> None:
    assert core.failure_reason(result(error=None), "db_migrate").endswith("(no error text)")


def test_a_long_job_name_is_shortened_in_reasons_so_the_message_id_stays() -> None:
    job = "j" * 128
    for reason in (
        core.failure_reason(result(), job),
        core.timeout_reason(job, MESSAGE_ID, 600),
        core.malformed_reason(job, MESSAGE_ID, "x" * 300),
    ):
        assert MESSAGE_ID in reason
        assert len(reason) <= core.MAX_REASON


def test_the_timeout_reason_says_how_long_it_waited_and_where_to_look() -> None:
    reason = core.timeout_reason("db_migrate", MESSAGE_ID, 599.2)
    assert reason == (
        f"Job db_migrate (message {MESSAGE_ID}) reported no result within 600 s. Look for this "
        "message_id in the jobs service's application log, and in the job dead-letter queue."
    )


def test_the_error_in_a_log_line_is_capped() -> None:
    assert len(core.error_for_log("e" * 5000)) == core.MAX_ERROR_LOG
