"""Fixtures for Custom::JobRun: moto's SNS, SQS and CloudFormation, a fake clock, a stand-in app.

The stand-in app (`Responder`) reads what the topic delivered to an SQS inbox subscribed to it,
as the jobs service would receive it, and sends the result message of DESIGN §2.6 to the results
queue; it acts whenever the handler sleeps, so every wait runs on the fake clock and no test
sleeps for real. The handler module is imported afresh for each test with the topic and queue
pinned in its environment and long polling off (moto's SQS would really wait otherwise).
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.cloudformation.models import cloudformation_backends

from tests.support.clock import FakeClock
from tests.support.events import load_event

ACCOUNT = "123456789012"
REGION = "us-east-1"
TOPIC_NAME = "bookapp-JobTopic-Q1w2E3r4T5y6"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC_NAME}"
QUEUE_NAME = "bookapp-JobResultQueue-A1s2D3f4G5h6"
QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{QUEUE_NAME}"
INBOX_NAME = "stand-in-jobs-service"
NOW = 1_764_115_200
KNOWN_JOBS = frozenset({"db_migrate", "db_seed", "test_book_job"})


def sqs() -> Any:
    return boto3.client("sqs", region_name=REGION)


def sns() -> Any:
    return boto3.client("sns", region_name=REGION)


def result_body(message_id: str, **overrides: Any) -> str:
    result: dict[str, Any] = {
        "message_id": message_id,
        "job": "db_migrate",
        "status": "succeeded",
        "attempt": 1,
        "error": None,
        "finished_at": "2026-11-26T08:00:00+00:00",
    }
    result.update(overrides)
    return json.dumps(result)


def queued_results() -> list[dict[str, Any]]:
    """Every message visible on the results queue now (received and made visible again)."""
    found: list[dict[str, Any]] = []
    while True:
        messages = (
            sqs()
            .receive_message(
                QueueUrl=QUEUE_URL, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=5
            )
            .get("Messages", [])
        )
        if not messages:
            break
        found.extend(messages)
    for message in found:
        sqs().change_message_visibility(
            QueueUrl=QUEUE_URL, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    return found


Rule = Callable[[dict[str, Any]], tuple[str, str | None] | None]


def default_rule(message: dict[str, Any]) -> tuple[str, str | None] | None:
    if message["job"] in KNOWN_JOBS:
        return "succeeded", None
    return "rejected", f"unknown job {message['job']!r}"


@dataclass
class Responder:
    """The jobs service: runs nothing, reports what `rule` says for each job message delivered.

    `rule` returns (status, error), or None to report nothing for that message.
    """

    inbox_url: str
    rule: Rule = default_rule
    delivered: list[dict[str, Any]] = field(default_factory=list)
    reported: list[str] = field(default_factory=list)

    def tick(self) -> None:
        while True:
            messages = (
                sqs()
                .receive_message(QueueUrl=self.inbox_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
                .get("Messages", [])
            )
            if not messages:
                return
            for message in messages:
                envelope = json.loads(message["Body"])
                job_message = json.loads(envelope["Message"])
                self.delivered.append({"envelope": envelope, "message": job_message})
                sqs().delete_message(
                    QueueUrl=self.inbox_url, ReceiptHandle=message["ReceiptHandle"]
                )
                outcome = self.rule(job_message)
                if outcome is None:
                    continue
                status, error = outcome
                body = result_body(
                    envelope["MessageId"], job=job_message["job"], status=status, error=error
                )
                sqs().send_message(QueueUrl=QUEUE_URL, MessageBody=body)
                self.reported.append(envelope["MessageId"])

    @property
    def message_ids(self) -> list[str]:
        return [d["envelope"]["MessageId"] for d in self.delivered]


@dataclass
class Stand:
    """What the template would have made: topic, results queue, the stack itself."""

    stack_id: str
    responder: Responder

    def event(self, name: str, **properties: Any) -> dict[str, Any]:
        event = load_event(f"job_run/{name}", **properties)
        event["StackId"] = self.stack_id
        return event

    def set_stack_status(self, status: str) -> None:
        backend = cloudformation_backends[ACCOUNT][REGION]
        backend.stacks[self.stack_id].status = status


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def stand(fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stand]:
    with mock_aws():
        sns().create_topic(Name=TOPIC_NAME)
        sqs().create_queue(QueueName=QUEUE_NAME)
        inbox_url = sqs().create_queue(QueueName=INBOX_NAME)["QueueUrl"]
        inbox_arn = sqs().get_queue_attributes(QueueUrl=inbox_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns().subscribe(TopicArn=TOPIC_ARN, Protocol="sqs", Endpoint=inbox_arn)
        template = {
            "Resources": {
                "Marker": {
                    "Type": "AWS::SSM::Parameter",
                    "Properties": {"Name": "stand-marker", "Type": "String", "Value": "stand"},
                }
            }
        }
        stack_id = boto3.client("cloudformation", region_name=REGION).create_stack(
            StackName="bookapp", TemplateBody=json.dumps(template)
        )["StackId"]
        # moto gives the stack an id of its own; the function serves only the stack it is pinned to.
        monkeypatch.setenv("STACK_ID", stack_id)
        responder = Responder(inbox_url)
        fake_clock.on_sleep = responder.tick
        yield Stand(stack_id, responder)


def import_handler(monkeypatch: pytest.MonkeyPatch, **environment: str | None) -> ModuleType:
    """A fresh import of job_run.handler with this environment (None removes a variable)."""
    settings: dict[str, str | None] = {
        "JOB_TOPIC_ARN": TOPIC_ARN,
        "RESULT_QUEUE_URL": QUEUE_URL,
        "LONG_POLL_SECONDS": "0",
        "POLL_INTERVAL_SECONDS": "2",
    }
    settings.update(environment)
    for key, value in settings.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    monkeypatch.delitem(sys.modules, "job_run.handler", raising=False)
    return importlib.import_module("job_run.handler")


@pytest.fixture
def job_run_handler(monkeypatch: pytest.MonkeyPatch, fake_clock: FakeClock) -> ModuleType:
    module = import_handler(monkeypatch)
    monkeypatch.setattr(module, "clock", fake_clock.clock)
    monkeypatch.setattr(module, "sleep", fake_clock.sleep)
    monkeypatch.setattr(module, "now", lambda: float(NOW))
    # crhelper sleeps before answering a Delete (to let logs flush); not in tests.
    monkeypatch.setattr(module.helper, "_sleep_on_delete", 0)
    return module
