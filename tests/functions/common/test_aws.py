"""The AWS names and error codes the functions share through the layer."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from cfn_guard.aws import TOPIC_ARN, error_code, topic_region


@pytest.mark.parametrize(
    ("arn", "region"),
    [
        ("arn:aws:sns:us-east-1:123456789012:jobs", "us-east-1"),
        ("arn:aws-cn:sns:cn-north-1:123456789012:jobs", "cn-north-1"),
        ("arn:aws-us-gov:sns:us-gov-west-1:123456789012:bookapp-JobTopic-1AB2", "us-gov-west-1"),
        ("arn:aws-iso-b:sns:us-isob-east-1:123456789012:jobs_2", "us-isob-east-1"),
    ],
)
def test_topic_region_is_read_from_a_topic_arn_of_any_partition(arn: str, region: str) -> None:
    assert topic_region(arn) == region


@pytest.mark.parametrize(
    "value",
    [
        "",
        "arn:aws:sqs:us-east-1:123456789012:jobs",
        "arn:aws:sns:us-east-1:12345:jobs",
        "arn:aws:sns:us-east-1:123456789012:jobs:6b0e71bd-7e97-4d97-80ce-4a0994e55286",
        "arn:other:sns:us-east-1:123456789012:jobs",
    ],
)
def test_anything_but_a_topic_arn_is_refused_naming_it(value: str) -> None:
    with pytest.raises(ValueError, match="is not an SNS topic ARN"):
        topic_region(value)
    assert TOPIC_ARN.match(value) is None


def test_the_account_and_name_are_read_from_a_topic_arn() -> None:
    match = TOPIC_ARN.match("arn:aws:sns:eu-west-1:123456789012:bookapp-JobTopic")

    assert match is not None
    assert (match["account"], match["name"]) == ("123456789012", "bookapp-JobTopic")


@pytest.mark.parametrize(
    ("response", "code"),
    [
        ({"Error": {"Code": "AuthorizationError", "Message": "no"}}, "AuthorizationError"),
        ({"Error": {"Message": "no code"}}, ""),
        ({}, ""),
    ],
)
def test_error_code_is_the_code_aws_answered_or_empty(
    response: dict[str, dict[str, str]], code: str
) -> None:
    assert error_code(ClientError(response, "Publish")) == code  # type: ignore[arg-type]
