"""Custom::LogRetention through `handler(event, context)`, asserting the body sent back.

moto plays CloudWatch Logs; botocore's Stubber stands in where the exact request is the contract or
moto cannot produce the error (access denied, throttling, a group being created concurrently).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tests.functions.log_retention.conftest import (
    CLUSTER_ARN,
    CLUSTER_PREFIX,
    JOBS_ARN,
    NEW_PREFIX,
    PREFIX,
    REPLACED_ARN,
    SERVICE_ARN,
    existing_groups,
    groups_of,
    logs,
    retention,
)
from tests.support.cfn import CfnResponses, LambdaContext
from tests.support.events import STACK_ID, load_event


def invoke(module: ModuleType, event: dict[str, Any]) -> None:
    module.handler(event, LambdaContext(timeout_seconds=300))


@pytest.fixture
def stubbed(retention_handler: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    """A Stubber on the client the handler uses; any call it was not told about fails the test."""
    client = boto3.client("logs", region_name="us-east-1")
    monkeypatch.setattr(retention_handler, "get_client", lambda _region: client)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


# ------------------------------------------------------------------------------------ Create


def test_create_makes_both_log_groups_with_the_retention_and_answers_their_names(
    aws: None, retention_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    invoke(retention_handler, load_event("log_retention/create"))

    body = cfn_responses.only
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == PREFIX
    assert body["Data"] == {
        "ServiceLogGroup": f"{PREFIX}/service",
        "ApplicationLogGroup": f"{PREFIX}/application",
    }
    assert existing_groups() == sorted(groups_of(PREFIX))
    assert [retention(group) for group in groups_of(PREFIX)] == [30, 30]


def test_create_sets_retention_on_groups_app_runner_already_made_and_keeps_their_events(
    aws: None, retention_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    application = f"{PREFIX}/application"
    logs().create_log_group(logGroupName=application)
    logs().create_log_stream(logGroupName=application, logStreamName="instance/1")
    logs().put_log_events(
        logGroupName=application,
        logStreamName="instance/1",
        logEvents=[
            {"timestamp": int(time.time() * 1000), "message": '{"message": "job finished"}'}
        ],
    )

    invoke(retention_handler, load_event("log_retention/create"))

    assert cfn_responses.only["Status"] == "SUCCESS"
    assert retention(application) == 30
    assert retention(f"{PREFIX}/service") == 30
    events = logs().get_log_events(logGroupName=application, logStreamName="instance/1")
    assert [e["message"] for e in events["events"]] == ['{"message": "job finished"}']


def test_a_duplicated_create_answers_the_same_and_makes_nothing_twice(
    aws: None, retention_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    event = load_event("log_retention/create")

    invoke(retention_handler, event)
    invoke(retention_handler, event)

    first, second = cfn_responses.bodies
    assert first["Status"] == second["Status"] == "SUCCESS"
    assert first["PhysicalResourceId"] == second["PhysicalResourceId"] == PREFIX
    assert existing_groups() == sorted(groups_of(PREFIX))


def test_create_for_the_jobs_service_names_its_own_groups(
    aws: None, retention_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    invoke(retention_handler, load_event("log_retention/create", ResourceArn=JOBS_ARN))

    body = cfn_responses.only
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == (
        "/aws/apprunner/JobService-Hj3Gf5Dd1Ss2/0a1b2c3d4e5f60718293a4b5c6d7e8f9"
    )
    assert all(group.startswith(body["PhysicalResourceId"]) for group in existing_groups())


def test_create_for_the_database_cluster_sets_retention_on_its_exported_logs(
    aws: None, retention_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    invoke(retention_handler, load_event("log_retention/create-database"))

    body = cfn_responses.only
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == CLUSTER_PREFIX
    assert body["Data"] == {"PostgresqlLogGroup": f"{CLUSTER_PREFIX}/postgresql"}
    assert existing_groups() == [f"{CLUSTER_PREFIX}/postgresql"]
    assert retention(f"{CLUSTER_PREFIX}/postgresql") == 30


@pytest.mark.parametrize(
    ("log_types", "reason"),
    [
        (None, "LogTypes is required for an Aurora cluster"),
        ([], "LogTypes is required for an Aurora cluster"),
        (["postgresql", "postgresql"], "LogTypes names postgresql twice"),
        (["../postgresql"], "is not a log type name"),
    ],
)
def test_a_database_cluster_needs_the_log_types_it_exports(
    aws: None,
    retention_handler: ModuleType,
    cfn_responses: CfnResponses,
    log_types: object,
    reason: str,
) -> None:
    invoke(retention_handler, load_event("log_retention/create-database", LogTypes=log_types))

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert reason in body["Reason"]
    assert existing_groups() == []


def test_delete_of_the_database_cluster_with_on_delete_delete_removes_its_log_group(
    aws: None, retention_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    invoke(retention_handler, load_event("log_retention/create-database"))
    event = load_event("log_retention/create-database", OnDelete="Delete")
    event["RequestType"] = "Delete"
    event["PhysicalResourceId"] = CLUSTER_PREFIX

    invoke(retention_handler, event)

    assert cfn_responses.last["Status"] == "SUCCESS"
    assert existing_groups() == []


# ------------------------------------------------------------------------------------ Update


def test_a_new_retention_is_applied_in_place_with_the_same_physical_id(
    aws: None, retention_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    invoke(retention_handler, load_event("log_retention/create"))

    invoke(retention_handler, load_event("log_retention/update-retention"))

    body = cfn_responses.last
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == PREFIX
    assert [retention(group) for group in groups_of(PREFIX)] == [90, 90]


def test_a_replaced_service_gets_its_new_groups_and_a_new_physical_id(
    aws: None,
    retention_handler: ModuleType,
    cfn_responses: CfnResponses,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    invoke(retention_handler, load_event("log_retention/create"))
    # CloudFormation updated the function's environment to the new service before this request.
    monkeypatch.setenv("RESOURCE_ARNS", f"{REPLACED_ARN},{JOBS_ARN},{CLUSTER_ARN}")

    invoke(retention_handler, load_event("log_retention/update-replaced-service"))

    body = cfn_responses.last
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == NEW_PREFIX
    assert body["Data"]["ApplicationLogGroup"] == f"{NEW_PREFIX}/application"
    assert [retention(group) for group in groups_of(NEW_PREFIX)] == [30, 30]
    # The old service's groups are the old resource's, which CloudFormation deletes next.
    assert [retention(group) for group in groups_of(PREFIX)] == [30, 30]


def test_an_update_that_fails_answers_the_old_physical_id(
    aws: None, retention_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    invoke(
        retention_handler, load_event("log_retention/update-replaced-service", RetentionInDays="8")
    )

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert body["PhysicalResourceId"] == PREFIX
    assert existing_groups() == []


# ------------------------------------------------------------------------------------ Delete


def test_delete_keeps_the_log_groups_by_default(
    aws: None, retention_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    invoke(retention_handler, load_event("log_retention/create"))

    invoke(retention_handler, load_event("log_retention/delete"))

    body = cfn_responses.last
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == PREFIX
    assert existing_groups() == sorted(groups_of(PREFIX))
    assert [retention(group) for group in groups_of(PREFIX)] == [30, 30]


def test_delete_without_on_delete_keeps_the_log_groups(
    aws: None, retention_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    invoke(retention_handler, load_event("log_retention/create"))

    invoke(retention_handler, load_event("log_retention/delete", OnDelete=None))

    assert cfn_responses.last["Status"] == "SUCCESS"
    assert existing_groups() == sorted(groups_of(PREFIX))


def test_delete_with_on_delete_delete_removes_both_log_groups(
    aws: None, retention_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    invoke(retention_handler, load_event("log_retention/create"))
    logs().create_log_group(logGroupName="/aws/apprunner/someone-else/" + "e" * 32 + "/service")

    invoke(retention_handler, load_event("log_retention/delete-with-logs"))

    body = cfn_responses.last
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert existing_groups() == ["/aws/apprunner/someone-else/" + "e" * 32 + "/service"]


def test_delete_with_on_delete_delete_succeeds_when_the_groups_are_already_gone(
    aws: None, retention_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    invoke(retention_handler, load_event("log_retention/delete-with-logs"))

    assert cfn_responses.only["Status"] == "SUCCESS"
    assert existing_groups() == []


def test_the_old_service_of_a_replacement_keeps_its_groups_even_with_on_delete_delete(
    aws: None,
    retention_handler: ModuleType,
    cfn_responses: CfnResponses,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    invoke(retention_handler, load_event("log_retention/create"))
    monkeypatch.setenv("RESOURCE_ARNS", f"{REPLACED_ARN},{JOBS_ARN},{CLUSTER_ARN}")

    invoke(retention_handler, load_event("log_retention/delete-with-logs"))

    assert cfn_responses.last["Status"] == "SUCCESS"
    assert existing_groups() == sorted(groups_of(PREFIX))


@pytest.mark.parametrize("physical_id", ["bookapp_ApiServiceLogRetention_AB12CD34", "", "/aws/x"])
def test_delete_after_a_failed_create_makes_no_call(
    stubbed: Stubber,
    retention_handler: ModuleType,
    cfn_responses: CfnResponses,
    physical_id: str,
) -> None:
    event = load_event("log_retention/delete-with-logs")
    event["PhysicalResourceId"] = physical_id

    invoke(retention_handler, event)

    assert cfn_responses.only["Status"] == "SUCCESS"


def test_delete_with_a_malformed_on_delete_keeps_the_groups_and_succeeds(
    aws: None, retention_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    invoke(retention_handler, load_event("log_retention/create"))

    invoke(retention_handler, load_event("log_retention/delete", OnDelete="Destroy"))

    assert cfn_responses.last["Status"] == "SUCCESS"
    assert existing_groups() == sorted(groups_of(PREFIX))


# ------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"ResourceArn": None}, "ResourceArn is required"),
        (
            {"ResourceArn": "arn:aws:apprunner:us-east-1:123456789012:service/api"},
            "is neither an App Runner service ARN",
        ),
        (
            {"ResourceArn": "arn:aws:ecs:us-east-1:123456789012:service/default/api"},
            "is neither an App Runner service ARN",
        ),
        ({"LogTypes": ["postgresql"]}, "LogTypes is for Aurora clusters"),
        ({"RetentionInDays": None}, "RetentionInDays is required"),
        ({"RetentionInDays": "8"}, "RetentionInDays 8 is not one CloudWatch Logs accepts"),
        ({"RetentionInDays": "thirty"}, "RetentionInDays must be a whole number of days"),
        ({"OnDelete": "Keep"}, 'OnDelete must be "Retain" or "Delete"'),
        ({"Retention": "30"}, "Unknown properties: Retention"),
    ],
)
def test_bad_properties_fail_with_a_reason_naming_them_and_touch_nothing(
    aws: None,
    retention_handler: ModuleType,
    cfn_responses: CfnResponses,
    override: dict[str, Any],
    reason: str,
) -> None:
    invoke(retention_handler, load_event("log_retention/create", **override))

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert reason in body["Reason"]
    # crhelper cuts a longer Reason to its last 240 characters: the start would be lost.
    assert len(body["Reason"]) <= 256
    assert existing_groups() == []


def test_a_service_of_another_stack_is_refused(
    aws: None, retention_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    other = SERVICE_ARN.replace("ApiService-Kq7Lm2Np9Rs4", "someone-elses-api")

    invoke(retention_handler, load_event("log_retention/create", ResourceArn=other))

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert body["Reason"] == (
        f"ResourceArn {other} is not a resource of this stack (RESOURCE_ARNS); refused"
    )
    assert existing_groups() == []


def test_a_service_in_another_region_is_refused(
    aws: None,
    retention_handler: ModuleType,
    cfn_responses: CfnResponses,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    elsewhere = SERVICE_ARN.replace("us-east-1", "eu-west-1")
    monkeypatch.setenv("RESOURCE_ARNS", elsewhere)

    invoke(retention_handler, load_event("log_retention/create", ResourceArn=elsewhere))

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert "is in eu-west-1, but this function manages log groups in us-east-1" in body["Reason"]


@pytest.mark.parametrize("pinned", [None, "", "not-an-arn"])
def test_without_pinned_services_the_function_refuses_to_act(
    aws: None,
    retention_handler: ModuleType,
    cfn_responses: CfnResponses,
    monkeypatch: pytest.MonkeyPatch,
    pinned: str | None,
) -> None:
    if pinned is None:
        monkeypatch.delenv("RESOURCE_ARNS")
    else:
        monkeypatch.setenv("RESOURCE_ARNS", pinned)

    invoke(retention_handler, load_event("log_retention/create"))

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert "RESOURCE_ARNS" in body["Reason"]
    assert existing_groups() == []


# ------------------------------------------------------------------------------------ AWS errors


def test_create_sends_exactly_create_and_put_retention_for_each_group(
    stubbed: Stubber, retention_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    for group in groups_of(PREFIX):
        stubbed.add_response("create_log_group", {}, {"logGroupName": group})
        stubbed.add_response(
            "put_retention_policy", {}, {"logGroupName": group, "retentionInDays": 30}
        )

    invoke(retention_handler, load_event("log_retention/create"))

    assert cfn_responses.only["Status"] == "SUCCESS"


def test_a_group_app_runner_is_creating_at_the_same_moment_still_gets_its_retention(
    stubbed: Stubber, retention_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    service, application = groups_of(PREFIX)
    stubbed.add_client_error(
        "create_log_group",
        service_error_code="OperationAbortedException",
        expected_params={"logGroupName": service},
    )
    stubbed.add_response(
        "put_retention_policy", {}, {"logGroupName": service, "retentionInDays": 30}
    )
    stubbed.add_client_error(
        "create_log_group",
        service_error_code="ResourceAlreadyExistsException",
        expected_params={"logGroupName": application},
    )
    stubbed.add_response(
        "put_retention_policy", {}, {"logGroupName": application, "retentionInDays": 30}
    )

    invoke(retention_handler, load_event("log_retention/create"))

    assert cfn_responses.only["Status"] == "SUCCESS"


def test_access_denied_names_the_call_and_the_log_group_and_keeps_the_physical_id(
    stubbed: Stubber,
    retention_handler: ModuleType,
    cfn_responses: CfnResponses,
    caplog: pytest.LogCaptureFixture,
) -> None:
    service = f"{PREFIX}/service"
    stubbed.add_response("create_log_group", {}, {"logGroupName": service})
    stubbed.add_client_error(
        "put_retention_policy",
        service_error_code="AccessDeniedException",
        service_message="User is not authorized to perform: logs:PutRetentionPolicy",
        http_status_code=400,
    )

    with caplog.at_level(logging.WARNING):
        invoke(retention_handler, load_event("log_retention/create"))

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert body["Reason"] == (
        "Access denied: the function's role may not call logs:PutRetentionPolicy on log group "
        f"{service}; grant it in the template"
    )
    # The Delete that follows a failed Create knows which groups it may have made.
    assert body["PhysicalResourceId"] == PREFIX


def test_throttling_that_outlasts_the_retries_asks_for_another_deploy(
    stubbed: Stubber, retention_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    stubbed.add_client_error(
        "create_log_group",
        service_error_code="ThrottlingException",
        service_message="Rate exceeded",
    )

    invoke(retention_handler, load_event("log_retention/create"))

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert f"logs:CreateLogGroup on {PREFIX}/service" in body["Reason"]
    assert "ThrottlingException: Rate exceeded" in body["Reason"]
    assert body["Reason"].endswith("retry the deploy")


def test_an_unexpected_error_on_delete_fails_naming_the_log_group(
    stubbed: Stubber, retention_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    stubbed.add_client_error(
        "delete_log_group",
        service_error_code="AccessDeniedException",
        expected_params={"logGroupName": f"{PREFIX}/service"},
    )

    invoke(retention_handler, load_event("log_retention/delete-with-logs"))

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert f"logs:DeleteLogGroup on log group {PREFIX}/service" in body["Reason"]


def test_delete_with_retain_makes_no_call(
    stubbed: Stubber, retention_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    invoke(retention_handler, load_event("log_retention/delete"))

    assert cfn_responses.only["Status"] == "SUCCESS"


# ------------------------------------------------------------------------------------ the guard


def test_a_request_with_a_foreign_response_url_gets_no_answer_and_changes_nothing(
    aws: None, retention_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    event = load_event("log_retention/create")
    event["ResponseURL"] = "https://collector.example/cfn?X-Amz-Signature=stolen"

    invoke(retention_handler, event)

    assert cfn_responses.bodies == []
    assert existing_groups() == []


def test_a_request_of_another_stack_is_failed_and_changes_nothing(
    aws: None, retention_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    invoke(retention_handler, load_event("log_retention/create"))
    event = load_event("log_retention/delete-with-logs")
    event["StackId"] = STACK_ID.replace("stack/bookapp/", "stack/intruder/")

    invoke(retention_handler, event)

    body = cfn_responses.last
    assert body["Status"] == "FAILED"
    assert f"serves only stack {STACK_ID}" in body["Reason"]
    assert existing_groups() == sorted(groups_of(PREFIX))
