"""The pure rules of Custom::HttpsSubscription: property validation, update planning, Reasons."""

from __future__ import annotations

import json
from typing import Any

import pytest

from https_subscription import core
from https_subscription.core import AttributeChange, PropertyError

TOPIC = "arn:aws:sns:us-east-1:123456789012:jobs"
ENDPOINT = "https://abc.us-east-1.awsapprunner.com/jobs"
DLQ = "arn:aws:sqs:us-east-1:123456789012:dlq"
RETRY = {"minDelayTarget": "5", "maxDelayTarget": "60", "numRetries": "10"}


def props(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"ServiceToken": "arn:x", "TopicArn": TOPIC, "Endpoint": ENDPOINT}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def test_minimal_properties_give_an_https_spec_with_the_default_timeout() -> None:
    spec = core.parse_properties(props())
    assert (spec.topic_arn, spec.endpoint, spec.protocol) == (TOPIC, ENDPOINT, "https")
    assert spec.confirmation_timeout == 600
    assert spec.attributes == {}
    assert spec.region == "us-east-1"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"TopicArn": None}, "TopicArn is required"),
        ({"TopicArn": ""}, "TopicArn is required"),
        ({"TopicArn": "jobs"}, "not an SNS topic ARN"),
        ({"TopicArn": "arn:aws:sns:us-east-1:1234:jobs"}, "not an SNS topic ARN"),
        ({"TopicArn": "arn:aws:sns:us-east-1:123456789012:jobs.fifo"}, "not an SNS topic ARN"),
        ({"Endpoint": None}, "Endpoint is required"),
        ({"Endpoint": "abc.example/jobs"}, "must start with https://"),
        ({"Endpoint": "http://abc.example/jobs"}, "plain http"),
        ({"Endpoint": "https:///jobs"}, "no valid host"),
        ({"Endpoint": "https://a b.example/jobs"}, "no valid host"),
        ({"Endpoint": "https://u:p@abc.example/jobs"}, "credentials"),
        ({"Endpoint": "https://abc.example/jobs#x"}, "fragment"),
        ({"Endpoint": "https://abc.example:99999/jobs"}, "not a valid URL"),
        ({"AllowInsecureEndpoint": "yes"}, 'must be "true" or "false"'),
        ({"ConfirmationTimeoutSeconds": "9"}, "from 10 to 3600"),
        ({"ConfirmationTimeoutSeconds": "3601"}, "from 10 to 3600"),
        ({"ConfirmationTimeoutSeconds": "1.5"}, "whole number"),
        ({"ConfirmationTimeoutSeconds": "true"}, "whole number"),
        ({"ServiceTimeout": "0"}, "ServiceTimeout must be from 1 to 3600"),
        ({"ServiceTimeout": "600", "ConfirmationTimeoutSeconds": "600"}, "ServiceTimeout - 30"),
        ({"RawMessageDelivery": "true"}, "RawMessageDelivery is refused"),
        ({"RawMessageDelivery": "maybe"}, 'must be "true" or "false"'),
        ({"Protocol": "https"}, "Unknown property Protocol"),
        ({"Foo": "1", "Bar": "2"}, "Unknown properties Bar, Foo"),
        ({"FilterPolicyScope": "MessageBody"}, "FilterPolicyScope needs a FilterPolicy"),
        ({"FilterPolicy": {"a": ["b"]}, "FilterPolicyScope": "Body"}, "must be MessageAttributes"),
    ],
)
def test_bad_properties_are_refused_with_a_reason_naming_the_property(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(PropertyError, match=message.replace("(", r"\(")) as caught:
        core.parse_properties(props(**overrides))
    assert len(str(caught.value)) <= 256


@pytest.mark.parametrize("flag", ["true", "True", " TRUE "])
def test_plain_http_is_allowed_only_with_the_insecure_flag(flag: str) -> None:
    spec = core.parse_properties(
        props(Endpoint="http://localhost:8080/jobs", AllowInsecureEndpoint=flag)
    )
    assert spec.protocol == "http"


@pytest.mark.parametrize("value", ["false", "False"])
def test_raw_message_delivery_false_is_accepted_and_not_sent(value: str) -> None:
    assert core.parse_properties(props(RawMessageDelivery=value)).attributes == {}


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({}, "DeliveryPolicy is empty"),
        ({"sicklyRetryPolicy": {}}, "unknown key"),
        ({"healthyRetryPolicy": {"numRetries": "3"}}, "minDelayTarget is required"),
        (
            {"healthyRetryPolicy": {**RETRY, "numRetries": "101"}},
            "numRetries must be from 0 to 100",
        ),
        ({"healthyRetryPolicy": {**RETRY, "numRetries": "-1"}}, "numRetries must be from 0 to 100"),
        ({"healthyRetryPolicy": {**RETRY, "minDelayTarget": "0"}}, "minDelayTarget must be from 1"),
        (
            {"healthyRetryPolicy": {**RETRY, "minDelayTarget": "61"}},
            "minDelayTarget must be from 1 to 60",
        ),
        (
            {"healthyRetryPolicy": {**RETRY, "maxDelayTarget": "3601"}},
            "maxDelayTarget must be from 1 to 3600",
        ),
        (
            {"healthyRetryPolicy": {**RETRY, "backoffFunction": "cubic"}},
            "backoffFunction must be one of",
        ),
        ({"healthyRetryPolicy": {**RETRY, "numNoDelayRetries": "11"}}, "exceed numRetries"),
        ({"healthyRetryPolicy": {**RETRY, "numMaxDelayRetries": "x"}}, "whole number"),
        ({"healthyRetryPolicy": {**RETRY, "extra": "1"}}, "unknown key"),
        (
            {
                "healthyRetryPolicy": {
                    "minDelayTarget": "100",
                    "maxDelayTarget": "100",
                    "numRetries": "37",
                }
            },
            "at least 3700 s",
        ),
        (
            {
                "healthyRetryPolicy": {
                    "minDelayTarget": "1",
                    "maxDelayTarget": "3600",
                    "numRetries": "2",
                    "numMaxDelayRetries": "2",
                }
            },
            "at least 7200 s",
        ),
        ({"throttlePolicy": {}}, "maxReceivesPerSecond is required"),
        ({"throttlePolicy": {"maxReceivesPerSecond": "0"}}, "1 or more"),
        ({"requestPolicy": {"headerContentType": "text/html"}}, "headerContentType must be one of"),
        ("[1]", "must be an object"),
        ("{", "not valid JSON"),
    ],
)
def test_invalid_delivery_policies_are_refused(policy: Any, message: str) -> None:
    with pytest.raises(PropertyError, match=message):
        core.parse_properties(props(DeliveryPolicy=policy))


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (
            {"healthyRetryPolicy": RETRY},
            {"healthyRetryPolicy": {"minDelayTarget": 5, "maxDelayTarget": 60, "numRetries": 10}},
        ),
        (
            json.dumps({"healthyRetryPolicy": {**RETRY, "backoffFunction": "Exponential"}}),
            {
                "healthyRetryPolicy": {
                    "minDelayTarget": 5,
                    "maxDelayTarget": 60,
                    "numRetries": 10,
                    "backoffFunction": "exponential",
                }
            },
        ),
        (
            {"throttlePolicy": {"maxReceivesPerSecond": "10"}},
            {"throttlePolicy": {"maxReceivesPerSecond": 10}},
        ),
        (
            {"requestPolicy": {"headerContentType": "application/json"}},
            {"requestPolicy": {"headerContentType": "application/json"}},
        ),
        (
            {
                "healthyRetryPolicy": {
                    "minDelayTarget": "1",
                    "maxDelayTarget": "60",
                    "numRetries": "50",
                    "numNoDelayRetries": "3",
                    "numMinDelayRetries": "2",
                    "numMaxDelayRetries": "35",
                    "backoffFunction": "exponential",
                }
            },
            {
                "healthyRetryPolicy": {
                    "minDelayTarget": 1,
                    "maxDelayTarget": 60,
                    "numRetries": 50,
                    "numNoDelayRetries": 3,
                    "numMinDelayRetries": 2,
                    "numMaxDelayRetries": 35,
                    "backoffFunction": "exponential",
                }
            },
        ),
    ],
)
def test_valid_delivery_policies_become_json_with_real_numbers(policy: Any, expected: Any) -> None:
    spec = core.parse_properties(props(DeliveryPolicy=policy))
    assert json.loads(spec.attributes["DeliveryPolicy"]) == expected


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (None, "deadLetterTargetArn is required"),
        ("dlq", "not an SQS queue ARN"),
        ("arn:aws:sns:us-east-1:123456789012:dlq", "not an SQS queue ARN"),
        ("arn:aws:sqs:eu-west-1:123456789012:dlq", "topic's region"),
        ("arn:aws:sqs:us-east-1:210987654321:dlq", "topic's account"),
        ("arn:aws-cn:sqs:us-east-1:123456789012:dlq", "topic's partition"),
        ("arn:aws:sqs:us-east-1:123456789012:dlq.fifo", "not an SQS queue ARN"),
    ],
)
def test_redrive_policies_must_point_at_a_queue_beside_the_topic(
    target: str | None, message: str
) -> None:
    policy = {} if target is None else {"deadLetterTargetArn": target}
    with pytest.raises(PropertyError, match=message):
        core.parse_properties(props(RedrivePolicy=policy))


def test_redrive_policy_may_be_an_object_or_a_json_string() -> None:
    for policy in ({"deadLetterTargetArn": DLQ}, json.dumps({"deadLetterTargetArn": DLQ})):
        spec = core.parse_properties(props(RedrivePolicy=policy))
        assert json.loads(spec.attributes["RedrivePolicy"]) == {"deadLetterTargetArn": DLQ}


@pytest.mark.parametrize(
    ("policy", "scope", "message"),
    [
        ({}, None, "FilterPolicy is empty"),
        ({"a": "b"}, None, "non-empty list"),
        ({"a": []}, None, "non-empty list"),
        ({"a": {"b": ["c"]}}, None, "nested"),
        ({"a": {"b": ["c"]}}, "MessageAttributes", "nested"),
        ({f"k{i}": ["v"] for i in range(6)}, None, "at most 5"),
        ({"$or": [{"a": ["b"]}]}, None, "at least two objects"),
    ],
)
def test_invalid_filter_policies_are_refused(
    policy: dict[str, Any], scope: str | None, message: str
) -> None:
    with pytest.raises(PropertyError, match=message):
        core.parse_properties(props(FilterPolicy=policy, FilterPolicyScope=scope))


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({"job": ["db_migrate"]}, {"job": ["db_migrate"]}),
        (
            {"n": [{"numeric": [">=", "100", "<", "2.5"]}]},
            {"n": [{"numeric": [">=", 100, "<", 2.5]}]},
        ),
        ({"job": [{"exists": "true"}]}, {"job": [{"exists": True}]}),
        ({"job": [{"prefix": "db_"}]}, {"job": [{"prefix": "db_"}]}),
        ('{"n": [{"numeric": [">", 5]}]}', {"n": [{"numeric": [">", 5]}]}),
    ],
)
def test_filter_policies_get_the_types_cloudformation_turned_into_strings_back(
    policy: Any, expected: dict[str, Any]
) -> None:
    spec = core.parse_properties(props(FilterPolicy=policy))
    assert json.loads(spec.attributes["FilterPolicy"]) == expected
    assert "FilterPolicyScope" not in spec.attributes


def test_a_nested_filter_policy_is_accepted_with_the_message_body_scope() -> None:
    spec = core.parse_properties(
        props(FilterPolicy={"job": {"name": ["db_seed"]}}, FilterPolicyScope="MessageBody")
    )
    assert spec.attributes["FilterPolicyScope"] == "MessageBody"


# ------------------------------------------------------------------------------------ updates

FULL = props(
    DeliveryPolicy={"healthyRetryPolicy": RETRY},
    RedrivePolicy={"deadLetterTargetArn": DLQ},
    FilterPolicy={"job": ["a"]},
)


@pytest.mark.parametrize(
    "changed",
    [
        {"TopicArn": "arn:aws:sns:us-east-1:123456789012:other"},
        {"Endpoint": "https://new.example/jobs"},
        {"Endpoint": ENDPOINT + "/v2"},
    ],
)
def test_a_new_topic_or_endpoint_means_replacement(changed: dict[str, str]) -> None:
    plan = core.plan_update(FULL, core.parse_properties({**FULL, **changed}))
    assert plan.replace
    assert plan.changes == ()


@pytest.mark.parametrize(
    ("removed", "reset"),
    [
        ("DeliveryPolicy", AttributeChange("DeliveryPolicy", "")),
        ("RedrivePolicy", AttributeChange("RedrivePolicy", None)),
        ("FilterPolicy", AttributeChange("FilterPolicy", "{}")),
    ],
)
def test_a_removed_attribute_is_reset_with_the_value_sns_accepts(
    removed: str, reset: AttributeChange
) -> None:
    new = {k: v for k, v in FULL.items() if k != removed}
    plan = core.plan_update(FULL, core.parse_properties(new))
    assert not plan.replace
    assert reset in plan.changes
    assert plan.removed == (removed,)


def test_an_unchanged_update_sets_every_wanted_attribute_again_and_removes_nothing() -> None:
    plan = core.plan_update(FULL, core.parse_properties(FULL))
    assert [c.name for c in plan.changes] == ["DeliveryPolicy", "RedrivePolicy", "FilterPolicy"]
    assert plan.removed == ()


def test_the_message_body_scope_is_set_before_a_nested_filter_policy() -> None:
    new = {**FULL, "FilterPolicy": {"a": {"b": ["c"]}}, "FilterPolicyScope": "MessageBody"}
    names = [c.name for c in core.plan_update(FULL, core.parse_properties(new)).changes]
    assert names.index("FilterPolicyScope") < names.index("FilterPolicy")


def test_the_message_attributes_scope_is_restored_after_the_policy_when_the_scope_is_removed() -> (
    None
):
    old = {**FULL, "FilterPolicy": {"a": {"b": ["c"]}}, "FilterPolicyScope": "MessageBody"}
    changes = core.plan_update(old, core.parse_properties(FULL)).changes
    assert changes[-1] == AttributeChange("FilterPolicyScope", "MessageAttributes")


def test_invalid_old_properties_reset_everything_the_new_ones_do_not_set() -> None:
    old = {**props(), "DeliveryPolicy": "{broken"}
    plan = core.plan_update(old, core.parse_properties(props()))
    assert not plan.replace
    assert set(plan.removed) == {"DeliveryPolicy", "RedrivePolicy", "FilterPolicy"}


def test_missing_old_properties_mean_replacement() -> None:
    assert core.plan_update(None, core.parse_properties(props())).replace


# ------------------------------------------------------------------------------------ helpers


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"{TOPIC}:2f1c4a6e-7b8d-4e9f-a0b1-c2d3e4f5a6b7", True),
        ("arn:aws-cn:sns:cn-north-1:123456789012:t:2f1c4a6e-7b8d-4e9f-a0b1-c2d3e4f5a6b7", True),
        (TOPIC, False),
        ("PendingConfirmation", False),
        ("app_JobSubscription_X1Y2Z3W4", False),
        ("", False),
        (None, False),
    ],
)
def test_subscription_arns_are_told_from_ids_never_issued(value: Any, expected: bool) -> None:
    assert core.is_subscription_arn(value) is expected


@pytest.mark.parametrize(
    ("endpoint", "shown"),
    [
        ("https://a.example/jobs?token=s3cret", "https://a.example/jobs?…"),
        ("https://a.example:8443/jobs", "https://a.example:8443/jobs"),
        ("http://localhost:8080/jobs", "http://localhost:8080/jobs"),
    ],
)
def test_endpoints_in_logs_and_reasons_never_show_the_query(endpoint: str, shown: str) -> None:
    assert core.redact_endpoint(endpoint) == shown


@pytest.mark.parametrize(
    ("timeout", "remaining", "expected"),
    [(600, 900.0, 600.0), (600, 300.0, 270.0), (600, 20.0, 0.0), (10, 900.0, 10.0)],
)
def test_the_wait_is_capped_by_the_lambda_time_left_minus_the_margin(
    timeout: int, remaining: float, expected: float
) -> None:
    assert core.effective_wait(timeout, remaining, 30) == expected


@pytest.mark.parametrize("length", [10, 100, 300])
def test_the_timeout_reason_fits_cloudformation_and_keeps_its_advice(length: int) -> None:
    endpoint = "https://" + "a" * length + ".example/jobs"
    reason = core.timeout_reason(endpoint, 600)
    assert len(reason) <= 256
    assert "600 s" in reason
    assert "48 h" in reason
    assert reason.startswith("https://a")
