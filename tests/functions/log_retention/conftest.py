"""Fixtures for Custom::LogRetention: moto's CloudWatch Logs, the handler pinned to the resources of
the event files (events/log_retention), and helpers to read what moto holds."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

REGION = "us-east-1"
SERVICE_NAME = "ApiService-Kq7Lm2Np9Rs4"
OLD_ID = "6f1e0c2b9a8d4e7f8a1b2c3d4e5f6a7b"
NEW_ID = "d4c3b2a1f0e94d8c9b7a6f5e4d3c2b1a"
SERVICE_ARN = f"arn:aws:apprunner:{REGION}:123456789012:service/{SERVICE_NAME}/{OLD_ID}"
REPLACED_ARN = f"arn:aws:apprunner:{REGION}:123456789012:service/{SERVICE_NAME}/{NEW_ID}"
JOBS_ARN = (
    f"arn:aws:apprunner:{REGION}:123456789012:service/JobService-Hj3Gf5Dd1Ss2/"
    "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
)
CLUSTER_ARN = f"arn:aws:rds:{REGION}:123456789012:cluster:bookapp-databasecluster-q1w2e3r4t5y6"
CLUSTER_PREFIX = "/aws/rds/cluster/bookapp-databasecluster-q1w2e3r4t5y6"
PREFIX = f"/aws/apprunner/{SERVICE_NAME}/{OLD_ID}"
NEW_PREFIX = f"/aws/apprunner/{SERVICE_NAME}/{NEW_ID}"


def groups_of(prefix: str) -> list[str]:
    return [f"{prefix}/service", f"{prefix}/application"]


@pytest.fixture
def retention_handler(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    # Imported here, not at the top: crhelper reads the (fake) environment when it starts.
    from log_retention import handler as module  # noqa: PLC0415

    get_client = module.get_client  # tests may replace it; the cache is cleared on the original
    get_client.cache_clear()
    # The template pins the stack's current resources: the events' services and cluster.
    monkeypatch.setenv("RESOURCE_ARNS", f"{SERVICE_ARN},{JOBS_ARN},{CLUSTER_ARN}")
    # crhelper sleeps before answering a Delete (to let logs flush); not in tests.
    monkeypatch.setattr(module.helper, "_sleep_on_delete", 0)
    yield module
    get_client.cache_clear()


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def logs() -> Any:
    return boto3.client("logs", region_name=REGION)


def retention(group: str) -> int | None:
    """The retention of `group` in days (None: kept forever); KeyError if it does not exist."""
    found = logs().describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    by_name = {g["logGroupName"]: g for g in found}
    days: int | None = by_name[group].get("retentionInDays")
    return days


def existing_groups() -> list[str]:
    return sorted(g["logGroupName"] for g in logs().describe_log_groups()["logGroups"])
