"""Shared by the Custom::SecretEnvironment tests: the seeded secrets, their values, helpers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tests.support.events import load_event

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

# Values no log line, Reason or SecretReference response may contain.
DB_USERNAME = "app_user"
DB_PASSWORD = "p@ss:w/rd?#%+ sp€cial"
DB_HOST = "bookstack-db.cluster-abc123.us-east-1.rds.amazonaws.com"
DB_NAME = "bookapp"
API_TOKEN = "tok_3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"
SECRET_VALUES = (DB_PASSWORD, API_TOKEN)


def database_secret(password: str = DB_PASSWORD) -> str:
    return json.dumps(
        {
            "engine": "postgres",
            "username": DB_USERNAME,
            "password": password,
            "host": DB_HOST,
            "port": 5432,
            "dbname": DB_NAME,
        }
    )


@dataclass
class Secrets:
    """The seeded secrets of one test and the client that sees them."""

    client: SecretsManagerClient
    database_arn: str
    api_token_arn: str
    target_arn: str

    def variables(self) -> list[dict[str, str]]:
        """The three variables of the event files, pointed at the seeded secrets."""
        return [
            {
                "Name": "DATABASE_URL",
                "SecretId": self.database_arn,
                "Template": (
                    "postgresql://{username}:{password}@{host}:{port}/{dbname}?sslmode=require"
                ),
                "Encode": "url",
            },
            {"Name": "DB_PASSWORD", "SecretId": self.database_arn, "Key": "password"},
            {"Name": "API_TOKEN", "SecretId": self.api_token_arn},
        ]

    def target_versions(self) -> list[str]:
        versions = self.client.list_secret_version_ids(SecretId=self.target_arn)["Versions"]
        return [version["VersionId"] for version in versions]

    def target_value(self) -> dict[str, str]:
        value = self.client.get_secret_value(SecretId=self.target_arn)["SecretString"]
        document: dict[str, str] = json.loads(value)
        return document


def event_for(name: str, secrets: Secrets, **overrides: Any) -> dict[str, Any]:
    """An event file with its secrets pointed at the seeded ones (and its `Old` ones too)."""
    properties: dict[str, Any] = {"Variables": secrets.variables()}
    event = load_event(f"secret_environment/{name}")
    if "TargetSecretArn" in event["ResourceProperties"]:
        properties["TargetSecretArn"] = secrets.target_arn
    properties.update(overrides)
    event = load_event(f"secret_environment/{name}", **properties)
    old = event.get("OldResourceProperties")
    if old is not None:
        old["Variables"] = secrets.variables()
        if "TargetSecretArn" in old:
            old["TargetSecretArn"] = secrets.target_arn
    return event


type Invoke = Callable[[dict[str, Any]], dict[str, Any]]
