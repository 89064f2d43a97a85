"""Custom::JobRun through `handler(event, context)`, asserting the body sent back.

moto plays SNS, SQS and CloudFormation; a stand-in app (conftest.Responder) reports results the
way the jobs service does. botocore's Stubber or a `before-send` hook stands in where moto cannot
produce the error (access denied, KMS, throttling).
"""

from __future__ import annotations

import json
import logging
import time
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tests.functions.job_run.conftest import (
    NOW,
    QUEUE_URL,
    TOPIC_ARN,
    Stand,
    import_handler,
    queued_results,
    result_body,
    sqs,
)
from tests.support.aws_errors import always_throttled
from tests.support.cfn import CfnResponses, LambdaContext
from tests.support.clock import FakeClock
from tests.support.events import load_event


def invoke(module: ModuleType, event: dict[str, Any], context: Any = None) -> None:
    module.handler(event, context or LambdaContext(timeout_seconds=900))


def fails_with(stand: Stand, status: str, error: str | None) -> None:
    stand.responder.rule = lambda _message: (status, error)


# ------------------------------------------------------------------------------------ Create


def test_create_publishes_the_job_with_report_and_succeeds_with_the_message_id(
    stand: Stand, job_run_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    invoke(job_run_handler, stand.event("create"))

    body = cfn_responses.only
    assert body["Status"] == "SUCCESS", body["Reason"]
    [delivered] = stand.responder.delivered
    message_id = delivered["envelope"]["MessageId"]
    assert body["PhysicalResourceId"] == message_id
    assert body["Data"] == {"MessageId": message_id, "Attempts": "1"}
    assert delivered["message"] == {
        "job": "db_migrate",
        "payload": {},
        "timestamp": NOW,
        "report": True,
    }
    assert delivered["envelope"]["MessageAttributes"]["job"] == {
        "Type": "String",
        "Value": "db_migrate",
    }
    assert queued_results() == []


def test_create_passes_the_payload_object_through(
    stand: Stand, job_run_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    event = stand.event("create", Job="test_book_job", Payload={"sleep_seconds": "1"})

    invoke(job_run_handler, event)

    assert cfn_responses.only["Status"] == "SUCCESS", cfn_responses.only["Reason"]
    [delivered] = stand.responder.delivered
    assert delivered["message"]["payload"] == {"sleep_seconds": "1"}
    assert delivered["message"]["job"] == "test_book_job"


def test_create_fails_at_once_with_the_apps_error_when_the_job_failed(
    stand: Stand,
    job_run_handler: ModuleType,
    cfn_responses: CfnResponses,
    fake_clock: FakeClock,
) -> None:
    fails_with(stand, "failed", "DataError: division by zero")

    invoke(job_run_handler, stand.event("create"))

    body = cfn_responses.only
    [message_id] = stand.responder.message_ids
    assert body["Status"] == "FAILED"
    assert body["Reason"] == (
        f"Job db_migrate (message {message_id}) failed on attempt 1: DataError: division by zero"
    )
    # At once: one poll interval to let the stand-in answer, not the 600 s timeout.
    assert sum(fake_clock.sleeps) <= job_run_handler.POLL_SECONDS
    assert queued_results() == []


def test_create_fails_at_once_when_the_app_rejects_an_unknown_job(
    stand: Stand,
    job_run_handler: ModuleType,
    cfn_responses: CfnResponses,
    fake_clock: FakeClock,
) -> None:
    invoke(job_run_handler, stand.event("create", Job="no_such_job"))

    body = cfn_responses.only
    [message_id] = stand.responder.message_ids
    assert body["Status"] == "FAILED"
    assert body["Reason"] == (
        f"Job no_such_job (message {message_id}) was rejected by the app: unknown job 'no_such_job'"
    )
    assert sum(fake_clock.sleeps) <= job_run_handler.POLL_SECONDS


def test_create_fails_after_the_timeout_naming_the_job_message_and_where_to_look(
    stand: Stand,
    job_run_handler: ModuleType,
    cfn_responses: CfnResponses,
    fake_clock: FakeClock,
) -> None:
    stand.responder.rule = lambda _message: None  # the app never reports
    started = time.monotonic()

    invoke(job_run_handler, stand.event("create", TimeoutSeconds="60"))

    assert time.monotonic() - started < 5
    body = cfn_responses.only
    [message_id] = stand.responder.message_ids
    assert body["Status"] == "FAILED"
    assert body["Reason"].startswith(
        f"Job db_migrate (message {message_id}) reported no result within 60 s."
    )
    assert "application log" in body["Reason"]
    assert "dead-letter queue" in body["Reason"]
    assert len(body["Reason"]) <= 256
    assert sum(fake_clock.sleeps) == pytest.approx(60)
    # Delete after this failed Create finds the message id and does nothing with it.
    assert body["PhysicalResourceId"] == message_id


def test_create_waits_no_longer_than_the_lambda_has_time_left_minus_the_margin(
    stand: Stand,
    job_run_handler: ModuleType,
    cfn_responses: CfnResponses,
    fake_clock: FakeClock,
) -> None:
    stand.responder.rule = lambda _message: None
    event = stand.event("create", ServiceTimeout=None)

    invoke(job_run_handler, event, LambdaContext(timeout_seconds=100))

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert sum(fake_clock.sleeps) <= 100 - job_run_handler.MARGIN_SECONDS
    assert "within 70 s" in body["Reason"]


def test_a_result_for_another_resource_is_left_on_the_queue_and_visible_again_at_once(
    stand: Stand, job_run_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    other = result_body("1b2c3d4e-0000-4000-8000-000000000000", job="db_seed")
    sqs().send_message(QueueUrl=QUEUE_URL, MessageBody=other)

    invoke(job_run_handler, stand.event("create"))

    assert cfn_responses.only["Status"] == "SUCCESS", cfn_responses.only["Reason"]
    # Visible at once (queued_results receives without waiting), unchanged, not deleted.
    assert [m["Body"] for m in queued_results()] == [other]


def test_a_message_that_names_no_run_is_left_on_the_queue(
    stand: Stand, job_run_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    sqs().send_message(QueueUrl=QUEUE_URL, MessageBody="not a result")

    invoke(job_run_handler, stand.event("create"))

    assert cfn_responses.only["Status"] == "SUCCESS", cfn_responses.only["Reason"]
    assert [m["Body"] for m in queued_results()] == ["not a result"]


def test_every_copy_of_the_own_result_is_removed(
    stand: Stand, job_run_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    def twice(message: dict[str, Any]) -> tuple[str, str | None]:
        # The app re-sends a result when SNS redelivers a finished run.
        [delivered] = stand.responder.delivered
        sqs().send_message(
            QueueUrl=QUEUE_URL, MessageBody=result_body(delivered["envelope"]["MessageId"])
        )
        return "succeeded", None

    stand.responder.rule = twice

    invoke(job_run_handler, stand.event("create"))

    assert cfn_responses.only["Status"] == "SUCCESS", cfn_responses.only["Reason"]
    assert queued_results() == []


def test_a_result_it_cannot_read_for_its_own_message_fails_naming_the_problem(
    stand: Stand, job_run_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    def garbled(_message: dict[str, Any]) -> None:
        [delivered] = stand.responder.delivered
        body = result_body(delivered["envelope"]["MessageId"], status="done")
        sqs().send_message(QueueUrl=QUEUE_URL, MessageBody=body)

    stand.responder.rule = garbled

    invoke(job_run_handler, stand.event("create"))

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert "cannot read" in body["Reason"]
    assert "'done'" in body["Reason"]


def test_duplicate_create_runs_the_job_once_per_invocation_and_each_gets_its_own_result(
    stand: Stand, job_run_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    event = stand.event("create")

    invoke(job_run_handler, event)
    invoke(job_run_handler, event)

    first, second = cfn_responses.bodies
    assert first["Status"] == second["Status"] == "SUCCESS"
    assert [first["PhysicalResourceId"], second["PhysicalResourceId"]] == (
        stand.responder.message_ids
    )
    assert first["PhysicalResourceId"] != second["PhysicalResourceId"]
    assert queued_results() == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"TopicArn": None}, "TopicArn is required"),
        ({"TopicArn": "arn:aws:sqs:us-east-1:123456789012:q"}, "is not an SNS topic ARN"),
        (
            {"TopicArn": "arn:aws:sns:us-east-1:123456789012:someone-elses-topic"},
            "is not the job topic this function may publish to",
        ),
        ({"ResultQueueUrl": None}, "ResultQueueUrl is required"),
        ({"ResultQueueUrl": "sqs://queue"}, "is not an SQS queue URL"),
        (
            {"ResultQueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q.fifo"},
            "FIFO",
        ),
        (
            {"ResultQueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/other-queue"},
            "is not the results queue this function may read",
        ),
        ({"Job": None}, "Job is required"),
        ({"Job": "  "}, "Job is required"),
        ({"Job": "db migrate; rm"}, "is not a job name"),
        ({"Payload": [1, 2]}, "Payload must be a JSON object, got list"),
        ({"Payload": "[1, 2]"}, "Payload must be a JSON object, got list"),
        ({"Payload": "{nope"}, "Payload is not valid JSON"),
        ({"TimeoutSeconds": "9"}, "TimeoutSeconds must be from 10 to 3600"),
        ({"TimeoutSeconds": "3601"}, "TimeoutSeconds must be from 10 to 3600"),
        ({"TimeoutSeconds": "ten"}, "TimeoutSeconds must be a whole number"),
        ({"TimeoutSeconds": "940"}, "at most ServiceTimeout - 30"),
        ({"ServiceTimeout": "0"}, "ServiceTimeout must be from 1 to 3600"),
    ],
)
def test_create_fails_fast_naming_the_bad_property_and_publishes_nothing(
    stand: Stand,
    job_run_handler: ModuleType,
    cfn_responses: CfnResponses,
    overrides: dict[str, Any],
    expected: str,
) -> None:
    started = time.monotonic()

    invoke(job_run_handler, stand.event("create", **overrides))

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert expected in body["Reason"]
    assert len(body["Reason"]) <= 256
    assert time.monotonic() - started < 5
    stand.responder.tick()
    assert stand.responder.delivered == []


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"JOB_TOPIC_ARN": None}, "JOB_TOPIC_ARN is required"),
        ({"RESULT_QUEUE_URL": "not-a-url"}, "RESULT_QUEUE_URL 'not-a-url' is not an SQS queue"),
        ({"LONG_POLL_SECONDS": "21"}, "LONG_POLL_SECONDS must be from 0 to 20"),
    ],
)
def test_a_function_without_a_valid_pinned_topic_or_queue_refuses_every_request(
    stand: Stand,
    monkeypatch: pytest.MonkeyPatch,
    cfn_responses: CfnResponses,
    environment: dict[str, str | None],
    expected: str,
) -> None:
    module = import_handler(monkeypatch, **environment)

    invoke(module, stand.event("create"))

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert expected in body["Reason"]
    stand.responder.tick()
    assert stand.responder.delivered == []


# ------------------------------------------------------------------------------------ Update


def test_update_runs_the_job_again_and_keeps_the_physical_id(
    stand: Stand, job_run_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    event = stand.event("update")

    invoke(job_run_handler, event)

    body = cfn_responses.only
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == event["PhysicalResourceId"]
    [message_id] = stand.responder.message_ids
    assert body["Data"] == {"MessageId": message_id, "Attempts": "1"}


def test_update_fails_with_the_apps_error_when_the_job_failed(
    stand: Stand, job_run_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    fails_with(stand, "failed", "ProgrammingError: column books.shelf does not exist")
    event = stand.event("update")

    invoke(job_run_handler, event)

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert "ProgrammingError: column books.shelf does not exist" in body["Reason"]
    assert body["PhysicalResourceId"] == event["PhysicalResourceId"]


def test_update_sent_by_a_rollback_runs_nothing_and_succeeds(
    stand: Stand, job_run_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    stand.set_stack_status("UPDATE_ROLLBACK_IN_PROGRESS")
    event = stand.event("update")

    invoke(job_run_handler, event)

    body = cfn_responses.only
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == event["PhysicalResourceId"]
    stand.responder.tick()
    assert stand.responder.delivered == []


def test_update_of_a_stack_cloudformation_does_not_know_fails_and_runs_nothing(
    stand: Stand,
    job_run_handler: ModuleType,
    cfn_responses: CfnResponses,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    event = stand.event("update")
    gone = (
        "arn:aws:cloudformation:us-east-1:123456789012:stack/gone/"
        "1a2b3c4d-0000-4000-8000-000000000000"
    )
    # The function is pinned to that stack, which DescribeStacks no longer knows.
    monkeypatch.setenv("STACK_ID", gone)
    event["StackId"] = gone

    invoke(job_run_handler, event)

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert "Could not tell whether the stack is rolling back" in body["Reason"]
    stand.responder.tick()
    assert stand.responder.delivered == []


# ------------------------------------------------------------------------------------ Delete


def test_delete_publishes_nothing_and_succeeds(
    stand: Stand, job_run_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    event = stand.event("delete")

    invoke(job_run_handler, event)

    body = cfn_responses.only
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == event["PhysicalResourceId"]
    stand.responder.tick()
    assert stand.responder.delivered == []


def test_delete_after_a_failed_create_with_bad_properties_succeeds(
    stand: Stand, job_run_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    invoke(job_run_handler, stand.event("create", Job=None))
    failed = cfn_responses.last
    assert failed["Status"] == "FAILED"
    event = stand.event("delete", Job=None)
    event["PhysicalResourceId"] = failed["PhysicalResourceId"]

    invoke(job_run_handler, event)

    assert cfn_responses.last["Status"] == "SUCCESS"
    assert cfn_responses.last["PhysicalResourceId"] == failed["PhysicalResourceId"]


def test_duplicate_delete_succeeds_both_times(
    stand: Stand, job_run_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    event = stand.event("delete")

    invoke(job_run_handler, event)
    invoke(job_run_handler, event)

    assert [b["Status"] for b in cfn_responses.bodies] == ["SUCCESS", "SUCCESS"]


# ------------------------------------------------------------------------------------ logs


def test_the_payload_is_never_logged_and_the_apps_error_is_capped(
    stand: Stand,
    job_run_handler: ModuleType,
    cfn_responses: CfnResponses,
    caplog: pytest.LogCaptureFixture,
) -> None:
    long_error = "RuntimeError: " + "x" * 5000
    fails_with(stand, "failed", long_error)
    caplog.set_level(logging.DEBUG)
    event = stand.event("create", Job="test_book_job", Payload={"api_key": "s3cr3t-v4lue"})

    invoke(job_run_handler, event)

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert len(body["Reason"]) <= 256
    assert body["Reason"].endswith("…")
    assert "s3cr3t-v4lue" not in caplog.text
    assert "x" * 1001 not in caplog.text


# ------------------------------------------------------------------------------------ AWS errors


class Stubbed:
    """Stubbed SNS, SQS and CloudFormation clients handed to the handler."""

    def __init__(self, module: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
        self.clients = {
            "sns": boto3.client("sns", region_name="us-east-1", config=module.RETRY_CONFIG),
            "sqs": boto3.client("sqs", region_name="us-east-1", config=module.SQS_CONFIG),
            "cloudformation": boto3.client(
                "cloudformation", region_name="us-east-1", config=module.RETRY_CONFIG
            ),
        }
        self.stubbers = {name: Stubber(client) for name, client in self.clients.items()}
        monkeypatch.setattr(module, "get_client", lambda service, _region: self.clients[service])

    def __getitem__(self, service: str) -> Stubber:
        return self.stubbers[service]

    def __enter__(self) -> Stubbed:
        for stubber in self.stubbers.values():
            stubber.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        for stubber in self.stubbers.values():
            stubber.deactivate()

    def assert_no_pending_responses(self) -> None:
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()


@pytest.fixture
def stubbed(job_run_handler: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Stubbed:
    return Stubbed(job_run_handler, monkeypatch)


MESSAGE_ID = "0e4f1c9a-6b2d-4c8e-9f10-2a3b4c5d6e7f"


def publishes(stubbed: Stubbed) -> None:
    stubbed["sns"].add_response("publish", {"MessageId": MESSAGE_ID})


def test_create_sends_exactly_the_publish_and_receive_requests_the_contract_names(
    job_run_handler: ModuleType, stubbed: Stubbed, cfn_responses: CfnResponses
) -> None:
    stubbed["sns"].add_response(
        "publish",
        {"MessageId": MESSAGE_ID},
        {
            "TopicArn": TOPIC_ARN,
            "Message": json.dumps(
                {"job": "db_migrate", "payload": {}, "timestamp": NOW, "report": True},
                separators=(",", ":"),
            ),
            "MessageAttributes": {"job": {"DataType": "String", "StringValue": "db_migrate"}},
        },
    )
    stubbed["sqs"].add_response(
        "receive_message",
        {"Messages": [{"MessageId": "m1", "ReceiptHandle": "r1", "Body": result_body(MESSAGE_ID)}]},
        {
            "QueueUrl": QUEUE_URL,
            "MaxNumberOfMessages": 10,
            "WaitTimeSeconds": 0,
            "VisibilityTimeout": 30,
        },
    )
    stubbed["sqs"].add_response(
        "delete_message", {}, {"QueueUrl": QUEUE_URL, "ReceiptHandle": "r1"}
    )

    with stubbed:
        invoke(job_run_handler, load_event("job_run/create"))

    stubbed.assert_no_pending_responses()
    assert cfn_responses.only["Status"] == "SUCCESS", cfn_responses.only["Reason"]


def test_results_of_other_runs_are_released_with_visibility_zero(
    job_run_handler: ModuleType, stubbed: Stubbed, cfn_responses: CfnResponses
) -> None:
    publishes(stubbed)
    other = result_body("1b2c3d4e-0000-4000-8000-000000000000")
    stubbed["sqs"].add_response(
        "receive_message",
        {
            "Messages": [
                {"MessageId": "m1", "ReceiptHandle": "other", "Body": other},
                {"MessageId": "m2", "ReceiptHandle": "mine", "Body": result_body(MESSAGE_ID)},
            ]
        },
    )
    stubbed["sqs"].add_response(
        "delete_message", {}, {"QueueUrl": QUEUE_URL, "ReceiptHandle": "mine"}
    )
    stubbed["sqs"].add_response(
        "change_message_visibility_batch",
        {"Successful": [{"Id": "0"}], "Failed": []},
        {
            "QueueUrl": QUEUE_URL,
            "Entries": [{"Id": "0", "ReceiptHandle": "other", "VisibilityTimeout": 0}],
        },
    )

    with stubbed:
        invoke(job_run_handler, load_event("job_run/create"))

    stubbed.assert_no_pending_responses()
    assert cfn_responses.only["Status"] == "SUCCESS", cfn_responses.only["Reason"]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            ("AuthorizationError", 403),
            "Access denied: the function's role may not call sns:Publish on "
            "arn:aws:sns:us-east-1:123456789012:bookapp-JobTopic-Q1w2E3r4T5y6",
        ),
        (
            ("NotFound", 404),
            "Topic arn:aws:sns:us-east-1:123456789012:bookapp-JobTopic-Q1w2E3r4T5y6 ",
        ),
        (("KMSAccessDenied", 400), "KMS key unusable (KMSAccessDenied): grant the role"),
        (("KMSDisabled", 400), "keep it enabled"),
        (("InvalidParameter", 400), "sns:Publish on arn:aws:sns:"),
    ],
)
def test_create_fails_with_an_actionable_reason_when_publishing_fails(
    job_run_handler: ModuleType,
    stubbed: Stubbed,
    cfn_responses: CfnResponses,
    error: tuple[str, int],
    expected: str,
) -> None:
    code, status = error
    stubbed["sns"].add_client_error("publish", code, "it went wrong", http_status_code=status)

    with stubbed:
        invoke(job_run_handler, load_event("job_run/create"))

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert expected in body["Reason"]
    assert len(body["Reason"]) <= 256
    stubbed.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("AWS.SimpleQueueService.NonExistentQueue", f"Results queue {QUEUE_URL} does not exist"),
        ("QueueDoesNotExist", f"Results queue {QUEUE_URL} does not exist"),
        ("AccessDenied", "may not call sqs:ReceiveMessage on bookapp-JobResultQueue-A1s2D3f4G5h6"),
        ("KMS.AccessDeniedException", "KMS key unusable (KMS.AccessDeniedException)"),
    ],
)
def test_create_fails_naming_the_published_message_when_the_results_cannot_be_read(
    job_run_handler: ModuleType,
    stubbed: Stubbed,
    cfn_responses: CfnResponses,
    code: str,
    expected: str,
) -> None:
    publishes(stubbed)
    stubbed["sqs"].add_client_error("receive_message", code, "it went wrong", http_status_code=400)

    with stubbed:
        invoke(job_run_handler, load_event("job_run/create"))

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert body["Reason"].startswith(f"Published db_migrate as message {MESSAGE_ID}, then ")
    assert len(body["Reason"]) <= 256
    assert expected in body["Reason"]
    assert body["PhysicalResourceId"] == MESSAGE_ID


def test_update_fails_naming_the_missing_right_when_describe_stacks_is_denied(
    job_run_handler: ModuleType, stubbed: Stubbed, cfn_responses: CfnResponses
) -> None:
    stubbed["cloudformation"].add_client_error(
        "describe_stacks", "AccessDenied", "not authorized", http_status_code=403
    )

    with stubbed:
        invoke(job_run_handler, load_event("job_run/update"))

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert "may not call cloudformation:DescribeStacks" in body["Reason"]
    stubbed.assert_no_pending_responses()


def test_create_fails_after_bounded_retries_when_sns_keeps_throttling(
    job_run_handler: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    cfn_responses: CfnResponses,
) -> None:
    client = boto3.client("sns", region_name="us-east-1", config=job_run_handler.RETRY_CONFIG)
    monkeypatch.setattr(job_run_handler, "get_client", lambda _service, _region: client)
    attempts = always_throttled(client, "Publish", monkeypatch)
    started = time.monotonic()

    invoke(job_run_handler, load_event("job_run/create"))

    assert time.monotonic() - started < 5
    assert len(attempts) == 3
    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert "throttled after retries" in body["Reason"]
