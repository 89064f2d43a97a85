"""Custom::SecretEnvironment serves only its own stack and answers only CloudFormation's URLs."""

from __future__ import annotations

import json
import logging
from types import ModuleType
from typing import Any

import pytest

from tests.functions.secret_environment.seeds import DB_PASSWORD, Secrets
from tests.support.cfn import CfnResponses, LambdaContext
from tests.support.events import STACK_ID, load_event

FOREIGN_STACK = STACK_ID.replace("stack/bookapp/", "stack/intruder/")
FOREIGN_URL = "https://collector.example/cfn?X-Amz-Signature=stolen"


def event_for(name: str, secrets: Secrets, **overrides: Any) -> dict[str, Any]:
    properties: dict[str, Any] = {"Variables": secrets.variables(), **overrides}
    if "TargetSecretArn" in load_event(f"secret_environment/{name}")["ResourceProperties"]:
        properties.setdefault("TargetSecretArn", secrets.target_arn)
    return load_event(f"secret_environment/{name}", **properties)


def target_value(secrets: Secrets) -> str | None:
    try:
        value: str = secrets.client.get_secret_value(SecretId=secrets.target_arn)["SecretString"]
    except secrets.client.exceptions.ResourceNotFoundException:
        return None
    return value


@pytest.mark.parametrize("name", ["create_plain_text", "create", "update", "delete"])
def test_a_foreign_response_url_gets_nothing_not_even_the_plain_text_password(
    secrets: Secrets,
    handler_module: ModuleType,
    cfn_responses: CfnResponses,
    caplog: pytest.LogCaptureFixture,
    name: str,
) -> None:
    event = event_for(name, secrets)
    event["ResponseURL"] = FOREIGN_URL

    with caplog.at_level(logging.DEBUG):
        handler_module.handler(event, LambdaContext(timeout_seconds=20))

    assert cfn_responses.bodies == []
    assert target_value(secrets) is None  # the target secret was never written
    assert "is not a CloudFormation response URL" in caplog.text
    assert DB_PASSWORD not in caplog.text
    assert "stolen" not in caplog.text


@pytest.mark.parametrize("name", ["create_plain_text", "create", "update"])
def test_a_request_of_another_stack_is_failed_and_resolves_and_writes_nothing(
    secrets: Secrets, handler_module: ModuleType, cfn_responses: CfnResponses, name: str
) -> None:
    secrets.client.put_secret_value(SecretId=secrets.target_arn, SecretString='{"KEEP": "me"}')
    # Pointing DATABASE_URL at another host is what an intruder's Update would try.
    variables = secrets.variables()
    variables[0]["Template"] = "postgresql://{username}:{password}@evil.example:5432/{dbname}"
    event = event_for(name, secrets, Variables=variables)
    event["StackId"] = FOREIGN_STACK

    handler_module.handler(event, LambdaContext(timeout_seconds=20))

    body = cfn_responses.only
    assert body["Status"] == "FAILED"
    assert FOREIGN_STACK in body["Reason"]
    assert body.get("Data") == {}
    assert DB_PASSWORD not in json.dumps(body)
    assert target_value(secrets) == '{"KEEP": "me"}'


def test_the_function_still_serves_its_own_stack(
    secrets: Secrets, handler_module: ModuleType, cfn_responses: CfnResponses
) -> None:
    handler_module.handler(event_for("create", secrets), LambdaContext(timeout_seconds=20))

    assert cfn_responses.only["Status"] == "SUCCESS", cfn_responses.only["Reason"]
    assert target_value(secrets) is not None
