"""Fixtures for Custom::SecretEnvironment: moto's Secrets Manager, seeded secrets, a fresh handler.

The handler caches its boto3 client for the life of a Lambda environment; each test starts with
an empty cache so it talks to that test's mock (or stub).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from tests.functions.secret_environment.seeds import (
    API_TOKEN,
    Invoke,
    Secrets,
    database_secret,
)
from tests.support.cfn import CfnResponses, LambdaContext

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


@pytest.fixture
def handler_module() -> Iterator[ModuleType]:
    module = importlib.import_module("secret_environment.handler")
    clear = module.secrets_client.cache_clear  # tests may monkeypatch secrets_client itself
    clear()
    yield module
    clear()


@pytest.fixture
def secretsmanager() -> Iterator[SecretsManagerClient]:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


@pytest.fixture
def secrets(secretsmanager: SecretsManagerClient) -> Secrets:
    database = secretsmanager.create_secret(
        Name="bookstack-database", SecretString=database_secret()
    )
    api_token = secretsmanager.create_secret(Name="bookstack-api-token", SecretString=API_TOKEN)
    # Like the template's target: created without a value; the function writes the first one.
    target = secretsmanager.create_secret(Name="bookstack-app-environment")
    return Secrets(
        client=secretsmanager,
        database_arn=database["ARN"],
        api_token_arn=api_token["ARN"],
        target_arn=target["ARN"],
    )


@pytest.fixture
def context() -> LambdaContext:
    # 20 s leaves crhelper less than its sleep_on_delete after its 15 s margin: Delete won't wait.
    return LambdaContext(timeout_seconds=20)


@pytest.fixture
def invoke(
    handler_module: ModuleType, cfn_responses: CfnResponses, context: LambdaContext
) -> Invoke:
    """Run the handler on an event and return the one body it sent to the ResponseURL."""

    def run(event: dict[str, Any]) -> dict[str, Any]:
        before = len(cfn_responses.bodies)
        handler_module.handler(event, context)
        assert len(cfn_responses.bodies) == before + 1, "expected exactly one response"
        return cfn_responses.last

    return run
