"""The database's contract with the rest of the stack: versions RDS still creates, a secret that
holds everything a driver needs, and a resolved environment that follows a replaced cluster."""

from __future__ import annotations

import json
from typing import Any

import cfnlint.api  # type: ignore[import-untyped]
import pytest

from bookapp.config import RDS_CA_BUNDLE
from harness.demo import DATABASE_URL_TEMPLATE
from tests.template.conftest import Case
from tests.template.render import expanded_template, render, source_template

GOOD_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/bookapp:1.0.0"
ALLOWED_VERSIONS = source_template()["Parameters"]["DatabaseEngineVersion"]["AllowedValues"]


def _cluster_findings(version: str) -> list[str]:
    # cfn-lint checks engine versions only on literal values, not through a parameter.
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Cluster": {
                "Type": "AWS::RDS::DBCluster",
                "DeletionPolicy": "Snapshot",
                "UpdateReplacePolicy": "Snapshot",
                "Properties": {
                    "Engine": "aurora-postgresql",
                    "EngineVersion": version,
                    "StorageEncrypted": True,
                    "ManageMasterUserPassword": True,
                    "MasterUsername": "admin_user",
                    "ServerlessV2ScalingConfiguration": {"MinCapacity": 0, "MaxCapacity": 4},
                },
            }
        },
    }
    matches = cfnlint.api.lint(
        json.dumps(template), config=cfnlint.api.ManualArgs(regions=["us-east-1"])
    )
    return [f"{m.rule.id} {m.message}" for m in matches if m.rule.id in {"E3690", "W3690"}]


@pytest.mark.parametrize("version", ALLOWED_VERSIONS)
def test_every_allowed_engine_version_is_one_rds_still_creates(version: str) -> None:
    assert _cluster_findings(version) == []


def test_the_version_check_flags_a_deprecated_version() -> None:
    assert any("deprecated" in finding for finding in _cluster_findings("16.6"))


def test_the_default_engine_version_is_allowed() -> None:
    parameter = source_template()["Parameters"]["DatabaseEngineVersion"]
    assert parameter["Default"] in ALLOWED_VERSIONS


def test_the_database_secret_carries_the_database_name_beside_the_username(case: Case) -> None:
    generated = case.stack.props("DatabaseSecret")["GenerateSecretString"]
    assert json.loads(generated["SecretStringTemplate"]) == {
        "username": "bookapp_admin",
        "dbname": "bookapp",
    }


def test_a_replaced_cluster_makes_the_environment_resolve_again(case: Case) -> None:
    generation: Any = case.stack.props("AppEnvironment")["Generation"]
    assert generation == {"Fn::Sub": "1/${DatabaseCluster}"}


def test_the_database_url_template_uses_fields_the_secret_holds() -> None:
    stack = render(expanded_template(), {"ImageUri": GOOD_IMAGE})
    [variable] = stack.props("AppEnvironment")["Variables"]
    fields = {"username", "password", "host", "port", "dbname"}
    template = variable["Template"]
    assert variable["Encode"] == "url"
    assert all("{" + field + "}" in template for field in fields)
    # The server is verified with the RDS bundle the image carries (app/Dockerfile); the app
    # itself refuses any other sslmode over TCP and adds require_auth=scram-sha-256.
    assert template.endswith(f"?sslmode=verify-full&sslrootcert={RDS_CA_BUNDLE}")
    # The rehearsal exercises the same URL with its own CA in place of the bundle.
    assert template == DATABASE_URL_TEMPLATE
