"""boto3 SNS clients: created lazily, cached per region, one retry and timeout configuration.

boto3 itself honours AWS_ENDPOINT_URL_SNS, so local stacks and tests need nothing here.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

RETRY_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=5
)


@functools.cache
def sns_client(region: str) -> SNSClient:
    return boto3.client("sns", region_name=region, config=RETRY_CONFIG)


def confirm_subscription(client: SNSClient, topic_arn: str, token: str) -> None:
    # AuthenticateOnUnsubscribe: only a caller with AWS credentials may unsubscribe this endpoint.
    client.confirm_subscription(TopicArn=topic_arn, Token=token, AuthenticateOnUnsubscribe="true")


def job_message(name: str, payload: Mapping[str, Any], timestamp: int | None = None) -> str:
    """The DESIGN §2.3 message: {"job": NAME, "payload": {...}, "timestamp": EPOCH SECONDS}."""
    return json.dumps(
        {"job": name, "payload": dict(payload), "timestamp": timestamp or int(time.time())}
    )


def publish_job(
    client: SNSClient, topic_arn: str, name: str, payload: Mapping[str, Any] | None = None
) -> str:
    """Publish a job; the `job` message attribute lets subscription filter policies route it."""
    response = client.publish(
        TopicArn=topic_arn,
        Message=job_message(name, payload or {}),
        MessageAttributes={"job": {"DataType": "String", "StringValue": name}},
    )
    return response["MessageId"]
