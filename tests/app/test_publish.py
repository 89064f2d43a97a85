"""Publishing jobs: the DESIGN §2.3 message with the `job` attribute (which filter policies route
on), through the Python function and the `publish-job` command line, checked on moto's SNS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from bookapp import aws

APP_DIR = Path(__file__).resolve().parents[2] / "app"


@mock_aws
def test_publish_job_sends_the_job_message_with_the_job_attribute() -> None:
    sns = boto3.client("sns", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    topic = sns.create_topic(Name="book-jobs")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="seen")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    message_id = aws.publish_job(sns, topic, "db_seed", {"batch": 1})

    [received] = sqs.receive_message(QueueUrl=queue_url)["Messages"]
    envelope = json.loads(received["Body"])
    assert envelope["MessageId"] == message_id
    message = json.loads(envelope["Message"])
    assert message["job"] == "db_seed"
    assert message["payload"] == {"batch": 1}
    assert isinstance(message["timestamp"], int)
    assert envelope["MessageAttributes"]["job"] == {"Type": "String", "Value": "db_seed"}


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("JOB_", "DATABASE"))}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "bookapp", "publish-job", *args],
        cwd=APP_DIR,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_publish_job_command_prints_the_message_id(moto_url: str) -> None:
    sns = boto3.client("sns", region_name="us-east-1", endpoint_url=moto_url)
    topic = sns.create_topic(Name="cli-jobs")["TopicArn"]
    result = _cli(
        "test_book_job",
        "--payload",
        '{"sleep_seconds": 0}',
        JOB_TOPIC_ARN=topic,
        AWS_ENDPOINT_URL_SNS=moto_url,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip()) >= 32  # a message id


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("no_such_job",), "unknown job 'no_such_job'; known jobs: db_migrate, db_seed"),
        (("db_seed", "--payload", "{oops"), "--payload is not JSON"),
        (("db_seed", "--payload", "[1]"), "--payload must be a JSON object"),
    ],
)
def test_publish_job_command_refuses_bad_input(args: tuple[str, ...], message: str) -> None:
    result = _cli(*args, JOB_TOPIC_ARN="arn:aws:sns:us-east-1:123456789012:book-jobs")
    assert result.returncode == 2
    assert message in result.stderr


def test_publish_job_command_without_a_topic_is_a_configuration_error() -> None:
    result = _cli("db_seed")
    assert result.returncode == 2
    assert "configuration error: JOB_TOPIC_ARN is not set" in result.stderr
