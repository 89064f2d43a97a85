"""Custom::SecretEnvironment's `Follow` property and `Definition` attribute: what the rotation
follower resolves again, stated once by the resource's own Variables."""

from __future__ import annotations

import json

import pytest

from secret_environment import core
from tests.functions.secret_environment.seeds import Invoke, Secrets
from tests.functions.secret_environment.test_handler import assert_no_secret_in, event_for


def test_follow_true_answers_the_definition_of_the_variables_and_the_target(
    secrets: Secrets, invoke: Invoke
) -> None:
    body = invoke(event_for("create", secrets, Follow="true"))

    assert body["Status"] == "SUCCESS", body["Reason"]
    definition = json.loads(body["Data"]["Definition"])
    assert definition == {
        "TargetSecretArn": secrets.target_arn,
        "Variables": [
            {**variable, "Encode": variable.get("Encode", "none")}
            for variable in secrets.variables()
        ],
    }
    assert_no_secret_in(json.dumps(body))


def test_without_follow_there_is_no_definition(secrets: Secrets, invoke: Invoke) -> None:
    body = invoke(event_for("create", secrets, Follow="false"))

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert "Definition" not in body["Data"]


def test_turning_follow_on_is_an_update_in_place_that_writes_no_new_version(
    secrets: Secrets, invoke: Invoke
) -> None:
    created = invoke(event_for("create", secrets))
    event = event_for("update", secrets, Generation="1", Follow="true")
    updated = invoke(event)

    assert updated["Status"] == "SUCCESS", updated["Reason"]
    assert updated["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert updated["Data"]["Fingerprint"] == created["Data"]["Fingerprint"]
    assert "Definition" in updated["Data"]
    assert len(secrets.target_versions()) == 1


def test_follow_with_plain_text_is_refused_with_the_reason(
    secrets: Secrets, invoke: Invoke
) -> None:
    body = invoke(event_for("create_plain_text", secrets, Follow="true"))

    assert body["Status"] == "FAILED"
    assert "Follow needs Delivery SecretReference" in body["Reason"]


@pytest.mark.parametrize("value", ["yes", "1", "TRUE", ""])
def test_follow_accepts_only_true_or_false(secrets: Secrets, invoke: Invoke, value: str) -> None:
    body = invoke(event_for("create", secrets, Follow=value))

    assert body["Status"] == "FAILED"
    assert "Follow must be true or false" in body["Reason"]


def test_definition_parses_back_to_the_same_properties() -> None:
    raw = {
        "Delivery": "SecretReference",
        "TargetSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:target-AbCdEf",
        "Follow": "true",
        "Variables": [
            {
                "Name": "DATABASE_URL",
                "SecretId": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf",
                "Template": "postgresql://{username}:{password}@{host}/{dbname}",
                "Encode": "url",
            },
            {"Name": "TOKEN", "SecretId": "token"},
        ],
    }
    properties = core.parse_properties(raw)

    again = core.parse_definition(core.definition(properties))

    assert again.variables == properties.variables
    assert again.target_secret_arn == properties.target_secret_arn
    assert again.delivery == "SecretReference"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not JSON"),
        ("[]", "an object with TargetSecretArn and Variables"),
        ('{"Variables": []}', "an object with TargetSecretArn and Variables"),
        (
            '{"TargetSecretArn": "nope", "Variables": [{"Name": "A", "SecretId": "s"}]}',
            "TargetSecretArn must be a Secrets Manager secret ARN",
        ),
        (
            '{"TargetSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:t-AbCdEf",'
            ' "Variables": []}',
            "Variables is empty",
        ),
    ],
)
def test_a_bad_definition_is_refused_saying_why(text: str, message: str) -> None:
    with pytest.raises(core.DefinitionError, match=message):
        core.parse_definition(text)


def test_a_definition_too_large_for_a_lambda_environment_is_refused() -> None:
    variables = [
        {"Name": f"V{n}", "SecretId": "arn:aws:secretsmanager:us-east-1:123456789012:secret:s"}
        for n in range(60)
    ]
    properties = core.parse_properties(
        {
            "TargetSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:t-AbCdEf",
            "Follow": "true",
            "Variables": variables,
        }
    )

    with pytest.raises(core.PropertyError, match="over the 3072 a follower's Lambda environment"):
        core.definition(properties)


def test_definition_is_a_reserved_variable_name() -> None:
    with pytest.raises(core.PropertyError, match="Name Definition is reserved"):
        core.parse_variables([{"Name": "Definition", "SecretId": "s"}])
