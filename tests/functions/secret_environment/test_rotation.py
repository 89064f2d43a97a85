"""The rotation follower through `handler(event, context)`: moto's Secrets Manager, and botocore
Stubbers for App Runner and ECS (moto has neither), so every App Runner and ECS request the follower
makes is one the test expected, with exactly these parameters, and no other.

Events are the documented "Secret Label Updated" shape from events/rotation_follower/.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from botocore.stub import Stubber

from secret_environment import core
from tests.functions.secret_environment.seeds import (
    DB_HOST,
    DB_NAME,
    DB_USERNAME,
    Secrets,
    database_secret,
)
from tests.support.cfn import LambdaContext
from tests.support.events import load_event

NEW_PASSWORD = "n3w:p@ss/w?rd#%+ rotated"
API_SERVICE = (
    "arn:aws:apprunner:us-east-1:123456789012:service/bookstack-api/"
    "0123456789abcdef0123456789abcdef"
)
JOB_SERVICE = (
    "arn:aws:apprunner:us-east-1:123456789012:service/bookstack-jobs/"
    "fedcba9876543210fedcba9876543210"
)
ECS_SERVICE = "arn:aws:ecs:us-east-1:123456789012:service/default/bookstack-api"
LONG_AGO = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Stubs:
    """Stubbed App Runner and ECS clients, and what the follower slept."""

    apprunner: Any
    ecs: Any
    apprunner_stub: Stubber
    ecs_stub: Stubber
    slept: list[float] = field(default_factory=list)

    def done(self) -> None:
        self.apprunner_stub.assert_no_pending_responses()
        self.ecs_stub.assert_no_pending_responses()

    # -- App Runner --------------------------------------------------------------------------

    def app_runner_status(self, arn: str, status: str = "RUNNING") -> None:
        self.apprunner_stub.add_response(
            "describe_service",
            {"Service": _app_runner_service(arn, status)},
            {"ServiceArn": arn},
        )

    def app_runner_operations(self, arn: str, *operations: tuple[str, str, datetime]) -> None:
        self.apprunner_stub.add_response(
            "list_operations",
            {
                "OperationSummaryList": [
                    {
                        "Id": f"{n:08d}-0000-4000-8000-000000000000",
                        "Type": kind,
                        "Status": status,
                        "TargetArn": arn,
                        "StartedAt": started,
                    }
                    for n, (kind, status, started) in enumerate(operations)
                ]
            },
            {"ServiceArn": arn, "MaxResults": 20},
        )

    def app_runner_deploys(self, arn: str) -> None:
        self.apprunner_stub.add_response(
            "start_deployment",
            {"OperationId": f"{arn[-8:]}-1111-4000-8000-000000000000"},
            {"ServiceArn": arn},
        )

    def app_runner_follows(self, arn: str) -> None:
        """The three calls of a service that needs (and gets) one deployment."""
        self.app_runner_status(arn)
        self.app_runner_operations(arn, ("START_DEPLOYMENT", "SUCCEEDED", LONG_AGO))
        self.app_runner_deploys(arn)

    # -- ECS ---------------------------------------------------------------------------------

    def ecs_service(self, created: datetime, desired: int = 2, status: str = "ACTIVE") -> None:
        self.ecs_stub.add_response(
            "describe_services",
            {
                "services": [
                    {
                        "serviceArn": ECS_SERVICE,
                        "serviceName": "bookstack-api",
                        "status": status,
                        "desiredCount": desired,
                        "deployments": [
                            {"id": "ecs-svc/1", "status": "PRIMARY", "createdAt": created}
                        ],
                    }
                ],
                "failures": [],
            },
            {"cluster": "default", "services": ["bookstack-api"]},
        )

    def ecs_deploys(self) -> None:
        self.ecs_stub.add_response(
            "update_service",
            {
                "service": {
                    "serviceArn": ECS_SERVICE,
                    "deployments": [{"id": "ecs-svc/2", "status": "PRIMARY"}],
                }
            },
            {"cluster": "default", "service": "bookstack-api", "forceNewDeployment": True},
        )

    def ecs_follows(self) -> None:
        self.ecs_service(created=LONG_AGO)
        self.ecs_deploys()


def _app_runner_service(arn: str, status: str) -> dict[str, Any]:
    return {
        "ServiceName": arn.split("/")[-2],
        "ServiceId": arn.rsplit("/", maxsplit=1)[-1],
        "ServiceArn": arn,
        "CreatedAt": LONG_AGO,
        "UpdatedAt": LONG_AGO,
        "Status": status,
        "SourceConfiguration": {},
        "InstanceConfiguration": {},
        "AutoScalingConfigurationSummary": {},
        "NetworkConfiguration": {},
    }


@pytest.fixture
def rotation() -> Iterator[ModuleType]:
    module = importlib.import_module("secret_environment.rotation")
    caches = (module.secrets_client, module.apprunner_client, module.ecs_client)
    for cache in caches:
        cache.cache_clear()
    yield module
    for cache in caches:
        cache.cache_clear()


@pytest.fixture
def stubs(rotation: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubs]:
    apprunner = boto3.client("apprunner", region_name="us-east-1")
    ecs = boto3.client("ecs", region_name="us-east-1")
    with Stubber(apprunner) as apprunner_stub, Stubber(ecs) as ecs_stub:
        found = Stubs(apprunner, ecs, apprunner_stub, ecs_stub)
        monkeypatch.setattr(rotation, "apprunner_client", lambda: apprunner)
        monkeypatch.setattr(rotation, "ecs_client", lambda: ecs)
        monkeypatch.setattr(rotation.time, "sleep", found.slept.append)
        yield found


@pytest.fixture
def environment(secrets: Secrets, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The follower's environment as the template sets it, for the seeded secrets."""
    properties = core.parse_properties(
        {
            "TargetSecretArn": secrets.target_arn,
            "Follow": "true",
            "Variables": secrets.variables(),
        }
    )
    values = {
        "DATABASE_SECRET_ARN": secrets.database_arn,
        "SECRET_ENVIRONMENT_DEFINITION": core.definition(properties),
        "APPRUNNER_SERVICE_ARNS": f"{API_SERVICE},{JOB_SERVICE}",
        "ECS_SERVICE_ARNS": ECS_SERVICE,
        "LOG_LEVEL": "DEBUG",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def rotate(secrets: Secrets, password: str = NEW_PASSWORD) -> str:
    """What the rotation's finishSecret leaves: a new AWSCURRENT version; returns its id."""
    put = secrets.client.put_secret_value(
        SecretId=secrets.database_arn, SecretString=database_secret(password)
    )
    return str(put["VersionId"])


def label_event(
    secrets: Secrets, version_id: str, name: str = "secret-label-updated"
) -> dict[str, Any]:
    event = load_event(f"rotation_follower/{name}")
    if name == "secret-label-updated":
        event["resources"] = [secrets.database_arn]
    event["detail"]["versionId"] = version_id
    return event


def expected_url(password: str) -> str:
    return (
        f"postgresql://{quote(DB_USERNAME, safe='')}:{quote(password, safe='')}@{DB_HOST}:5432/"
        f"{DB_NAME}?sslmode=require"
    )


def follow(rotation: ModuleType, event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = rotation.handler(event, LambdaContext(timeout_seconds=300))
    return result


# --- the rotation is followed ------------------------------------------------------------------


def test_the_new_value_lands_in_the_target_and_each_service_gets_exactly_one_deployment(
    rotation: ModuleType, secrets: Secrets, stubs: Stubs, environment: dict[str, str]
) -> None:
    version = rotate(secrets)
    stubs.app_runner_follows(API_SERVICE)
    stubs.app_runner_follows(JOB_SERVICE)
    stubs.ecs_follows()

    result = follow(rotation, label_event(secrets, version))

    stubs.done()
    assert secrets.target_value()["DATABASE_URL"] == expected_url(NEW_PASSWORD)
    assert secrets.target_value()["DB_PASSWORD"] == NEW_PASSWORD
    assert result["status"] == "followed"
    assert result["target_written"] is True
    assert result["services"] == {
        API_SERVICE: "deployed",
        JOB_SERVICE: "deployed",
        ECS_SERVICE: "deployed",
    }


def test_a_repeated_event_writes_nothing_new_and_deploys_nothing_twice(
    rotation: ModuleType, secrets: Secrets, stubs: Stubs, environment: dict[str, str]
) -> None:
    version = rotate(secrets)
    stubs.app_runner_follows(API_SERVICE)
    stubs.app_runner_follows(JOB_SERVICE)
    stubs.ecs_follows()
    follow(rotation, label_event(secrets, version))
    versions = secrets.target_versions()
    stubs.done()

    # The second delivery finds the deployments the first one started (after the write).
    just_now = datetime.now(UTC) + timedelta(seconds=5)
    for arn in (API_SERVICE, JOB_SERVICE):
        stubs.app_runner_status(arn, "OPERATION_IN_PROGRESS")
        stubs.app_runner_operations(
            arn,
            ("START_DEPLOYMENT", "IN_PROGRESS", just_now),
            ("START_DEPLOYMENT", "SUCCEEDED", LONG_AGO),
        )
    stubs.ecs_service(created=just_now)

    result = follow(rotation, label_event(secrets, version))

    stubs.done()  # no StartDeployment, no UpdateService was queued, so none was made
    assert secrets.target_versions() == versions
    assert result["target_written"] is False
    assert set(result["services"].values()) == {"already-deployed"}


def test_a_deploy_made_by_cloudformation_after_the_write_counts_as_one(
    rotation: ModuleType, secrets: Secrets, stubs: Stubs, environment: dict[str, str]
) -> None:
    version = rotate(secrets)
    # AppEnvironment (same resolver) wrote the value first, then CloudFormation updated services.
    token = secrets.client.get_secret_value(SecretId=secrets.api_token_arn)["SecretString"]
    secrets.client.put_secret_value(
        SecretId=secrets.target_arn,
        SecretString=json.dumps(
            {
                "API_TOKEN": token,
                "DATABASE_URL": expected_url(NEW_PASSWORD),
                "DB_PASSWORD": NEW_PASSWORD,
            }
        ),
    )
    later = datetime.now(UTC) + timedelta(seconds=5)
    for arn in (API_SERVICE, JOB_SERVICE):
        stubs.app_runner_status(arn)
        stubs.app_runner_operations(arn, ("UPDATE_SERVICE", "SUCCEEDED", later))
    stubs.ecs_service(created=later)

    result = follow(rotation, label_event(secrets, version))

    stubs.done()
    assert result["target_written"] is False
    assert set(result["services"].values()) == {"already-deployed"}


def test_a_deployment_that_failed_does_not_count_and_the_service_is_deployed_again(
    rotation: ModuleType, secrets: Secrets, stubs: Stubs, environment: dict[str, str]
) -> None:
    version = rotate(secrets)
    stubs.app_runner_status(API_SERVICE)
    stubs.app_runner_operations(API_SERVICE, ("START_DEPLOYMENT", "SUCCEEDED", LONG_AGO))
    stubs.apprunner_stub.add_client_error(
        "start_deployment",
        service_error_code="InvalidRequestException",
        service_message="cannot deploy now",
        expected_params={"ServiceArn": API_SERVICE},
    )
    stubs.app_runner_follows(JOB_SERVICE)
    stubs.ecs_follows()
    with pytest.raises(rotation.FollowError):
        follow(rotation, label_event(secrets, version))
    stubs.done()

    # Lambda's retry: the target is unchanged, the job and ECS services were deployed after the
    # write; the api service's failed try left no operation, so it alone is deployed now.
    after = datetime.now(UTC) + timedelta(seconds=5)
    stubs.app_runner_status(API_SERVICE)
    stubs.app_runner_operations(
        API_SERVICE,
        ("START_DEPLOYMENT", "FAILED", after),
        ("START_DEPLOYMENT", "SUCCEEDED", LONG_AGO),
    )
    stubs.app_runner_deploys(API_SERVICE)
    stubs.app_runner_status(JOB_SERVICE)
    stubs.app_runner_operations(JOB_SERVICE, ("START_DEPLOYMENT", "IN_PROGRESS", after))
    stubs.ecs_service(created=after)

    result = follow(rotation, label_event(secrets, version))

    stubs.done()
    assert result["services"] == {
        API_SERVICE: "deployed",
        JOB_SERVICE: "already-deployed",
        ECS_SERVICE: "already-deployed",
    }


# --- errors are reported ------------------------------------------------------------------------


def _api_deploy_denied(stubs: Stubs) -> None:
    stubs.app_runner_status(API_SERVICE)
    stubs.app_runner_operations(API_SERVICE, ("START_DEPLOYMENT", "SUCCEEDED", LONG_AGO))
    stubs.apprunner_stub.add_client_error(
        "start_deployment",
        service_error_code="AccessDeniedException",
        service_message="not allowed",
        expected_params={"ServiceArn": API_SERVICE},
    )


def _api_deleted(stubs: Stubs) -> None:
    stubs.app_runner_status(API_SERVICE, "DELETED")


def _api_busy_for_too_long(stubs: Stubs) -> None:
    for _ in range(6):
        stubs.app_runner_status(API_SERVICE, "OPERATION_IN_PROGRESS")
        stubs.app_runner_operations(API_SERVICE, ("UPDATE_SERVICE", "IN_PROGRESS", LONG_AGO))


@pytest.mark.parametrize(
    ("api_service", "detail", "slept"),
    [
        pytest.param(
            _api_deploy_denied,
            "StartDeployment failed with AccessDeniedException",
            [],
            id="deploy-denied",
        ),
        pytest.param(_api_deleted, "the service is DELETED", [], id="deleted"),
        pytest.param(
            _api_busy_for_too_long,
            "still busy with another operation after 6",
            [20.0] * 5,
            id="busy-for-too-long",
        ),
    ],
)
def test_a_service_that_cannot_be_deployed_is_reported_and_the_others_are_deployed(
    *,
    rotation: ModuleType,
    secrets: Secrets,
    stubs: Stubs,
    environment: dict[str, str],
    api_service: Callable[[Stubs], None],
    detail: str,
    slept: list[float],
) -> None:
    version = rotate(secrets)
    api_service(stubs)
    stubs.app_runner_follows(JOB_SERVICE)
    stubs.ecs_follows()

    with pytest.raises(rotation.FollowError) as raised:
        follow(rotation, label_event(secrets, version))

    stubs.done()  # the job and ECS services were deployed: their queued calls were all made
    message = str(raised.value)
    assert message.startswith("1 of 3 services not redeployed")
    assert f"{API_SERVICE}: {detail}" in message
    assert NEW_PASSWORD not in message
    assert secrets.target_value()["DB_PASSWORD"] == NEW_PASSWORD
    assert stubs.slept == slept


def test_a_busy_service_is_waited_for_and_then_deployed_once(
    rotation: ModuleType, secrets: Secrets, stubs: Stubs, environment: dict[str, str]
) -> None:
    version = rotate(secrets)
    stubs.app_runner_status(API_SERVICE, "OPERATION_IN_PROGRESS")
    stubs.app_runner_operations(API_SERVICE, ("UPDATE_SERVICE", "IN_PROGRESS", LONG_AGO))
    stubs.app_runner_follows(API_SERVICE)
    stubs.app_runner_follows(JOB_SERVICE)
    stubs.ecs_follows()

    result = follow(rotation, label_event(secrets, version))

    stubs.done()
    assert stubs.slept == [20.0]
    assert result["services"][API_SERVICE] == "deployed"


def test_paused_and_scaled_to_zero_services_are_left_to_start_with_the_new_value(
    rotation: ModuleType, secrets: Secrets, stubs: Stubs, environment: dict[str, str]
) -> None:
    version = rotate(secrets)
    stubs.app_runner_status(API_SERVICE, "PAUSED")
    stubs.app_runner_follows(JOB_SERVICE)
    stubs.ecs_service(created=LONG_AGO, desired=0)

    result = follow(rotation, label_event(secrets, version))

    stubs.done()
    assert result["services"] == {
        API_SERVICE: "not-running",
        JOB_SERVICE: "deployed",
        ECS_SERVICE: "not-running",
    }


def test_a_secrets_manager_failure_is_reported_and_deploys_nothing(
    rotation: ModuleType, secrets: Secrets, stubs: Stubs, environment: dict[str, str]
) -> None:
    version = rotate(secrets)
    secrets.client.delete_secret(SecretId=secrets.api_token_arn, ForceDeleteWithoutRecovery=True)

    with pytest.raises(rotation.FollowError) as raised:
        follow(rotation, label_event(secrets, version))

    stubs.done()
    assert "could not resolve the environment" in str(raised.value)
    assert f"variable API_TOKEN: secret {secrets.api_token_arn}: not found" in str(raised.value)


# --- foreign and other events do nothing --------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["secret-label-updated-other-secret", "secret-label-updated-custom-label"]
)
def test_an_event_for_another_secret_or_label_does_nothing(
    *,
    rotation: ModuleType,
    secrets: Secrets,
    stubs: Stubs,
    environment: dict[str, str],
    name: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    version = rotate(secrets)
    event = label_event(secrets, version, name)
    if name.endswith("custom-label"):
        event["resources"] = [secrets.database_arn]
    before = secrets.target_versions()

    with caplog.at_level(logging.INFO):
        result = follow(rotation, event)

    stubs.done()  # nothing queued: any App Runner or ECS call would have failed the test
    assert result["status"] == "ignored"
    assert secrets.target_versions() == before
    assert any("Ignored an event" in record.getMessage() for record in caplog.records)


def test_a_cloudtrail_shaped_event_is_not_mistaken_for_a_label_update(
    rotation: ModuleType, secrets: Secrets, stubs: Stubs, environment: dict[str, str]
) -> None:
    event = {
        "source": "aws.secretsmanager",
        "detail-type": "AWS Service Event via CloudTrail",
        "resources": [],
        "detail": {"eventName": "RotationSucceeded"},
    }

    assert follow(rotation, event)["status"] == "ignored"
    stubs.done()


# --- configuration and secrecy ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DATABASE_SECRET_ARN", "", "DATABASE_SECRET_ARN must be a Secrets Manager secret ARN"),
        ("SECRET_ENVIRONMENT_DEFINITION", "{}", "SECRET_ENVIRONMENT_DEFINITION: the Definition"),
        ("APPRUNNER_SERVICE_ARNS", "arn:aws:s3:::bucket", "APPRUNNER_SERVICE_ARNS holds"),
        ("ECS_SERVICE_ARNS", "service/default/api", "ECS_SERVICE_ARNS holds"),
    ],
)
def test_a_misconfigured_follower_fails_naming_the_variable(
    *,
    rotation: ModuleType,
    secrets: Secrets,
    stubs: Stubs,
    environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(rotation.FollowError, match=message):
        follow(rotation, label_event(secrets, rotate(secrets)))
    stubs.done()


def test_no_log_line_holds_the_old_or_new_password(
    rotation: ModuleType,
    secrets: Secrets,
    stubs: Stubs,
    environment: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    version = rotate(secrets)
    stubs.app_runner_follows(API_SERVICE)
    stubs.app_runner_follows(JOB_SERVICE)
    stubs.ecs_follows()

    with caplog.at_level(logging.DEBUG):
        result = follow(rotation, label_event(secrets, version))

    text = caplog.text + json.dumps(result)
    for value in (NEW_PASSWORD, quote(NEW_PASSWORD, safe=""), "p@ss:w/rd"):
        assert value not in text
    assert f"Following version {version}" in caplog.text
