"""The container contract the rehearsal reads from the built template, and how it reads secrets.

`make pytest` runs `sam build` first, so these tests read the real `.aws-sam/build`: the parent
template and the nested ECS Express template sam build copied beside it. Secrets are read from
moto's server, as the platforms read them from Secrets Manager.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.contract import (
    ContainerContract,
    ContractError,
    SecretReference,
    parse_secret_reference,
    read_contract,
    resolve_secrets,
)
from harness.demo import BUILD_DIR, TEMPLATE_PARAMETERS
from harness.moto_server import MotoServer, moto_client

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-env-AbCdEf"
TOPIC = "arn:aws:sns:us-east-1:123456789012:jobs"
RESULTS = "https://sqs.us-east-1.amazonaws.com/123456789012/job-results"
STAND_INS = {
    "JobTopic": TOPIC,
    "JobResultQueue": RESULTS,
    "AWS::Region": "us-east-1",
    "AppEnvironment.DATABASE_URL": f"{ARN}:DATABASE_URL::",
    "AppEnvironment.Fingerprint": "f" * 64,
}


@pytest.fixture(scope="module")
def build_dir() -> Path:
    if not (BUILD_DIR / "template.yaml").exists():
        pytest.fail(f"{BUILD_DIR} is missing: run `make build` (sam build) first")
    return BUILD_DIR


def contract(build_dir: Path, platform: str, **parameters: str) -> ContainerContract:
    return read_contract(
        build_dir,
        platform,
        parameters={**TEMPLATE_PARAMETERS, "ContainerPort": "8123", **parameters},
        stand_ins=STAND_INS,
    )


# --------------------------------------------------------------------------- secret references


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        (ARN, SecretReference(ARN)),
        (f"{ARN}:DATABASE_URL::", SecretReference(ARN, "DATABASE_URL")),
        (f"{ARN}:DATABASE_URL", SecretReference(ARN, "DATABASE_URL")),
        (f"{ARN}::AWSPREVIOUS:", SecretReference(ARN, "", "AWSPREVIOUS")),
        (f"{ARN}:KEY::v-1", SecretReference(ARN, "KEY", "", "v-1")),
    ],
)
def test_a_reference_is_split_as_ecs_reads_value_from(
    reference: str, expected: SecretReference
) -> None:
    assert parse_secret_reference(reference) == expected


@pytest.mark.parametrize(
    "reference",
    [
        "DATABASE_URL",
        "arn:aws:ssm:us-east-1:123456789012:parameter/x",
        f"{ARN}:a:b:c:d",
        "arn:aws:secretsmanager:us-east-1:123456789012:key:x",
    ],
)
def test_anything_else_is_refused_naming_the_reference(reference: str) -> None:
    with pytest.raises(ContractError, match="is not <secret-arn>"):
        parse_secret_reference(reference)


def test_secrets_are_read_as_the_platform_reads_them_whole_or_by_json_key(
    moto_server: MotoServer,
) -> None:
    secrets = moto_client("secretsmanager", moto_server.url)
    document = {"DATABASE_URL": "postgresql://u:p%40ss@h:5432/d", "OTHER": "x"}
    arn = secrets.create_secret(Name="contract-env", SecretString=json.dumps(document))["ARN"]
    plain = secrets.create_secret(Name="contract-token", SecretString="t0ken")["ARN"]
    wanted = ContainerContract(
        "EcsExpress",
        "ExpressApiService",
        Path("t.yaml"),
        {},
        {"DATABASE_URL": f"{arn}:DATABASE_URL::", "TOKEN": plain},
    )

    def read(reference: SecretReference) -> str:
        return str(secrets.get_secret_value(SecretId=reference.arn)["SecretString"])

    assert resolve_secrets(wanted, read) == {
        "DATABASE_URL": document["DATABASE_URL"],
        "TOKEN": "t0ken",
    }
    missing = ContainerContract(
        "AppRunner", "ApiService", Path("t.yaml"), {}, {"X": f"{arn}:NOPE::"}
    )
    with pytest.raises(ContractError, match=r"X: secret .* has no string JSON key 'NOPE'"):
        resolve_secrets(missing, read)


# --------------------------------------------------------------------------- the built template


@pytest.mark.parametrize(
    ("platform", "service", "source"),
    [
        ("AppRunner", "ApiService", "template.yaml"),
        ("EcsExpress", "ExpressApiService", "ExpressApiService/template.yaml"),
    ],
)
def test_each_platform_gives_the_api_service_the_same_contract(
    build_dir: Path, platform: str, service: str, source: str
) -> None:
    found = contract(build_dir, platform)
    assert (found.platform, found.service, found.source) == (platform, service, build_dir / source)
    assert found.environment == {
        "APP_ROLE": "all",
        "PORT": "8123",
        "JOB_PATH": "/jobs",
        "JOB_TOPIC_ARN": TOPIC,
        "JOB_RESULTS_QUEUE_URL": RESULTS,
        "ENABLE_OTEL": "false",
        "AWS_REGION": "us-east-1",
        "SECRETS_FINGERPRINT": "f" * 64,
    }
    assert found.secrets == {"DATABASE_URL": f"{ARN}:DATABASE_URL::"}


@pytest.mark.parametrize("platform", ["AppRunner", "EcsExpress"])
def test_plain_text_delivery_puts_the_value_in_the_environment(
    build_dir: Path, platform: str
) -> None:
    found = read_contract(
        build_dir,
        platform,
        parameters={**TEMPLATE_PARAMETERS, "SecretDelivery": "PlainText"},
        stand_ins={**STAND_INS, "AppEnvironment.DATABASE_URL": "postgresql://resolved"},
    )
    assert found.environment["DATABASE_URL"] == "postgresql://resolved"
    assert found.secrets == {}


@pytest.mark.parametrize("platform", ["AppRunner", "EcsExpress"])
def test_a_reference_without_a_stand_in_fails_naming_the_variable_and_the_reference(
    build_dir: Path, platform: str
) -> None:
    partial = {k: v for k, v in STAND_INS.items() if k != "JobTopic"}
    with pytest.raises(ContractError, match=r"JOB_TOPIC_ARN comes from JobTopic, which the"):
        read_contract(build_dir, platform, parameters=TEMPLATE_PARAMETERS, stand_ins=partial)


def test_an_unknown_platform_or_a_missing_build_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match=r"unknown compute platform 'Fargate'"):
        read_contract(tmp_path, "Fargate", parameters={}, stand_ins={})
    with pytest.raises(ContractError, match=r"run `make build`"):
        read_contract(tmp_path, "EcsExpress", parameters={}, stand_ins={})


def test_a_build_without_the_nested_express_template_is_refused(
    build_dir: Path, tmp_path: Path
) -> None:
    shutil.copy(build_dir / "template.yaml", tmp_path / "template.yaml")
    with pytest.raises(ContractError, match="cannot read template"):
        contract(tmp_path, "EcsExpress")
