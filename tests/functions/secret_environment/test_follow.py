"""The follower's pure rules: its configuration, which events it serves, when a service needs a
deployment. No AWS."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from secret_environment import core, follow
from tests.support.events import load_event

DATABASE = "arn:aws:secretsmanager:us-east-1:123456789012:secret:bookstack-database-AbCdEf"
TARGET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:bookstack-app-environment-MnOpQr"
API = (
    "arn:aws:apprunner:us-east-1:123456789012:service/bookstack-api/"
    "0123456789abcdef0123456789abcdef"
)
ECS = "arn:aws:ecs:us-east-1:123456789012:service/default/bookstack-api"
T0 = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


def definition(secret_id: str = DATABASE) -> str:
    return core.definition(
        core.parse_properties(
            {
                "TargetSecretArn": TARGET,
                "Follow": "true",
                "Variables": [
                    {
                        "Name": "DATABASE_URL",
                        "SecretId": secret_id,
                        "Template": "postgresql://{username}:{password}@{host}/{dbname}",
                        "Encode": "url",
                    }
                ],
            }
        )
    )


def environment(**changes: str) -> dict[str, str]:
    values = {
        "DATABASE_SECRET_ARN": DATABASE,
        "SECRET_ENVIRONMENT_DEFINITION": definition(),
        "APPRUNNER_SERVICE_ARNS": API,
        "ECS_SERVICE_ARNS": "",
    }
    values.update(changes)
    return values


@pytest.fixture
def config() -> follow.Config:
    return follow.config_from_environment(environment())


def test_the_configuration_reads_every_variable() -> None:
    config = follow.config_from_environment(environment(ECS_SERVICE_ARNS=f" {ECS} "))

    assert config.database_secret_arn == DATABASE
    assert config.properties.target_secret_arn == TARGET
    assert [variable.name for variable in config.properties.variables] == ["DATABASE_URL"]
    assert config.apprunner_service_arns == (API,)
    assert config.ecs_service_arns == (ECS,)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"DATABASE_SECRET_ARN": "bookstack-database"}, "must be a Secrets Manager secret ARN"),
        ({"SECRET_ENVIRONMENT_DEFINITION": ""}, "the Definition is not JSON"),
        (
            {"SECRET_ENVIRONMENT_DEFINITION": definition("other-secret")},
            "is not a SecretId of the Variables",
        ),
        ({"APPRUNNER_SERVICE_ARNS": "", "ECS_SERVICE_ARNS": ""}, "names a service"),
        ({"APPRUNNER_SERVICE_ARNS": f"{API},{API}"}, "names a service twice"),
        ({"APPRUNNER_SERVICE_ARNS": ECS}, "APPRUNNER_SERVICE_ARNS holds"),
        ({"ECS_SERVICE_ARNS": API}, "ECS_SERVICE_ARNS holds"),
    ],
)
def test_a_wrong_configuration_names_the_variable(changes: dict[str, str], message: str) -> None:
    with pytest.raises(follow.ConfigError, match=message):
        follow.config_from_environment(environment(**changes))


def label_event(**detail: Any) -> dict[str, Any]:
    event = load_event("rotation_follower/secret-label-updated")
    event["detail"].update(detail)
    return event


def test_the_documented_event_for_our_secret_is_followed(config: follow.Config) -> None:
    verdict = follow.check_event(label_event(), config)

    assert verdict == follow.Trigger(
        secret_arn=DATABASE,
        version_id="a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
        event_id="6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    )


def _without(key: str) -> dict[str, Any]:
    event = label_event()
    del event[key]
    return event


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ("not an event", "not an object"),
        ({**label_event(), "source": "aws.rds"}, "not a Secrets Manager label update"),
        ({**label_event(), "detail-type": "AWS API Call via CloudTrail"}, "not a Secrets Manager"),
        (_without("resources"), "no list of resources"),
        (load_event("rotation_follower/secret-label-updated-other-secret"), "another-stack"),
        ({**label_event(), "resources": [f"{DATABASE}x"]}, "not this stack's database secret"),
        (load_event("rotation_follower/secret-label-updated-custom-label"), "not AWSCURRENT"),
        (label_event(labelUpdated="AWSPENDING"), "not AWSCURRENT"),
        (label_event(versionId=""), "no versionId"),
        (_without("detail"), "no detail"),
    ],
)
def test_other_events_are_ignored_with_the_reason(
    config: follow.Config, event: Any, reason: str
) -> None:
    verdict = follow.check_event(event, config)

    assert isinstance(verdict, follow.Ignored)
    assert reason in verdict.reason


@pytest.mark.parametrize(
    ("newest", "since", "needed"),
    [
        (None, None, True),  # just written: every service
        (T0, None, True),
        (None, T0, True),  # no deployment listed at all
        (T0 - timedelta(seconds=1), T0, True),  # deployed before the value existed
        (T0, T0, False),
        (T0 + timedelta(minutes=5), T0, False),  # deployed after: already reads it
    ],
)
def test_a_service_needs_a_deployment_unless_one_started_after_the_value(
    newest: datetime | None, since: datetime | None, needed: bool
) -> None:
    assert follow.needs_deployment(newest, since) is needed


def test_an_ecs_service_arn_gives_its_cluster_and_name() -> None:
    assert follow.ecs_cluster_and_service(ECS) == ("default", "bookstack-api")
    with pytest.raises(follow.ConfigError):
        follow.ecs_cluster_and_service("arn:aws:ecs:us-east-1:123456789012:service/short-form")


def test_the_failure_summary_names_each_failed_service_and_no_other() -> None:
    outcomes = [
        follow.ServiceOutcome(API, "failed", "StartDeployment failed with AccessDeniedException"),
        follow.ServiceOutcome(ECS, "deployed", "deployment ecs-svc/2"),
    ]

    summary = follow.failure_summary(outcomes)

    assert summary == (
        f"1 of 2 services not redeployed: {API}: StartDeployment failed with AccessDeniedException"
    )
    assert json.dumps(summary)
