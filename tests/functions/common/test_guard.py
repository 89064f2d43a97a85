"""The request guard alone: which ResponseURLs and stacks a custom-resource function may serve."""

from __future__ import annotations

from typing import Any

import pytest

from cfn_guard.guard import (
    Pins,
    check_request,
    is_response_url,
    pins_from_environment,
    redact_url,
)

STACK = (
    "arn:aws:cloudformation:us-east-1:123456789012:stack/bookapp/"
    "5b8a2f10-ca9e-11f0-8de9-0a1b2c3d4e5f"
)
BUCKET = "cloudformation-custom-resource-response-useast1"
KEY = "/arn%3Aaws%3Acloudformation%3Aus-east-1%3A123456789012%3Astack/bookapp/x%7CRes%7Cid"
QUERY = "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abc"


def pins(**environ: str) -> Pins:
    return pins_from_environment({"STACK_ID": STACK, "AWS_REGION": "us-east-1", **environ})


def event(
    url: object = f"https://{BUCKET}.s3.amazonaws.com{KEY}{QUERY}", **extra: Any
) -> dict[str, Any]:
    return {
        "RequestType": "Create",
        "ResponseURL": url,
        "StackId": STACK,
        "RequestId": "r-1",
        "LogicalResourceId": "Res",
        **extra,
    }


@pytest.mark.parametrize(
    "url",
    [
        f"https://{BUCKET}.s3.amazonaws.com{KEY}{QUERY}",
        f"https://{BUCKET}.s3-us-east-1.amazonaws.com{KEY}{QUERY}",
        f"https://{BUCKET}.s3.us-east-1.amazonaws.com{KEY}{QUERY}",
        f"https://{BUCKET}.s3.dualstack.us-east-1.amazonaws.com{KEY}{QUERY}",
        f"https://{BUCKET.upper()}.S3.AMAZONAWS.COM{KEY}{QUERY}",
        f"https://{BUCKET}.s3.amazonaws.com:443{KEY}{QUERY}",
        f"https://s3.us-east-1.amazonaws.com/{BUCKET}{KEY}{QUERY}",
        f"https://s3.amazonaws.com/{BUCKET}{KEY}{QUERY}",
    ],
)
def test_cloudformation_response_urls_of_the_stacks_region_are_admitted(url: str) -> None:
    assert is_response_url(url, pins())


@pytest.mark.parametrize(
    ("url", "why"),
    [
        (f"http://{BUCKET}.s3.amazonaws.com{KEY}", "plain http"),
        (f"https://{BUCKET}.s3.amazonaws.com:8443{KEY}", "another port"),
        (f"https://user:pw@{BUCKET}.s3.amazonaws.com{KEY}", "credentials"),
        (f"https://{BUCKET}.s3.amazonaws.com", "no object key"),
        (f"https://{BUCKET}.s3.amazonaws.com/", "no object key"),
        (
            "https://cloudformation-custom-resource-response-euwest1.s3.amazonaws.com" + KEY,
            "another region's bucket",
        ),
        (f"https://{BUCKET}.s3.eu-west-1.amazonaws.com{KEY}", "another region's endpoint"),
        (f"https://{BUCKET}.s3.amazonaws.com.evil.example{KEY}", "look-alike host"),
        (f"https://evil-{BUCKET}.s3.amazonaws.com{KEY}", "look-alike bucket"),
        (f"https://{BUCKET}.s3.amazonaws.com.cn{KEY}", "another partition's suffix"),
        (f"https://s3.amazonaws.com/other-bucket{KEY}", "path style, another bucket"),
        (f"https://s3.amazonaws.com/{BUCKET}", "path style, no key"),
        (f"https://attacker.example{KEY}", "any other host"),
        ("https://127.0.0.1:8443/cloudformation-responses/r-1", "loopback without the setting"),
        ("", "empty"),
        (None, "missing"),
        (42, "not a string"),
        ("https://[::1", "unparseable"),
    ],
)
def test_any_other_response_url_is_refused(url: object, why: str) -> None:
    assert not is_response_url(url, pins()), why


def test_china_and_govcloud_stacks_take_their_own_partitions_response_urls() -> None:
    china = pins_from_environment(
        {"STACK_ID": STACK.replace("arn:aws:", "arn:aws-cn:").replace("us-east-1", "cn-north-1")}
    )
    gov = pins_from_environment(
        {
            "STACK_ID": STACK.replace("arn:aws:", "arn:aws-us-gov:").replace(
                "us-east-1", "us-gov-west-1"
            )
        }
    )

    assert is_response_url(
        f"https://cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com.cn{KEY}",
        china,
    )
    assert not is_response_url(
        f"https://cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com{KEY}",
        china,
    )
    assert is_response_url(
        f"https://cloudformation-custom-resource-response-usgovwest1.s3-us-gov-west-1.amazonaws.com{KEY}",
        gov,
    )


def test_the_local_origin_admits_only_its_own_loopback_port() -> None:
    local = pins(LOCAL_RESPONSE_ORIGIN="https://127.0.0.1:8443")

    assert is_response_url("https://127.0.0.1:8443/cloudformation-responses/r-1", local)
    assert not is_response_url("https://127.0.0.1:8444/cloudformation-responses/r-1", local)
    assert not is_response_url("http://127.0.0.1:8443/cloudformation-responses/r-1", local)
    # CloudFormation's own URLs stay admitted beside it.
    assert is_response_url(f"https://{BUCKET}.s3.amazonaws.com{KEY}", local)


@pytest.mark.parametrize(
    "origin",
    [
        "https://10.0.0.5:8443",
        "https://example.com:8443",
        "http://127.0.0.1:8443",
        "https://127.0.0.1",
        "https://127.0.0.1:8443/path",
        "https://u@127.0.0.1:8443",
        "not a url",
    ],
)
def test_a_local_origin_off_loopback_or_not_https_makes_the_function_refuse_everything(
    origin: str,
) -> None:
    configured = pins(LOCAL_RESPONSE_ORIGIN=origin)

    verdict = check_request(event(), configured)

    assert configured.problem is not None
    assert verdict.send
    assert verdict.refusal is not None
    assert "LOCAL_RESPONSE_ORIGIN" in verdict.refusal


def test_a_request_of_the_pinned_stack_with_cloudformations_url_is_served() -> None:
    verdict = check_request(event(), pins())

    assert verdict.refusal is None
    assert verdict.send


def test_a_request_of_another_stack_is_answered_failed_naming_both_stacks() -> None:
    other = STACK.replace("bookapp", "intruder")

    verdict = check_request(event(StackId=other), pins())

    assert verdict.send
    assert verdict.refusal is not None
    assert other in verdict.refusal
    assert STACK in verdict.refusal


def test_a_foreign_response_url_gets_no_answer_and_the_refusal_names_it_without_its_query() -> None:
    verdict = check_request(event(url="https://attacker.example/collect?token=abc"), pins())

    assert not verdict.send
    assert verdict.refusal is not None
    assert "https://attacker.example/collect" in verdict.refusal
    assert "token=abc" not in verdict.refusal


def test_the_url_is_checked_first_so_a_foreign_stack_with_a_foreign_url_gets_nothing() -> None:
    verdict = check_request(
        event(url="https://attacker.example/x", StackId=STACK.replace("bookapp", "other")), pins()
    )

    assert not verdict.send


@pytest.mark.parametrize("stack_id", ["", "bookapp", "arn:aws:sns:us-east-1:123456789012:topic"])
def test_without_a_pinned_stack_arn_every_request_is_refused_as_misconfigured(
    stack_id: str,
) -> None:
    configured = pins_from_environment({"STACK_ID": stack_id, "AWS_REGION": "us-east-1"})

    verdict = check_request(event(), configured)

    assert verdict.send  # the URL is still checked against AWS_REGION's bucket
    assert verdict.refusal is not None
    assert "misconfigured" in verdict.refusal
    assert "STACK_ID" in verdict.refusal


def test_an_event_that_is_not_an_object_gets_no_answer() -> None:
    verdict = check_request(["not", "an", "event"], pins())

    assert not verdict.send
    assert verdict.refusal is not None


def test_a_very_long_stack_id_is_capped_in_the_reason() -> None:
    verdict = check_request(event(StackId="x" * 5000), pins())

    assert verdict.refusal is not None
    assert len(verdict.refusal) <= 400


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://h.example/p?sig=1", "https://h.example/p"),
        ("https://u:pw@h.example:8443/p#f", "https://h.example:8443/p"),
        (None, "<NoneType>"),
    ],
)
def test_urls_are_logged_without_query_or_credentials(url: object, shown: str) -> None:
    assert redact_url(url) == shown
