"""Custom::HttpsSubscription serves only its own stack and acts only on its own job topic."""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any

import boto3
import pytest

from tests.functions.https_subscription.conftest import REGION, TOPIC_ARN
from tests.support.cfn import CfnResponses, LambdaContext
from tests.support.events import STACK_ID, load_event

FOREIGN_STACK = STACK_ID.replace("stack/bookapp/", "stack/intruder/")
FOREIGN_URL = "https://collector.example/cfn?X-Amz-Signature=stolen"
ENDPOINT = "https://abcd1234ef.us-east-1.awsapprunner.com/jobs"
ATTACKER_ENDPOINT = "https://attacker.example/jobs"


def sns() -> Any:
    return boto3.client("sns", region_name=REGION)


def invoke(module: ModuleType, event: dict[str, Any]) -> None:
    module.handler(event, LambdaContext(timeout_seconds=300))


def other_topic_subscription() -> tuple[str, str]:
    """A subscription of a topic that is not the stack's job topic: (topic, subscription)."""
    topic = sns().create_topic(Name="someone-elses-topic")["TopicArn"]
    arn = sns().subscribe(
        TopicArn=topic,
        Protocol="https",
        Endpoint="https://elsewhere.example/hook",
        Attributes={"FilterPolicy": '{"kind": ["x"]}'},
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    return topic, arn


def job_topic_subscriptions() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = sns().list_subscriptions_by_topic(TopicArn=TOPIC_ARN)[
        "Subscriptions"
    ]
    return found


@pytest.mark.parametrize("name", ["create", "update-in-place", "update-endpoint", "delete"])
def test_a_request_with_a_foreign_response_url_gets_no_answer_and_changes_nothing(
    aws: None,
    subscription_handler: ModuleType,
    cfn_responses: CfnResponses,
    caplog: pytest.LogCaptureFixture,
    name: str,
) -> None:
    event = load_event(f"https_subscription/{name}", Endpoint=ATTACKER_ENDPOINT)
    event["ResponseURL"] = FOREIGN_URL

    with caplog.at_level(logging.WARNING):
        invoke(subscription_handler, event)

    assert cfn_responses.bodies == []
    assert job_topic_subscriptions() == []
    assert "https://collector.example/cfn is not a CloudFormation response URL" in caplog.text
    assert "stolen" not in caplog.text


@pytest.mark.parametrize("name", ["create", "update-endpoint"])
def test_a_request_of_another_stack_is_failed_and_subscribes_nothing(
    aws: None, subscription_handler: ModuleType, cfn_responses: CfnResponses, name: str
) -> None:
    event = load_event(f"https_subscription/{name}", Endpoint=ATTACKER_ENDPOINT)
    event["StackId"] = FOREIGN_STACK

    invoke(subscription_handler, event)

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert FOREIGN_STACK in body["Reason"]
    assert f"serves only stack {STACK_ID}" in body["Reason"]
    assert cfn_responses.urls[0].startswith(
        "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/"
    )
    assert job_topic_subscriptions() == []


def test_a_delete_of_another_stack_is_failed_and_unsubscribes_nothing(
    aws: None, subscription_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    arn = sns().subscribe(
        TopicArn=TOPIC_ARN, Protocol="https", Endpoint=ENDPOINT, ReturnSubscriptionArn=True
    )["SubscriptionArn"]
    event = load_event("https_subscription/delete")
    event["PhysicalResourceId"] = arn
    event["StackId"] = FOREIGN_STACK

    invoke(subscription_handler, event)

    assert cfn_responses.only["Status"] == "FAILED"
    assert cfn_responses.only["PhysicalResourceId"] == arn
    assert [s["SubscriptionArn"] for s in job_topic_subscriptions()] == [arn]


def test_create_on_a_topic_that_is_not_the_pinned_job_topic_is_refused(
    aws: None, subscription_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    other = sns().create_topic(Name="someone-elses-topic")["TopicArn"]

    invoke(subscription_handler, load_event("https_subscription/create", TopicArn=other))

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert f"TopicArn {other} is not this stack's job topic {TOPIC_ARN}" in body["Reason"]
    assert sns().list_subscriptions_by_topic(TopicArn=other)["Subscriptions"] == []


def test_an_in_place_update_of_another_topics_subscription_is_refused_and_changes_nothing(
    aws: None, subscription_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    _topic, arn = other_topic_subscription()
    event = load_event("https_subscription/update-in-place")
    event["PhysicalResourceId"] = arn

    invoke(subscription_handler, event)

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert f"Subscription {arn} is not on this stack's job topic" in body["Reason"]
    assert body["PhysicalResourceId"] == arn
    attributes = sns().get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert attributes["FilterPolicy"] == '{"kind": ["x"]}'
    assert "DeliveryPolicy" not in attributes


@pytest.mark.parametrize("with_topic_property", [True, False])
def test_a_delete_of_another_topics_subscription_leaves_it_alone(
    aws: None,
    subscription_handler: ModuleType,
    cfn_responses: CfnResponses,
    with_topic_property: bool,
) -> None:
    topic, arn = other_topic_subscription()
    event = load_event("https_subscription/delete", TopicArn=topic if with_topic_property else None)
    event["PhysicalResourceId"] = arn

    invoke(subscription_handler, event)

    assert cfn_responses.only["Status"] == "SUCCESS"
    listed = sns().list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [s["SubscriptionArn"] for s in listed] == [arn]


def test_without_a_pinned_topic_the_function_refuses_to_subscribe(
    aws: None,
    subscription_handler: ModuleType,
    cfn_responses: CfnResponses,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("JOB_TOPIC_ARN")

    invoke(subscription_handler, load_event("https_subscription/create"))

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert "JOB_TOPIC_ARN" in body["Reason"]
    assert job_topic_subscriptions() == []
