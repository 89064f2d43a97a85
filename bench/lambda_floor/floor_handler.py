"""B2's floor: a Lambda handler that imports boto3, makes the client a function uses, returns.

Started in the same runtime (awslambdaric, `-S`, the SDK from the runtime) with the same
environment as the function it stands beside, it is the least any custom resource in Python with
boto3 can cost from process start to the end of its first invocation. Each handler makes the
client with the same configuration as its function's (region from AWS_REGION, bounded retries).
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config

CONFIG = Config(
    retries={"total_max_attempts": 3, "mode": "standard"},
    connect_timeout=3,
    read_timeout=10,
)


def secrets_manager(_event: dict[str, Any], _context: Any) -> dict[str, str]:
    """SecretEnvironmentFunction's floor: one Secrets Manager client."""
    client = boto3.client("secretsmanager", region_name=os.environ.get("AWS_REGION"), config=CONFIG)
    return {"client": client.meta.service_model.service_name}


def sns(_event: dict[str, Any], _context: Any) -> dict[str, str]:
    """HttpsSubscriptionFunction's floor: one SNS client."""
    client = boto3.client("sns", region_name=os.environ.get("AWS_REGION"), config=CONFIG)
    return {"client": client.meta.service_model.service_name}


def sns_and_sqs(_event: dict[str, Any], _context: Any) -> dict[str, str]:
    """JobRunFunction's floor: an SNS client and an SQS client (it publishes, then reads)."""
    region = os.environ.get("AWS_REGION")
    publisher = boto3.client("sns", region_name=region, config=CONFIG)
    reader = boto3.client("sqs", region_name=region, config=CONFIG)
    return {
        "client": publisher.meta.service_model.service_name
        + "+"
        + reader.meta.service_model.service_name
    }


def logs(_event: dict[str, Any], _context: Any) -> dict[str, str]:
    """LogRetentionFunction's floor: one CloudWatch Logs client."""
    client = boto3.client("logs", region_name=os.environ.get("AWS_REGION"), config=CONFIG)
    return {"client": client.meta.service_model.service_name}
