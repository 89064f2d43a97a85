"""Wiring of the deploy-time job run: the results queue, its policy, the function, Migrate.

Checked in every combination of the stack's conditions (see conftest.py), plus MigrateOnDeploy.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.template.conftest import GOOD_IMAGE, Case
from tests.template.containers import containers
from tests.template.render import Rendered, expanded_template, render
from tests.template.test_wiring import app_role_arn, as_list, getatt, ref, runtime_statements

SERVICE = "AWS::AppRunner::Service"
RECEIVE = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"]


def function_statements(stack: Rendered) -> dict[str, dict[str, Any]]:
    found = {}
    for policy in stack.props("JobRunFunctionRole")["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            found[statement["Sid"]] = statement
    return found


def test_the_results_queue_is_encrypted_with_the_jobs_key_and_keeps_results_briefly(
    case: Case,
) -> None:
    queue = case.stack.resources["JobResultQueue"]
    assert queue["Properties"]["KmsMasterKeyId"] == ref("JobsKey")
    # Longer than the longest wait of the function (900 s), short enough to forget old results.
    assert 900 < int(queue["Properties"]["MessageRetentionPeriod"]) <= 3600
    assert (queue["DeletionPolicy"], queue["UpdateReplacePolicy"]) == ("Delete", "Delete")


def test_only_the_app_sends_and_only_the_job_run_function_receives_results(case: Case) -> None:
    policy = case.stack.props("JobResultQueuePolicy")
    assert policy["Queues"] == [ref("JobResultQueue")]
    by_sid = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    send, receive, tls = (
        by_sid["OnlyTheAppSends"],
        by_sid["OnlyTheJobRunFunctionReceives"],
        by_sid["TlsOnly"],
    )
    for statement in (send, receive, tls):
        assert statement["Effect"] == "Deny"
        assert statement["Resource"] == getatt("JobResultQueue", "Arn")
    assert send["Action"] == "sqs:SendMessage"
    assert send["Principal"] == {"AWS": "*"}
    assert send["Condition"] == {"ArnNotLike": {"aws:PrincipalArn": [app_role_arn(case)]}}
    assert sorted(receive["Action"]) == sorted(RECEIVE)
    assert receive["Condition"] == {
        "ArnNotLike": {"aws:PrincipalArn": [getatt("JobRunFunctionRole", "Arn")]}
    }
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_job_run_function_is_pinned_to_the_topic_and_the_queue(case: Case) -> None:
    variables = case.stack.props("JobRunFunction")["Environment"]["Variables"]
    assert variables["JOB_TOPIC_ARN"] == ref("JobTopic")
    assert variables["RESULT_QUEUE_URL"] == ref("JobResultQueue")
    assert variables["LOG_LEVEL"] == "INFO"


def test_the_job_run_function_may_do_exactly_what_it_needs(case: Case) -> None:
    granted = function_statements(case.stack)
    assert set(granted) == {
        "PublishJobs",
        "ReadJobResults",
        "UseTheJobsKeyThroughSnsAndSqs",
        "SeeWhetherTheStackRollsBack",
    }
    assert granted["PublishJobs"]["Action"] == "sns:Publish"
    assert granted["PublishJobs"]["Resource"] == ref("JobTopic")
    assert sorted(granted["ReadJobResults"]["Action"]) == sorted(RECEIVE)
    assert granted["ReadJobResults"]["Resource"] == getatt("JobResultQueue", "Arn")
    kms = granted["UseTheJobsKeyThroughSnsAndSqs"]
    assert sorted(kms["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert kms["Resource"] == getatt("JobsKey", "Arn")
    services = kms["Condition"]["StringEquals"]["kms:ViaService"]
    assert [s["Fn::Sub"] for s in services] == [
        "sns.${AWS::Region}.amazonaws.com",
        "sqs.${AWS::Region}.amazonaws.com",
    ]
    stack_read = granted["SeeWhetherTheStackRollsBack"]
    assert stack_read["Action"] == "cloudformation:DescribeStacks"
    assert stack_read["Resource"] == ref("AWS::StackId")
    for statement in granted.values():
        assert statement["Effect"] == "Allow"
        assert "*" not in as_list(statement["Resource"])


def test_the_job_run_function_logs_to_a_group_with_retention_made_before_it_runs(
    case: Case,
) -> None:
    group = case.stack.props("JobRunLogGroup")
    assert group["LogGroupName"] == {"Fn::Sub": "/aws/lambda/${JobRunFunction}"}
    assert group["RetentionInDays"] == "30"
    assert "JobRunLogGroup" in case.stack.resources["Migrate"]["DependsOn"]


def test_migrate_runs_db_migrate_after_the_subscription_whenever_the_image_changes(
    case: Case,
) -> None:
    migrate = case.stack.resources["Migrate"]
    assert migrate["Type"] == "Custom::JobRun"
    assert "JobSubscription" in migrate["DependsOn"]
    props = migrate["Properties"]
    assert props["ServiceToken"] == getatt("JobRunFunction", "Arn")
    assert props["TopicArn"] == ref("JobTopic")
    assert props["ResultQueueUrl"] == ref("JobResultQueue")
    assert props["Job"] == "db_migrate"
    assert props["Revision"] == GOOD_IMAGE  # !Ref ImageUri, resolved
    assert props["Database"] == ref("DatabaseCluster")
    # A switch of the compute platform migrates on the new services before the old ones go.
    assert props["Platform"] == case.stack.parameters["ComputePlatform"]
    assert int(props["TimeoutSeconds"]) <= int(props["ServiceTimeout"]) - 30


def test_the_app_may_send_results_only_to_the_results_queue(case: Case) -> None:
    runtime = runtime_statements(case.stack)
    sqs = [s for s in runtime if any(a.startswith("sqs:") for a in as_list(s["Action"]))]
    assert [(s["Action"], s["Resource"]) for s in sqs] == [
        ("sqs:SendMessage", getatt("JobResultQueue", "Arn"))
    ]
    [kms] = [s for s in runtime if s.get("Sid") == "UseTheJobsKeyForResults"]
    assert kms["Resource"] == getatt("JobsKey", "Arn")
    assert kms["Condition"]["StringEquals"]["kms:ViaService"] == {
        "Fn::Sub": "sqs.${AWS::Region}.amazonaws.com"
    }


def test_every_service_knows_the_results_queue(case: Case) -> None:
    found = containers(case.stack)
    assert found
    for container in found:
        assert container.environment["JOB_RESULTS_QUEUE_URL"] == ref("JobResultQueue")


@pytest.mark.parametrize(("setting", "present"), [("true", True), ("false", False)])
def test_migrate_on_deploy_turns_the_migrate_resource_on_and_off(
    setting: str, present: bool
) -> None:
    stack = render(expanded_template(), {"ImageUri": GOOD_IMAGE, "MigrateOnDeploy": setting})
    assert ("Migrate" in stack.resources) is present
    # The queue and the function stay: the app's reports and other job runs still work.
    assert {"JobResultQueue", "JobRunFunction"} <= set(stack.resources)
    assert stack.dangling == []
