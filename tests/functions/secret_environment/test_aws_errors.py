"""Secrets Manager failures moto cannot produce: access denied, decryption failure, throttling.

A botocore Stubber pins the exact requests (one GetSecretValue per distinct secret, PutSecretValue
only into the target) and answers the errors. Stubbed errors skip botocore's retry loop, so the
retry bound is tested on the handler's real client instead, with a `before-send` hook answering
HTTP 400 ThrottlingException to every attempt.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from secret_environment import secrets_manager
from secret_environment.core import PropertyError
from tests.functions.secret_environment.seeds import (
    API_TOKEN,
    DB_PASSWORD,
    Invoke,
    database_secret,
)
from tests.support.events import load_event

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

DATABASE = "arn:aws:secretsmanager:us-east-1:123456789012:secret:bookapp-database-AbCdEf"
API = "arn:aws:secretsmanager:us-east-1:123456789012:secret:bookapp-api-token-GhIjKl"
TARGET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:bookapp-app-environment-MnOpQr"
VERSION = "c3a1f7d2-0000-4000-8000-000000000001"


def secret_value(arn: str, value: str) -> dict[str, Any]:
    return {
        "ARN": arn,
        "Name": arn.rsplit(":", maxsplit=1)[-1],
        "VersionId": VERSION,
        "SecretString": value,
    }


@pytest.fixture
def stubbed(
    monkeypatch: pytest.MonkeyPatch, handler_module: ModuleType
) -> Iterator[tuple[SecretsManagerClient, Stubber]]:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    monkeypatch.setattr(handler_module, "secrets_client", lambda: client)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_each_distinct_secret_is_read_once_and_an_unchanged_target_is_not_written(
    stubbed: tuple[SecretsManagerClient, Stubber], invoke: Invoke
) -> None:
    _, stubber = stubbed
    stubber.add_response(
        "get_secret_value",
        secret_value(DATABASE, database_secret()),
        {"SecretId": DATABASE, "VersionStage": "AWSCURRENT"},
    )
    stubber.add_response(
        "get_secret_value",
        secret_value(API, API_TOKEN),
        {"SecretId": API, "VersionStage": "AWSCURRENT"},
    )
    stubber.add_response(
        "get_secret_value",
        secret_value(
            TARGET,
            json.dumps(
                {
                    "DATABASE_URL": (
                        "postgresql://app_user:p%40ss%3Aw%2Frd%3F%23%25%2B%20sp%E2%82%AC"
                        "cial@bookstack-db.cluster-abc123.us-east-1.rds.amazonaws.com:5432/"
                        "bookapp?sslmode=require"
                    ),
                    "DB_PASSWORD": DB_PASSWORD,
                    "API_TOKEN": API_TOKEN,
                }
            ),
        ),
        {"SecretId": TARGET, "VersionStage": "AWSCURRENT"},
    )

    body = invoke(load_event("secret_environment/create"))

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["Data"]["DB_PASSWORD"] == f"{TARGET}:DB_PASSWORD::"


def test_a_changed_target_gets_exactly_one_put_secret_value(
    stubbed: tuple[SecretsManagerClient, Stubber], invoke: Invoke
) -> None:
    _, stubber = stubbed
    stubber.add_response(
        "get_secret_value",
        secret_value(API, API_TOKEN),
        {"SecretId": API, "VersionStage": "AWSCURRENT"},
    )
    stubber.add_response(
        "get_secret_value",
        secret_value(TARGET, "{}"),
        {"SecretId": TARGET, "VersionStage": "AWSCURRENT"},
    )
    stubber.add_response(
        "put_secret_value",
        {"ARN": TARGET, "Name": "bookapp-app-environment-MnOpQr", "VersionId": VERSION},
        {"SecretId": TARGET, "SecretString": '{"API_TOKEN":"' + API_TOKEN + '"}'},
    )

    body = invoke(
        load_event("secret_environment/create", Variables=[{"Name": "API_TOKEN", "SecretId": API}])
    )

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["Data"]["API_TOKEN"] == f"{TARGET}:API_TOKEN::"


READ_ERRORS = [
    pytest.param(
        "AccessDeniedException",
        "access denied: the function's role needs secretsmanager:GetSecretValue",
        id="access-denied",
    ),
    pytest.param(
        "DecryptionFailure",
        "Secrets Manager cannot decrypt it (DecryptionFailure)",
        id="decryption-failure",
    ),
    pytest.param(
        "InvalidRequestException", "GetSecretValue failed with InvalidRequestException", id="other"
    ),
]


@pytest.mark.parametrize(("code", "complaint"), READ_ERRORS)
def test_a_refused_read_fails_naming_variable_secret_and_cause(
    code: str, complaint: str, stubbed: tuple[SecretsManagerClient, Stubber], invoke: Invoke
) -> None:
    _, stubber = stubbed
    stubber.add_client_error(
        "get_secret_value",
        service_error_code=code,
        service_message=f"message that must not be copied: {DB_PASSWORD}",
        expected_params={"SecretId": API, "VersionStage": "AWSCURRENT"},
    )

    body = invoke(
        load_event(
            "secret_environment/create_plain_text",
            Variables=[{"Name": "API_TOKEN", "SecretId": API}],
        )
    )

    assert body["Status"] == "FAILED"
    assert body["Reason"].startswith(f"variable API_TOKEN: secret {API}: {complaint}")
    assert DB_PASSWORD not in body["Reason"]


def test_a_refused_target_write_fails_naming_the_target(
    stubbed: tuple[SecretsManagerClient, Stubber], invoke: Invoke
) -> None:
    _, stubber = stubbed
    stubber.add_response(
        "get_secret_value",
        secret_value(API, API_TOKEN),
        {"SecretId": API, "VersionStage": "AWSCURRENT"},
    )
    stubber.add_client_error(
        "get_secret_value",
        "ResourceNotFoundException",
        expected_params={"SecretId": TARGET, "VersionStage": "AWSCURRENT"},
    )
    stubber.add_client_error("put_secret_value", "AccessDeniedException")

    body = invoke(
        load_event("secret_environment/create", Variables=[{"Name": "API_TOKEN", "SecretId": API}])
    )

    assert body["Status"] == "FAILED"
    assert body["Reason"].startswith(
        f"TargetSecretArn {TARGET}: access denied: the function's role needs "
        "secretsmanager:PutSecretValue"
    )


class _Body:
    def __init__(self, payload: bytes) -> None:
        self._payload = payload

    def stream(self) -> Iterator[bytes]:
        yield self._payload


@pytest.mark.timeout(10)
def test_throttling_is_retried_a_bounded_number_of_times_then_fails_clearly(
    monkeypatch: pytest.MonkeyPatch, handler_module: ModuleType, invoke: Invoke
) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr("time.sleep", sleeps.append)
    attempts: list[str] = []

    def throttle(request: Any, **_: Any) -> AWSResponse:
        attempts.append(json.loads(request.body)["SecretId"])
        payload = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"})
        return AWSResponse(
            request.url,
            400,
            HTTPHeaders.from_dict({"Content-Type": "application/x-amz-json-1.1"}),
            _Body(payload.encode()),
        )

    client = handler_module.secrets_client()
    client.meta.events.register("before-send.secrets-manager.GetSecretValue", throttle)

    body = invoke(
        load_event(
            "secret_environment/create_plain_text",
            Variables=[{"Name": "API_TOKEN", "SecretId": API}],
        )
    )

    assert attempts == [API, API, API]
    assert len(sleeps) == 2
    assert sum(sleeps) <= 3
    assert body["Status"] == "FAILED"
    assert body["Reason"] == (
        f"variable API_TOKEN: secret {API}: Secrets Manager answered ThrottlingException "
        "after 3 attempts; deploy again later"
    )


def test_an_unreachable_secrets_manager_fails_clearly(
    monkeypatch: pytest.MonkeyPatch, handler_module: ModuleType, invoke: Invoke
) -> None:
    def unreachable(request: Any, **_: Any) -> None:
        raise EndpointConnectionError(endpoint_url=request.url)

    monkeypatch.setattr("time.sleep", lambda _seconds: None)
    client = handler_module.secrets_client()
    client.meta.events.register("before-send.secrets-manager.GetSecretValue", unreachable)

    body = invoke(
        load_event(
            "secret_environment/create_plain_text",
            Variables=[{"Name": "API_TOKEN", "SecretId": API}],
        )
    )

    assert body["Status"] == "FAILED"
    assert body["Reason"] == (
        f"variable API_TOKEN: secret {API}: Secrets Manager could not be reached "
        "(EndpointConnectionError); deploy again later"
    )


def test_the_handlers_client_has_bounded_retries_and_timeouts(handler_module: ModuleType) -> None:
    config = handler_module.secrets_client().meta.config

    assert config.retries == {"total_max_attempts": 3, "mode": "standard"}
    assert config.connect_timeout == 3
    assert config.read_timeout == 10


def test_read_secrets_takes_any_client_and_reads_each_secret_id_once() -> None:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_response(
            "get_secret_value",
            secret_value(API, API_TOKEN),
            {"SecretId": API, "VersionStage": "AWSCURRENT"},
        )

        reads = secrets_manager.read_secrets(client, {API: ["A", "B", "C"]})

        stubber.assert_no_pending_responses()
    assert reads[API].arn == API
    assert reads[API].version_id == VERSION
    assert API_TOKEN not in repr(reads[API])


def test_the_handlers_client_takes_the_region_lambda_sets_in_aws_region(
    monkeypatch: pytest.MonkeyPatch, handler_module: ModuleType
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")

    assert handler_module.secrets_client().meta.region_name == "eu-west-1"


@pytest.mark.parametrize(
    "given",
    [
        pytest.param(API.removesuffix("-GhIjKl"), id="partial-arn"),
        pytest.param(API, id="full-arn"),
    ],
)
def test_write_target_refuses_a_target_that_resolves_to_a_source_and_sends_no_write(
    given: str,
) -> None:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    with Stubber(client) as stubber:
        # Secrets Manager answers the full ARN whatever form the request named the secret by.
        stubber.add_response(
            "get_secret_value",
            secret_value(API, API_TOKEN),
            {"SecretId": given, "VersionStage": "AWSCURRENT"},
        )

        with pytest.raises(PropertyError, match="the target must be a secret of its own"):
            secrets_manager.write_target(client, given, '{"API_TOKEN":"x"}', [DATABASE, API])

        # No PutSecretValue was queued: the Stubber would have refused one.
        stubber.assert_no_pending_responses()


def test_delete_calls_secrets_manager_not_at_all(
    stubbed: tuple[SecretsManagerClient, Stubber], invoke: Invoke
) -> None:
    # Nothing is queued: any call, a DeleteSecret of the target above all, would fail the Stubber.
    event = load_event("secret_environment/delete")

    body = invoke(event)

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == event["PhysicalResourceId"]
