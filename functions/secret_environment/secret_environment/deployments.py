"""New deployments for the services after a rotation: App Runner and ECS, one call each at most.

App Runner and ECS read secrets only when an instance or task starts, so the follower starts a new
deployment of every running service. Before it does, it asks whether the service's newest
deployment already started after the target secret got its value (`follow.needs_deployment`): then
the new value is being read already and nothing is started twice (a repeated event, a retry after
a partial failure, or a deploy that CloudFormation made meanwhile).

- App Runner: `DescribeService` (a paused service starts no instance until it is resumed, and then
  reads the new value; a deleted or failed one cannot be deployed), `ListOperations` (the newest
  deployment, update, creation or resume that did not fail), `StartDeployment`. A service busy with
  another operation refuses a deployment; the follower waits for it, a bounded number of times.
- ECS (the service an Express gateway service runs): `DescribeServices` (its deployments and their
  creation times), `UpdateService` with `forceNewDeployment`. A service scaled to zero starts no
  task, and a task started later reads the new value.

Clients are arguments so tests hand in stubbed ones. Throttling and 5xx answers are retried by the
clients' own bounded retry configuration; what still fails is an outcome "failed" with the error
code, never a value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from secret_environment.follow import ServiceOutcome, ecs_cluster_and_service, needs_deployment

if TYPE_CHECKING:
    from mypy_boto3_apprunner import AppRunnerClient
    from mypy_boto3_ecs import ECSClient

LOGGER = logging.getLogger(__name__)

# Operations after which every instance of an App Runner service was started anew.
APPRUNNER_STARTING_OPERATIONS: Final = frozenset(
    {"START_DEPLOYMENT", "UPDATE_SERVICE", "CREATE_SERVICE", "RESUME_SERVICE"}
)
APPRUNNER_FAILED_STATUSES: Final = frozenset(
    {"FAILED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_FAILED", "ROLLBACK_SUCCEEDED"}
)
APPRUNNER_GONE: Final = frozenset({"DELETED", "CREATE_FAILED", "DELETE_FAILED"})
# A busy service (OPERATION_IN_PROGRESS) is asked again this many times, this far apart.
BUSY_ATTEMPTS: Final = 6
BUSY_WAIT_SECONDS: Final = 20.0

type Sleep = Callable[[float], None]


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "Unknown"))


def _failure(arn: str, operation: str, error: ClientError | BotoCoreError) -> ServiceOutcome:
    what = _code(error) if isinstance(error, ClientError) else type(error).__name__
    return ServiceOutcome(arn, "failed", f"{operation} failed with {what}")


def newest_app_runner_start(client: AppRunnerClient, service_arn: str) -> datetime | None:
    """When the newest operation that started every instance anew began (None: none listed)."""
    response = client.list_operations(ServiceArn=service_arn, MaxResults=20)
    starts = [
        operation["StartedAt"]
        for operation in response.get("OperationSummaryList", [])
        if operation.get("Type") in APPRUNNER_STARTING_OPERATIONS
        and operation.get("Status") not in APPRUNNER_FAILED_STATUSES
        and "StartedAt" in operation
    ]
    return max(starts) if starts else None


def redeploy_app_runner(
    client: AppRunnerClient,
    service_arn: str,
    value_since: datetime | None,
    *,
    sleep: Sleep,
    busy_attempts: int = BUSY_ATTEMPTS,
    busy_wait: float = BUSY_WAIT_SECONDS,
) -> ServiceOutcome:
    """Start one deployment of an App Runner service unless one already reads the value."""
    operation = "DescribeService"
    try:
        for attempt in range(1, busy_attempts + 1):
            operation = "DescribeService"
            status = client.describe_service(ServiceArn=service_arn)["Service"]["Status"]
            if status == "PAUSED":
                return ServiceOutcome(
                    service_arn, "not-running", "paused: it reads the new value when resumed"
                )
            if status in APPRUNNER_GONE:
                return ServiceOutcome(service_arn, "failed", f"the service is {status}")
            operation = "ListOperations"
            newest = newest_app_runner_start(client, service_arn)
            if not needs_deployment(newest, value_since):
                return ServiceOutcome(
                    service_arn, "already-deployed", f"a deployment started at {newest}"
                )
            if status == "RUNNING":
                operation = "StartDeployment"
                started = client.start_deployment(ServiceArn=service_arn)
                return ServiceOutcome(
                    service_arn, "deployed", f"operation {started.get('OperationId', '?')}"
                )
            LOGGER.info(
                "%s is %s (attempt %d of %d); waiting %.0f s",
                service_arn,
                status,
                attempt,
                busy_attempts,
                busy_wait,
            )
            if attempt < busy_attempts:
                sleep(busy_wait)
    except (ClientError, BotoCoreError) as error:
        return _failure(service_arn, operation, error)
    return ServiceOutcome(
        service_arn,
        "failed",
        f"still busy with another operation after {busy_attempts} attempts",
    )


def newest_ecs_deployment(service: dict[str, Any]) -> datetime | None:
    created = [
        deployment["createdAt"]
        for deployment in service.get("deployments", [])
        if deployment.get("status") == "PRIMARY" and "createdAt" in deployment
    ]
    return max(created) if created else None


def redeploy_ecs(
    client: ECSClient, service_arn: str, value_since: datetime | None
) -> ServiceOutcome:
    """Force one new deployment of an ECS service unless one already reads the value."""
    cluster, name = ecs_cluster_and_service(service_arn)
    operation = "DescribeServices"
    try:
        response = client.describe_services(cluster=cluster, services=[name])
        services = response.get("services", [])
        if not services:
            reasons = ", ".join(
                str(failure.get("reason", "?")) for failure in response.get("failures", [])
            )
            return ServiceOutcome(service_arn, "failed", f"not found ({reasons or 'no reason'})")
        service: dict[str, Any] = dict(services[0])
        if service.get("status") != "ACTIVE":
            return ServiceOutcome(service_arn, "failed", f"the service is {service.get('status')}")
        if service.get("desiredCount") == 0:
            return ServiceOutcome(
                service_arn, "not-running", "scaled to zero: tasks read the new value when started"
            )
        newest = newest_ecs_deployment(service)
        if not needs_deployment(newest, value_since):
            return ServiceOutcome(
                service_arn, "already-deployed", f"a deployment created at {newest}"
            )
        operation = "UpdateService"
        updated = client.update_service(cluster=cluster, service=name, forceNewDeployment=True)
    except (ClientError, BotoCoreError) as error:
        return _failure(service_arn, operation, error)
    primary = [
        deployment.get("id", "?")
        for deployment in updated.get("service", {}).get("deployments", [])
        if deployment.get("status") == "PRIMARY"
    ]
    return ServiceOutcome(service_arn, "deployed", f"deployment {', '.join(primary) or '?'}")
