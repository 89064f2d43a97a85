"""Custom::HttpsSubscription through `handler(event, context)`, asserting the body sent back.

moto plays SNS (with subscriptions held pending by the fixture); botocore's Stubber or a
`before-send` hook stands in where moto cannot produce the error (access denied, throttling, the
"pending confirmation" refusal of Unsubscribe).
"""

from __future__ import annotations

import json
import logging
import time
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tests.functions.https_subscription.conftest import (
    QUEUE_NAME,
    TOPIC_ARN,
    FakeClock,
    PendingControl,
    sns_backend,
)
from tests.support.aws_errors import always_throttled
from tests.support.cfn import CfnResponses, LambdaContext
from tests.support.events import load_event

ENDPOINT = "https://abcd1234ef.us-east-1.awsapprunner.com/jobs"
NEW_ENDPOINT = "https://wxyz9876gh.us-east-1.awsapprunner.com/jobs"
DLQ_ARN = f"arn:aws:sqs:us-east-1:123456789012:{QUEUE_NAME}"


def sns() -> Any:
    return boto3.client("sns", region_name="us-east-1")


def subscriptions() -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = sns().list_subscriptions_by_topic(TopicArn=TOPIC_ARN)[
        "Subscriptions"
    ]
    return listed


def attributes(arn: str) -> dict[str, str]:
    found: dict[str, str] = sns().get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    return found


def invoke(module: ModuleType, event: dict[str, Any], context: Any = None) -> None:
    module.handler(event, context or LambdaContext(timeout_seconds=300))


def existing_subscription(endpoint: str = ENDPOINT) -> str:
    arn: str = sns().subscribe(
        TopicArn=TOPIC_ARN, Protocol="https", Endpoint=endpoint, ReturnSubscriptionArn=True
    )["SubscriptionArn"]
    return arn


def with_physical_id(name: str, arn: str, **props: Any) -> dict[str, Any]:
    event = load_event(name, **props)
    event["PhysicalResourceId"] = arn
    return event


# ------------------------------------------------------------------------------------ Create


def test_create_succeeds_with_the_subscription_arn_when_the_endpoint_confirms_at_once(
    aws: None, subscription_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    invoke(subscription_handler, load_event("https_subscription/create"))

    body = cfn_responses.only
    assert body["Status"] == "SUCCESS", body["Reason"]
    [subscription] = subscriptions()
    assert body["PhysicalResourceId"] == subscription["SubscriptionArn"]
    assert body["Data"] == {"SubscriptionArn": subscription["SubscriptionArn"]}
    assert subscription["Endpoint"] == ENDPOINT
    assert subscription["Protocol"] == "https"


def test_create_applies_policies_with_numbers_restored_from_cloudformation_strings(
    aws: None, subscription_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    invoke(subscription_handler, load_event("https_subscription/create"))

    attrs = attributes(cfn_responses.only["PhysicalResourceId"])
    delivery = json.loads(attrs["DeliveryPolicy"])
    assert delivery["healthyRetryPolicy"]["numRetries"] == 20
    assert delivery["healthyRetryPolicy"]["backoffFunction"] == "exponential"
    assert delivery["throttlePolicy"] == {"maxReceivesPerSecond": 10}
    assert json.loads(attrs["RedrivePolicy"]) == {"deadLetterTargetArn": DLQ_ARN}
    assert json.loads(attrs["FilterPolicy"]) == {"job": ["db_migrate", "db_seed", "test_book_job"]}
    assert attrs["RawMessageDelivery"] == "false"


def test_create_succeeds_when_the_endpoint_confirms_after_several_polls(
    pending_subscriptions: PendingControl,
    subscription_handler: ModuleType,
    cfn_responses: CfnResponses,
    fake_clock: FakeClock,
) -> None:
    pending_subscriptions.confirm_after = 3

    invoke(subscription_handler, load_event("https_subscription/create"))

    body = cfn_responses.only
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert len(fake_clock.sleeps) == 3
    assert attributes(body["PhysicalResourceId"])["PendingConfirmation"] == "false"


def test_create_fails_with_an_actionable_reason_when_the_endpoint_never_confirms(
    pending_subscriptions: PendingControl,
    subscription_handler: ModuleType,
    cfn_responses: CfnResponses,
    fake_clock: FakeClock,
) -> None:
    started = time.monotonic()

    invoke(
        subscription_handler,
        load_event("https_subscription/create", ConfirmationTimeoutSeconds="60"),
    )

    assert time.monotonic() - started < 5
    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert ENDPOINT in body["Reason"]
    assert "60 s" in body["Reason"]
    assert "logs" in body["Reason"]
    assert "48 h" in body["Reason"]
    assert sum(fake_clock.sleeps) == pytest.approx(60)
    # The pending subscription stays the physical id: CloudFormation's Delete will look at it.
    [subscription] = subscriptions()
    assert body["PhysicalResourceId"] == subscription["SubscriptionArn"]


def test_create_waits_no_longer_than_the_lambda_has_time_left_minus_the_margin(
    pending_subscriptions: PendingControl,
    subscription_handler: ModuleType,
    cfn_responses: CfnResponses,
    fake_clock: FakeClock,
) -> None:
    invoke(
        subscription_handler,
        load_event("https_subscription/create"),
        LambdaContext(timeout_seconds=100),
    )

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert sum(fake_clock.sleeps) <= 100 - subscription_handler.MARGIN_SECONDS
    assert "within 70 s" in body["Reason"]


def test_duplicate_create_makes_one_subscription(
    aws: None, subscription_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    event = load_event("https_subscription/create")

    invoke(subscription_handler, event)
    invoke(subscription_handler, event)

    first, second = cfn_responses.bodies
    assert first["Status"] == second["Status"] == "SUCCESS"
    assert first["PhysicalResourceId"] == second["PhysicalResourceId"]
    assert len(subscriptions()) == 1


def test_create_fails_when_the_topic_does_not_exist(
    aws: None,
    subscription_handler: ModuleType,
    cfn_responses: CfnResponses,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    missing = "arn:aws:sns:us-east-1:123456789012:no-such-topic"
    monkeypatch.setenv("JOB_TOPIC_ARN", missing)
    event = load_event("https_subscription/create", TopicArn=missing, RedrivePolicy=None)

    invoke(subscription_handler, event)

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert (
        body["Reason"]
        == f"Topic {missing} does not exist (or is in another region than the function)"
    )


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"TopicArn": None}, "TopicArn is required"),
        ({"TopicArn": "arn:aws:sqs:us-east-1:123456789012:q"}, "is not an SNS topic ARN"),
        ({"Endpoint": None}, "Endpoint is required"),
        ({"Endpoint": "http://abcd.example/jobs"}, "plain http"),
        ({"Endpoint": "ftp://abcd.example/jobs"}, "must start with https://"),
        ({"Endpoint": "https://user:pw@abcd.example/jobs"}, "must not carry credentials"),
        ({"ConfirmationTimeoutSeconds": "ten"}, "ConfirmationTimeoutSeconds must be a whole"),
        ({"ConfirmationTimeoutSeconds": "3601"}, "ConfirmationTimeoutSeconds must be from"),
        ({"ConfirmationTimeoutSeconds": "940"}, "at most ServiceTimeout - 30"),
        ({"RawMessageDelivery": "true"}, "RawMessageDelivery is refused"),
        ({"Protocol": "https"}, "Unknown property Protocol"),
        ({"DeliveryPolicy": {"healthyRetryPolicy": {"numRetries": "101"}}}, "is required"),
        (
            {
                "DeliveryPolicy": {
                    "healthyRetryPolicy": {
                        "minDelayTarget": "1",
                        "maxDelayTarget": "20",
                        "numRetries": "101",
                    }
                }
            },
            "numRetries must be from 0 to 100",
        ),
        ({"DeliveryPolicy": "{not json"}, "DeliveryPolicy is not valid JSON"),
        (
            {"RedrivePolicy": {"deadLetterTargetArn": "arn:aws:sqs:eu-west-1:123456789012:q"}},
            "topic's region",
        ),
        ({"FilterPolicy": {"a": {"b": ["c"]}}, "FilterPolicyScope": None}, "nested"),
        ({"FilterPolicyScope": "Body"}, "FilterPolicyScope must be"),
    ],
)
def test_create_fails_fast_with_a_clear_reason_on_bad_properties(
    aws: None,
    subscription_handler: ModuleType,
    cfn_responses: CfnResponses,
    overrides: dict[str, Any],
    expected: str,
) -> None:
    started = time.monotonic()

    invoke(subscription_handler, load_event("https_subscription/create", **overrides))

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert expected in body["Reason"]
    assert len(body["Reason"]) <= 256
    assert time.monotonic() - started < 5
    assert subscriptions() == []


# ------------------------------------------------------------------------------------ Update


def test_update_in_place_changes_the_delivery_policy_and_removes_the_filter_policy(
    aws: None, subscription_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    invoke(subscription_handler, load_event("https_subscription/create"))
    arn = cfn_responses.last["PhysicalResourceId"]
    assert "FilterPolicy" in attributes(arn)

    invoke(subscription_handler, with_physical_id("https_subscription/update-in-place", arn))

    body = cfn_responses.last
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == arn
    assert body["Data"] == {"SubscriptionArn": arn}
    attrs = attributes(arn)
    assert json.loads(attrs["DeliveryPolicy"])["healthyRetryPolicy"]["numRetries"] == 30
    assert attrs.get("FilterPolicy", "{}") == "{}"
    assert len(subscriptions()) == 1


def test_update_in_place_removes_the_redrive_policy_when_it_is_taken_out(
    aws: None, subscription_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    invoke(subscription_handler, load_event("https_subscription/create"))
    arn = cfn_responses.last["PhysicalResourceId"]
    event = with_physical_id("https_subscription/update-in-place", arn, RedrivePolicy=None)

    invoke(subscription_handler, event)

    assert cfn_responses.last["Status"] == "SUCCESS", cfn_responses.last["Reason"]
    assert "RedrivePolicy" not in attributes(arn)


def test_update_in_place_of_a_pending_subscription_waits_for_the_confirmation_like_create(
    pending_subscriptions: PendingControl,
    subscription_handler: ModuleType,
    cfn_responses: CfnResponses,
    fake_clock: FakeClock,
) -> None:
    arn = existing_subscription()
    assert attributes(arn)["PendingConfirmation"] == "true"
    pending_subscriptions.confirm_after = 2

    invoke(subscription_handler, with_physical_id("https_subscription/update-in-place", arn))

    body = cfn_responses.only
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == arn
    assert body["Data"] == {"SubscriptionArn": arn}
    # Answered only once the endpoint had confirmed: two polls saw it pending.
    assert len(fake_clock.sleeps) == 2
    attrs = attributes(arn)
    assert attrs["PendingConfirmation"] == "false"
    assert json.loads(attrs["DeliveryPolicy"])["healthyRetryPolicy"]["numRetries"] == 30
    assert [s["SubscriptionArn"] for s in subscriptions()] == [arn]


def test_update_in_place_of_a_subscription_that_never_confirms_fails_in_bounded_time(
    pending_subscriptions: PendingControl,
    subscription_handler: ModuleType,
    cfn_responses: CfnResponses,
    fake_clock: FakeClock,
) -> None:
    arn = existing_subscription()
    event = with_physical_id(
        "https_subscription/update-in-place", arn, ConfirmationTimeoutSeconds="45"
    )
    started = time.monotonic()

    invoke(subscription_handler, event)

    assert time.monotonic() - started < 5
    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert ENDPOINT in body["Reason"]
    assert "did not confirm the SNS subscription within 45 s" in body["Reason"]
    assert sum(fake_clock.sleeps) == pytest.approx(45)
    # Still the same subscription: an in-place update never replaces it, even when it fails.
    assert body["PhysicalResourceId"] == arn
    assert [s["SubscriptionArn"] for s in subscriptions()] == [arn]
    assert attributes(arn)["PendingConfirmation"] == "true"


def test_update_in_place_of_a_pending_subscription_waits_no_longer_than_the_lambda_has_left(
    pending_subscriptions: PendingControl,
    subscription_handler: ModuleType,
    cfn_responses: CfnResponses,
    fake_clock: FakeClock,
) -> None:
    arn = existing_subscription()

    invoke(
        subscription_handler,
        with_physical_id("https_subscription/update-in-place", arn),
        LambdaContext(timeout_seconds=100),
    )

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert sum(fake_clock.sleeps) <= 100 - subscription_handler.MARGIN_SECONDS
    assert "within 70 s" in body["Reason"]


def test_update_with_a_new_endpoint_makes_a_new_subscription_and_leaves_the_old_for_delete(
    aws: None, subscription_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    invoke(subscription_handler, load_event("https_subscription/create"))
    old_arn = cfn_responses.last["PhysicalResourceId"]

    invoke(subscription_handler, with_physical_id("https_subscription/update-endpoint", old_arn))

    body = cfn_responses.last
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] != old_arn
    assert body["Data"] == {"SubscriptionArn": body["PhysicalResourceId"]}
    endpoints = {s["SubscriptionArn"]: s["Endpoint"] for s in subscriptions()}
    assert endpoints == {old_arn: ENDPOINT, body["PhysicalResourceId"]: NEW_ENDPOINT}


def test_update_with_a_new_endpoint_fails_when_the_new_endpoint_never_confirms(
    pending_subscriptions: PendingControl,
    subscription_handler: ModuleType,
    cfn_responses: CfnResponses,
) -> None:
    old_arn = existing_subscription()
    sns_backend().subscriptions[old_arn].attributes["PendingConfirmation"] = "false"
    event = with_physical_id(
        "https_subscription/update-endpoint", old_arn, ConfirmationTimeoutSeconds="30"
    )

    invoke(subscription_handler, event)

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert NEW_ENDPOINT in body["Reason"]
    assert body["PhysicalResourceId"] == old_arn


def test_update_subscribes_again_when_the_subscription_was_deleted_outside_cloudformation(
    aws: None, subscription_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    gone = f"{TOPIC_ARN}:2f1c4a6e-7b8d-4e9f-a0b1-c2d3e4f5a6b7"

    invoke(subscription_handler, with_physical_id("https_subscription/update-in-place", gone))

    body = cfn_responses.only
    assert body["Status"] == "SUCCESS", body["Reason"]
    [subscription] = subscriptions()
    assert body["PhysicalResourceId"] == subscription["SubscriptionArn"] != gone


# ------------------------------------------------------------------------------------ Delete


def test_delete_unsubscribes_a_confirmed_subscription(
    aws: None, subscription_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    arn = existing_subscription()

    invoke(subscription_handler, with_physical_id("https_subscription/delete", arn))

    body = cfn_responses.only
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == arn
    assert subscriptions() == []


def test_delete_succeeds_when_subscription_is_pending(
    pending_subscriptions: PendingControl,
    subscription_handler: ModuleType,
    cfn_responses: CfnResponses,
) -> None:
    arn = existing_subscription()
    assert attributes(arn)["PendingConfirmation"] == "true"

    invoke(subscription_handler, with_physical_id("https_subscription/delete", arn))

    assert cfn_responses.only["Status"] == "SUCCESS"
    # SNS cannot remove a pending subscription; it is left for SNS to expire.
    assert [s["SubscriptionArn"] for s in subscriptions()] == [arn]


def test_delete_succeeds_when_the_subscription_is_already_gone(
    aws: None, subscription_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    gone = f"{TOPIC_ARN}:2f1c4a6e-7b8d-4e9f-a0b1-c2d3e4f5a6b7"

    invoke(subscription_handler, with_physical_id("https_subscription/delete", gone))

    assert cfn_responses.only["Status"] == "SUCCESS"
    assert cfn_responses.only["PhysicalResourceId"] == gone


def test_delete_after_a_failed_create_skips_an_id_that_is_not_a_subscription_arn(
    aws: None, subscription_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    arn = existing_subscription()
    crhelper_id = "app_JobSubscription_X1Y2Z3W4"

    invoke(subscription_handler, with_physical_id("https_subscription/delete", crhelper_id))

    assert cfn_responses.only["Status"] == "SUCCESS"
    assert cfn_responses.only["PhysicalResourceId"] == crhelper_id
    assert [s["SubscriptionArn"] for s in subscriptions()] == [arn]


def test_delete_after_a_failed_create_with_bad_properties_succeeds(
    aws: None, subscription_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    invoke(subscription_handler, load_event("https_subscription/create", Endpoint="http://x/j"))
    failed = cfn_responses.last
    assert failed["Status"] == "FAILED"
    event = load_event("https_subscription/delete", Endpoint="http://x/j")
    event["PhysicalResourceId"] = failed["PhysicalResourceId"]

    invoke(subscription_handler, event)

    assert cfn_responses.last["Status"] == "SUCCESS"


def test_delete_leaves_a_subscription_of_another_topic_alone(
    aws: None, subscription_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    other_topic = sns().create_topic(Name="someone-else")["TopicArn"]
    other = sns().subscribe(
        TopicArn=other_topic, Protocol="https", Endpoint=ENDPOINT, ReturnSubscriptionArn=True
    )["SubscriptionArn"]

    invoke(subscription_handler, with_physical_id("https_subscription/delete", other))

    assert cfn_responses.only["Status"] == "SUCCESS"
    assert sns().get_subscription_attributes(SubscriptionArn=other)["Attributes"]


def test_duplicate_delete_succeeds_both_times(
    aws: None, subscription_handler: ModuleType, cfn_responses: CfnResponses
) -> None:
    arn = existing_subscription()
    event = with_physical_id("https_subscription/delete", arn)

    invoke(subscription_handler, event)
    invoke(subscription_handler, event)

    assert [b["Status"] for b in cfn_responses.bodies] == ["SUCCESS", "SUCCESS"]
    assert subscriptions() == []


# ------------------------------------------------------------------------------------ AWS errors


@pytest.fixture
def stubbed(
    subscription_handler: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, Stubber]:
    client = boto3.client("sns", region_name="us-east-1", config=subscription_handler.RETRY_CONFIG)
    monkeypatch.setattr(subscription_handler, "get_client", lambda _region: client)
    return client, Stubber(client)


def test_create_sends_exactly_the_subscribe_request_the_contract_names(
    subscription_handler: ModuleType, stubbed: tuple[Any, Stubber], cfn_responses: CfnResponses
) -> None:
    _, stubber = stubbed
    arn = f"{TOPIC_ARN}:2f1c4a6e-7b8d-4e9f-a0b1-c2d3e4f5a6b7"
    event = load_event("https_subscription/create", DeliveryPolicy=None, FilterPolicy=None)
    event["ResourceProperties"].pop("FilterPolicyScope")
    stubber.add_response(
        "subscribe",
        {"SubscriptionArn": arn},
        {
            "TopicArn": TOPIC_ARN,
            "Protocol": "https",
            "Endpoint": ENDPOINT,
            "Attributes": {
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": DLQ_ARN}, separators=(",", ":"))
            },
            "ReturnSubscriptionArn": True,
        },
    )
    stubber.add_response(
        "get_subscription_attributes",
        {"Attributes": {"PendingConfirmation": "false"}},
        {"SubscriptionArn": arn},
    )

    with stubber:
        invoke(subscription_handler, event)

    stubber.assert_no_pending_responses()
    assert cfn_responses.only["Status"] == "SUCCESS"


def test_create_fails_with_a_reason_naming_the_missing_right_when_access_is_denied(
    subscription_handler: ModuleType, stubbed: tuple[Any, Stubber], cfn_responses: CfnResponses
) -> None:
    _, stubber = stubbed
    stubber.add_client_error(
        "subscribe", "AuthorizationError", "User is not authorized", http_status_code=403
    )

    with stubber:
        invoke(subscription_handler, load_event("https_subscription/create"))

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert "Access denied" in body["Reason"]
    assert "sns:Subscribe" in body["Reason"]


def test_delete_of_a_subscription_of_another_topic_makes_no_sns_call_at_all(
    subscription_handler: ModuleType, stubbed: tuple[Any, Stubber], cfn_responses: CfnResponses
) -> None:
    _, stubber = stubbed
    other = "arn:aws:sns:us-east-1:123456789012:someone-else:2f1c4a6e-7b8d-4e9f-a0b1-c2d3e4f5a6b7"

    # Nothing is queued: a GetSubscriptionAttributes or an Unsubscribe would fail the Stubber.
    with stubber:
        invoke(subscription_handler, with_physical_id("https_subscription/delete", other))

    body = cfn_responses.only
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == other


def test_delete_succeeds_when_sns_refuses_to_unsubscribe_a_pending_subscription(
    subscription_handler: ModuleType, stubbed: tuple[Any, Stubber], cfn_responses: CfnResponses
) -> None:
    _, stubber = stubbed
    arn = f"{TOPIC_ARN}:2f1c4a6e-7b8d-4e9f-a0b1-c2d3e4f5a6b7"
    stubber.add_response(
        "get_subscription_attributes", {"Attributes": {"PendingConfirmation": "false"}}
    )
    stubber.add_client_error(
        "unsubscribe",
        "InvalidParameter",
        "Invalid parameter: Cannot unsubscribe a subscription that is pending confirmation",
        expected_params={"SubscriptionArn": arn},
    )

    with stubber:
        invoke(subscription_handler, with_physical_id("https_subscription/delete", arn))

    assert cfn_responses.only["Status"] == "SUCCESS"


def test_delete_fails_when_sns_denies_the_unsubscribe(
    subscription_handler: ModuleType, stubbed: tuple[Any, Stubber], cfn_responses: CfnResponses
) -> None:
    _, stubber = stubbed
    arn = f"{TOPIC_ARN}:2f1c4a6e-7b8d-4e9f-a0b1-c2d3e4f5a6b7"
    stubber.add_response(
        "get_subscription_attributes", {"Attributes": {"PendingConfirmation": "false"}}
    )
    stubber.add_client_error("unsubscribe", "AuthorizationError", "no", http_status_code=403)

    with stubber:
        invoke(subscription_handler, with_physical_id("https_subscription/delete", arn))

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert "sns:Unsubscribe" in body["Reason"]


def test_create_fails_after_bounded_retries_when_sns_keeps_throttling(
    subscription_handler: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    cfn_responses: CfnResponses,
) -> None:
    client = boto3.client("sns", region_name="us-east-1", config=subscription_handler.RETRY_CONFIG)
    monkeypatch.setattr(subscription_handler, "get_client", lambda _region: client)
    attempts = always_throttled(client, "Subscribe", monkeypatch)
    started = time.monotonic()

    invoke(subscription_handler, load_event("https_subscription/create"))

    assert time.monotonic() - started < 5
    assert len(attempts) == 3
    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert "throttled" in body["Reason"]


def test_handler_answers_within_the_lambda_time_even_with_a_long_confirmation_timeout(
    pending_subscriptions: PendingControl,
    subscription_handler: ModuleType,
    cfn_responses: CfnResponses,
    fake_clock: FakeClock,
) -> None:
    event = load_event("https_subscription/create", ConfirmationTimeoutSeconds="3000")
    event["ResourceProperties"].pop("ServiceTimeout")

    invoke(subscription_handler, event, LambdaContext(timeout_seconds=900))

    assert cfn_responses.only["Status"] == "FAILED"
    assert sum(fake_clock.sleeps) <= 900 - subscription_handler.MARGIN_SECONDS


def test_an_sns_error_quoting_the_endpoint_loses_its_query_string_in_reason_and_log(
    subscription_handler: ModuleType,
    stubbed: tuple[Any, Stubber],
    cfn_responses: CfnResponses,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, stubber = stubbed
    endpoint = "https://jobs.example.com/jobs?token=s3cr3t-t0ken"
    stubber.add_client_error(
        "subscribe",
        "InvalidParameter",
        f"Invalid parameter: Endpoint {endpoint} is not reachable",
        http_status_code=400,
    )
    caplog.set_level(logging.DEBUG)

    with stubber:
        invoke(subscription_handler, load_event("https_subscription/create", Endpoint=endpoint))

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert "https://jobs.example.com/jobs" in body["Reason"]
    assert "s3cr3t-t0ken" not in body["Reason"]
    assert "s3cr3t-t0ken" not in caplog.text
