"""Custom::SecretEnvironment through `handler(event, context)` against moto's Secrets Manager.

Each test asserts the body sent to CloudFormation's ResponseURL: every lifecycle path, every bad
input answering FAILED with a Reason that names the variable and secret but no value.
"""

from __future__ import annotations

import importlib
import json
import re
from types import ModuleType
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest

from secret_environment import core
from tests.functions.secret_environment.seeds import (
    API_TOKEN,
    DB_HOST,
    DB_NAME,
    DB_PASSWORD,
    DB_USERNAME,
    SECRET_VALUES,
    Invoke,
    Secrets,
    database_secret,
    event_for,
)
from tests.support.events import load_event

STACK_ID = (
    "arn:aws:cloudformation:us-east-1:123456789012:stack/bookapp/"
    "5b8a2f10-ca9e-11f0-8de9-0a1b2c3d4e5f"
)
PHYSICAL_ID = core.physical_id(STACK_ID, "AppEnvironment")


def assert_no_secret_in(text: str, *values: str) -> None:
    for value in values or SECRET_VALUES:
        assert value not in text
        assert json.dumps(value)[1:-1] not in text


def expected_url(password: str = DB_PASSWORD) -> str:
    return (
        f"postgresql://{quote(DB_USERNAME, safe='')}:{quote(password, safe='')}@{DB_HOST}:5432/"
        f"{DB_NAME}?sslmode=require"
    )


# --- Create --------------------------------------------------------------------------------------


def test_create_with_secret_reference_writes_the_target_and_answers_app_runner_references(
    secrets: Secrets, invoke: Invoke
) -> None:
    body = invoke(event_for("create", secrets))

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == PHYSICAL_ID
    assert body["NoEcho"] is False
    assert body["Data"] == {
        "DATABASE_URL": f"{secrets.target_arn}:DATABASE_URL::",
        "DB_PASSWORD": f"{secrets.target_arn}:DB_PASSWORD::",
        "API_TOKEN": f"{secrets.target_arn}:API_TOKEN::",
        "Fingerprint": body["Data"]["Fingerprint"],
    }
    assert re.fullmatch(r"[0-9a-f]{64}", body["Data"]["Fingerprint"])
    assert secrets.target_value() == {
        "DATABASE_URL": expected_url(),
        "DB_PASSWORD": DB_PASSWORD,
        "API_TOKEN": API_TOKEN,
    }
    assert_no_secret_in(json.dumps(body))


def test_create_with_plain_text_answers_the_values_with_no_echo(
    secrets: Secrets, invoke: Invoke
) -> None:
    body = invoke(event_for("create_plain_text", secrets))

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == PHYSICAL_ID
    assert body["NoEcho"] is True
    assert body["Data"] == {
        "DATABASE_URL": expected_url(),
        "DB_PASSWORD": DB_PASSWORD,
        "API_TOKEN": API_TOKEN,
        "Fingerprint": body["Data"]["Fingerprint"],
    }
    assert secrets.target_versions() == []


def test_plain_text_and_secret_reference_give_the_same_fingerprint(
    secrets: Secrets, invoke: Invoke
) -> None:
    reference = invoke(event_for("create", secrets))
    plain = invoke(event_for("create_plain_text", secrets))

    assert reference["Data"]["Fingerprint"] == plain["Data"]["Fingerprint"]


def test_no_echo_does_not_leak_into_the_next_request_of_a_warm_function(
    secrets: Secrets, invoke: Invoke
) -> None:
    assert invoke(event_for("create_plain_text", secrets))["NoEcho"] is True

    assert invoke(event_for("create", secrets))["NoEcho"] is False


def test_duplicate_create_gives_the_same_answer_and_writes_no_second_version(
    secrets: Secrets, invoke: Invoke
) -> None:
    first = invoke(event_for("create", secrets))
    second = invoke(event_for("create", secrets))

    assert first["Status"] == second["Status"] == "SUCCESS"
    assert first["PhysicalResourceId"] == second["PhysicalResourceId"]
    assert first["Data"] == second["Data"]
    assert len(secrets.target_versions()) == 1


def test_create_without_service_timeout_or_generation_succeeds(
    secrets: Secrets, invoke: Invoke
) -> None:
    body = invoke(event_for("create", secrets, ServiceTimeout=None, Generation=None))

    assert body["Status"] == "SUCCESS", body["Reason"]


# --- Update --------------------------------------------------------------------------------------


def test_update_in_place_keeps_the_physical_id_and_rewrites_a_rotated_value(
    secrets: Secrets, invoke: Invoke
) -> None:
    created = invoke(event_for("create", secrets))
    rotated = "n3w/p@ss#word"
    secrets.client.put_secret_value(
        SecretId=secrets.database_arn, SecretString=database_secret(rotated)
    )

    updated = invoke(event_for("update", secrets))

    assert updated["Status"] == "SUCCESS", updated["Reason"]
    assert updated["PhysicalResourceId"] == PHYSICAL_ID
    assert updated["Data"]["Fingerprint"] != created["Data"]["Fingerprint"]
    assert secrets.target_value()["DB_PASSWORD"] == rotated
    assert secrets.target_value()["DATABASE_URL"] == expected_url(rotated)
    assert len(secrets.target_versions()) == 2
    assert_no_secret_in(json.dumps(updated), rotated)


def test_update_with_unchanged_values_keeps_the_fingerprint_and_writes_no_version(
    secrets: Secrets, invoke: Invoke
) -> None:
    created = invoke(event_for("create", secrets))

    updated = invoke(event_for("update", secrets))

    assert updated["Status"] == "SUCCESS", updated["Reason"]
    assert updated["Data"] == created["Data"]
    assert len(secrets.target_versions()) == 1


def test_update_keeps_the_physical_id_it_was_given(secrets: Secrets, invoke: Invoke) -> None:
    event = event_for("update", secrets)
    event["PhysicalResourceId"] = "issued-by-an-older-version"

    body = invoke(event)

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == "issued-by-an-older-version"


def test_update_from_secret_reference_to_plain_text_is_in_place(
    secrets: Secrets, invoke: Invoke
) -> None:
    invoke(event_for("create", secrets))

    body = invoke(event_for("update_plain_text", secrets))

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == PHYSICAL_ID
    assert body["NoEcho"] is True
    assert body["Data"]["DB_PASSWORD"] == DB_PASSWORD


def test_update_from_plain_text_to_secret_reference_writes_the_target(
    secrets: Secrets, invoke: Invoke
) -> None:
    event = event_for("update", secrets)
    event["OldResourceProperties"]["Delivery"] = "PlainText"
    del event["OldResourceProperties"]["TargetSecretArn"]

    body = invoke(event)

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == PHYSICAL_ID
    assert body["NoEcho"] is False
    assert body["Data"]["API_TOKEN"] == f"{secrets.target_arn}:API_TOKEN::"
    assert secrets.target_value()["API_TOKEN"] == API_TOKEN


def test_failed_update_answers_failed_with_the_existing_physical_id(
    secrets: Secrets, invoke: Invoke
) -> None:
    body = invoke(event_for("update", secrets, Variables=[]))

    assert body["Status"] == "FAILED"
    assert body["PhysicalResourceId"] == PHYSICAL_ID
    assert body["Data"] == {}


# --- Delete --------------------------------------------------------------------------------------


def test_delete_succeeds_and_leaves_the_target_secret_to_cloudformation(
    secrets: Secrets, invoke: Invoke
) -> None:
    invoke(event_for("create", secrets))

    body = invoke(event_for("delete", secrets))

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == PHYSICAL_ID
    assert body["Data"] == {}
    assert secrets.target_value()["API_TOKEN"] == API_TOKEN


@pytest.mark.usefixtures("secretsmanager")
@pytest.mark.parametrize("name", ["delete", "delete_plain_text"])
def test_delete_succeeds_when_every_secret_is_gone(name: str, invoke: Invoke) -> None:
    body = invoke(load_event(f"secret_environment/{name}"))

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == PHYSICAL_ID


@pytest.mark.usefixtures("secretsmanager")
def test_delete_succeeds_even_with_properties_that_create_refused(invoke: Invoke) -> None:
    body = invoke(load_event("secret_environment/delete", Variables="not a list", Bogus="x"))

    assert body["Status"] == "SUCCESS", body["Reason"]


def test_delete_after_a_failed_create_succeeds_with_the_id_the_failure_answered(
    secrets: Secrets, invoke: Invoke
) -> None:
    failed = invoke(event_for("create", secrets, Delivery="Carrier pigeon"))
    assert failed["Status"] == "FAILED"
    assert failed["PhysicalResourceId"] == PHYSICAL_ID

    delete = event_for("delete", secrets)
    delete["PhysicalResourceId"] = failed["PhysicalResourceId"]
    body = invoke(delete)

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == failed["PhysicalResourceId"]


# --- bad input -----------------------------------------------------------------------------------


def test_unknown_secret_fails_naming_variable_and_secret(secrets: Secrets, invoke: Invoke) -> None:
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:nowhere-AbCdEf"
    variables = [*secrets.variables(), {"Name": "GHOST", "SecretId": missing}]

    body = invoke(event_for("create", secrets, Variables=variables))

    assert body["Status"] == "FAILED"
    assert "GHOST" in body["Reason"]
    assert missing in body["Reason"]
    assert "not found" in body["Reason"]
    assert body["Data"] == {}
    assert secrets.target_versions() == []


def test_secret_used_by_several_variables_is_named_with_all_of_them(
    secrets: Secrets, invoke: Invoke
) -> None:
    missing = "gone-secret"
    variables = [
        {"Name": "FIRST", "SecretId": missing, "Key": "a"},
        {"Name": "SECOND", "SecretId": missing, "Key": "b"},
    ]

    body = invoke(event_for("create", secrets, Variables=variables))

    assert body["Status"] == "FAILED"
    assert "variables FIRST, SECOND: secret gone-secret: not found" in body["Reason"]


SHAPE_FAILURES = [
    pytest.param(
        {"Name": "PLAIN_KEY", "SecretId": "api", "Key": "token"},
        "is not JSON",
        id="key-on-non-json-secret",
    ),
    pytest.param(
        {"Name": "PLAIN_TEMPLATE", "SecretId": "api", "Template": "x={token}"},
        "is not JSON",
        id="template-on-non-json-secret",
    ),
    pytest.param(
        {"Name": "NO_KEY", "SecretId": "db", "Key": "sslcert"},
        "has no JSON key 'sslcert'",
        id="missing-key",
    ),
    pytest.param(
        {"Name": "NO_FIELD", "SecretId": "db", "Template": "{username}@{region}"},
        "has no JSON key 'region' (Template field)",
        id="missing-template-field",
    ),
    pytest.param(
        {"Name": "BINARY", "SecretId": "binary"},
        "binary value",
        id="binary-secret",
    ),
    pytest.param(
        {"Name": "ARRAY", "SecretId": "array", "Key": "x"},
        "JSON but not an object",
        id="json-array-secret",
    ),
    pytest.param(
        {"Name": "NESTED", "SecretId": "nested", "Key": "inner"},
        "null, an object or a list",
        id="key-holding-an-object",
    ),
]


@pytest.mark.parametrize(("variable", "complaint"), SHAPE_FAILURES)
def test_secret_of_the_wrong_shape_fails_naming_variable_and_secret(
    variable: dict[str, str], complaint: str, secrets: Secrets, invoke: Invoke
) -> None:
    client = secrets.client
    ids = {
        "db": secrets.database_arn,
        "api": secrets.api_token_arn,
        "binary": client.create_secret(Name="binary", SecretBinary=API_TOKEN.encode())["ARN"],
        "array": client.create_secret(Name="array", SecretString=json.dumps([API_TOKEN]))["ARN"],
        "nested": client.create_secret(
            Name="nested", SecretString=json.dumps({"inner": {"token": API_TOKEN}})
        )["ARN"],
    }
    variable = {**variable, "SecretId": ids[variable["SecretId"]]}

    body = invoke(event_for("create_plain_text", secrets, Variables=[variable]))

    assert body["Status"] == "FAILED"
    assert complaint in body["Reason"]
    assert variable["Name"] in body["Reason"]
    assert variable["SecretId"] in body["Reason"]
    assert body["Data"] == {}
    assert_no_secret_in(body["Reason"])


PROPERTY_FAILURES = [
    pytest.param({"Variables": []}, "Variables is empty", id="empty-variables"),
    pytest.param({"Variables": None}, "Variables is required", id="missing-variables"),
    pytest.param({"Colour": "blue"}, "unknown property 'Colour'", id="unknown-property"),
    pytest.param(
        {"TargetSecretArn": None},
        "TargetSecretArn is required with Delivery SecretReference",
        id="missing-target",
    ),
    pytest.param({"Delivery": "Email"}, "Delivery must be", id="unknown-delivery"),
    pytest.param({"TargetSecretArn": "my-secret"}, "TargetSecretArn must be", id="target-not-arn"),
]


@pytest.mark.parametrize(("overrides", "complaint"), PROPERTY_FAILURES)
def test_bad_properties_fail_with_a_reason_that_says_what_is_wrong(
    overrides: dict[str, Any], complaint: str, secrets: Secrets, invoke: Invoke
) -> None:
    body = invoke(event_for("create", secrets, **overrides))

    assert body["Status"] == "FAILED"
    assert complaint in body["Reason"]
    assert body["Data"] == {}
    assert secrets.target_versions() == []


VARIABLE_FAILURES = [
    pytest.param(
        [{"Name": "TWICE", "SecretId": "db", "Key": "password"}] * 2,
        "TWICE is used twice",
        id="duplicate-name",
    ),
    pytest.param(
        [{"Name": "9LIVES", "SecretId": "db", "Key": "password"}],
        "Name must match",
        id="name-starting-with-a-digit",
    ),
    pytest.param(
        [{"Name": "DATABASE-URL", "SecretId": "db", "Key": "password"}],
        "Name must match",
        id="name-with-a-dash",
    ),
    pytest.param(
        [{"Name": "AWSAPPRUNNER_X", "SecretId": "db", "Key": "password"}],
        "must not start with AWSAPPRUNNER",
        id="reserved-prefix",
    ),
    pytest.param(
        [{"Name": "Fingerprint", "SecretId": "db", "Key": "password"}],
        "reserved for the attribute",
        id="name-of-the-fingerprint-attribute",
    ),
    pytest.param(
        [{"Name": "BOTH", "SecretId": "db", "Key": "password", "Template": "{password}"}],
        "give Key or Template, not both",
        id="key-and-template",
    ),
    pytest.param(
        [{"Name": "ENC", "SecretId": "db", "Key": "password", "Encode": "base64"}],
        "Encode must be none or url",
        id="unknown-encode",
    ),
    pytest.param(
        [{"Name": "EXTRA", "SecretId": "db", "Key": "password", "Default": "x"}],
        "unknown key 'Default'",
        id="unknown-variable-key",
    ),
    pytest.param(
        [{"Name": "BRACE", "SecretId": "db", "Template": "{password"}],
        "unclosed '{'",
        id="unclosed-template-field",
    ),
]


@pytest.mark.parametrize(("variables", "complaint"), VARIABLE_FAILURES)
def test_bad_variables_fail_naming_the_variable_and_its_secret(
    variables: list[dict[str, str]], complaint: str, secrets: Secrets, invoke: Invoke
) -> None:
    variables = [{**variable, "SecretId": secrets.database_arn} for variable in variables]

    body = invoke(event_for("create", secrets, Variables=variables))

    assert body["Status"] == "FAILED"
    assert complaint in body["Reason"]
    assert variables[0]["Name"] in body["Reason"]
    assert secrets.database_arn in body["Reason"]
    assert secrets.target_versions() == []


def test_target_that_is_also_a_source_is_refused_before_anything_is_written(
    secrets: Secrets, invoke: Invoke
) -> None:
    body = invoke(event_for("create", secrets, TargetSecretArn=secrets.database_arn))

    assert body["Status"] == "FAILED"
    assert "the target must be a secret of its own" in body["Reason"]
    value = secrets.client.get_secret_value(SecretId=secrets.database_arn)["SecretString"]
    assert value == database_secret()


def arn_forms(secrets: Secrets, full_arn: str) -> dict[str, str]:
    """The ways a template can name one secret: its name, its partial ARN, its full ARN."""
    name = secrets.client.describe_secret(SecretId=full_arn)["Name"]
    return {"name": name, "partial ARN": full_arn.removesuffix(full_arn[-7:]), "full ARN": full_arn}


def source_state(secrets: Secrets, arn: str) -> tuple[str, list[str]]:
    """A source secret's current value and every version id it has."""
    value = secrets.client.get_secret_value(SecretId=arn)["SecretString"]
    versions = secrets.client.list_secret_version_ids(SecretId=arn)["Versions"]
    return value, sorted(version["VersionId"] for version in versions)


SOURCE_FORMS = ["name", "partial ARN", "full ARN"]
TARGET_FORMS = ["partial ARN", "full ARN"]  # TargetSecretArn must be an ARN (tested above)


@pytest.mark.parametrize("target_form", TARGET_FORMS)
@pytest.mark.parametrize("source_form", SOURCE_FORMS)
@pytest.mark.parametrize("delivery", ["create", "update"])
def test_target_naming_a_source_in_any_form_is_refused_before_anything_is_written(
    source_form: str, target_form: str, delivery: str, secrets: Secrets, invoke: Invoke
) -> None:
    # The API token secret is the second source read: the check must cover every source.
    token = arn_forms(secrets, secrets.api_token_arn)
    variables = [
        *secrets.variables()[:2],
        {"Name": "API_TOKEN", "SecretId": token[source_form]},
    ]
    before = source_state(secrets, secrets.api_token_arn)

    body = invoke(
        event_for(delivery, secrets, Variables=variables, TargetSecretArn=token[target_form])
    )

    assert body["Status"] == "FAILED"
    assert "the target must be a secret of its own" in body["Reason"]
    assert token[target_form] in body["Reason"]
    assert source_state(secrets, secrets.api_token_arn) == before
    assert source_state(secrets, secrets.api_token_arn)[0] == API_TOKEN
    assert secrets.target_versions() == []


@pytest.mark.parametrize("target_form", TARGET_FORMS)
def test_target_given_as_a_partial_or_full_arn_of_its_own_secret_is_written(
    target_form: str, secrets: Secrets, invoke: Invoke
) -> None:
    target = arn_forms(secrets, secrets.target_arn)[target_form]

    body = invoke(event_for("create", secrets, TargetSecretArn=target))

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert secrets.target_value()["API_TOKEN"] == API_TOKEN
    assert source_state(secrets, secrets.api_token_arn)[0] == API_TOKEN


def test_target_whose_name_begins_with_a_sources_name_is_a_secret_of_its_own(
    secrets: Secrets, invoke: Invoke
) -> None:
    # "bookstack-api-token" is a prefix of this name (and of its ARNs), yet another secret.
    lookalike = secrets.client.create_secret(Name="bookstack-api-token-copy")["ARN"]
    variables = [{"Name": "API_TOKEN", "SecretId": "bookstack-api-token"}]

    body = invoke(event_for("create", secrets, Variables=variables, TargetSecretArn=lookalike))

    assert body["Status"] == "SUCCESS", body["Reason"]
    written = secrets.client.get_secret_value(SecretId=lookalike)["SecretString"]
    assert json.loads(written) == {"API_TOKEN": API_TOKEN}
    assert source_state(secrets, secrets.api_token_arn)[0] == API_TOKEN


def test_missing_target_secret_fails_naming_it(secrets: Secrets, invoke: Invoke) -> None:
    gone = "arn:aws:secretsmanager:us-east-1:123456789012:secret:deleted-target-AbCdEf"

    body = invoke(event_for("create", secrets, TargetSecretArn=gone))

    assert body["Status"] == "FAILED"
    assert f"TargetSecretArn {gone}: not found" in body["Reason"]


# --- the 4096-byte limit ------------------------------------------------------------------------


def test_plain_text_response_of_exactly_4096_bytes_succeeds_and_one_more_byte_is_refused(
    secrets: Secrets, invoke: Invoke
) -> None:
    variables = [{"Name": "BIG", "SecretId": secrets.api_token_arn}]
    probe = invoke(event_for("create_plain_text", secrets, Variables=variables))
    # Re-serialised the way crhelper does, the body has the length CloudFormation receives.
    overhead = len(json.dumps(probe)) - len(API_TOKEN)

    secrets.client.put_secret_value(
        SecretId=secrets.api_token_arn, SecretString="x" * (4096 - overhead)
    )
    fits = invoke(event_for("create_plain_text", secrets, Variables=variables))
    secrets.client.put_secret_value(
        SecretId=secrets.api_token_arn, SecretString="x" * (4097 - overhead)
    )
    refused = invoke(event_for("create_plain_text", secrets, Variables=variables))

    assert fits["Status"] == "SUCCESS", fits["Reason"]
    assert len(json.dumps(fits)) == 4096
    assert refused["Status"] == "FAILED"
    assert refused["Reason"].startswith("use Delivery SecretReference")
    assert "4097 bytes" in refused["Reason"]
    assert "BIG" in refused["Reason"]
    assert refused["Data"] == {}


def test_values_too_large_for_plain_text_fit_through_secret_reference(
    secrets: Secrets, invoke: Invoke
) -> None:
    big = "€" * 3000  # 6 bytes each once JSON-escaped
    secrets.client.put_secret_value(SecretId=secrets.api_token_arn, SecretString=big)

    refused = invoke(event_for("create_plain_text", secrets))
    accepted = invoke(event_for("create", secrets))

    assert refused["Status"] == "FAILED"
    assert "use Delivery SecretReference" in refused["Reason"]
    assert accepted["Status"] == "SUCCESS", accepted["Reason"]
    assert secrets.target_value()["API_TOKEN"] == big


# --- URL encoding end to end ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    ["p@ss:w/rd?#%+", "100%", "a b+c", "пароль-密码", "}{{}}", "%2F already%20encoded"],
)
def test_database_url_parses_back_to_the_exact_credentials(
    password: str, secrets: Secrets, invoke: Invoke
) -> None:
    secrets.client.put_secret_value(
        SecretId=secrets.database_arn, SecretString=database_secret(password)
    )

    body = invoke(event_for("create_plain_text", secrets))

    url = urlsplit(body["Data"]["DATABASE_URL"])
    assert url.scheme == "postgresql"
    assert unquote(url.username or "") == DB_USERNAME
    assert unquote(url.password or "") == password
    assert url.hostname == DB_HOST
    assert url.port == 5432
    assert unquote(url.path.removeprefix("/")) == DB_NAME
    assert url.query == "sslmode=require"
    assert url.fragment == ""


# --- start-up ------------------------------------------------------------------------------------


def test_unknown_log_level_fails_every_request_with_a_clear_reason(
    monkeypatch: pytest.MonkeyPatch, handler_module: ModuleType, secrets: Secrets, invoke: Invoke
) -> None:
    monkeypatch.setenv("LOG_LEVEL", "CHATTY")
    try:
        importlib.reload(handler_module)
        body = invoke(event_for("create", secrets))
    finally:
        monkeypatch.delenv("LOG_LEVEL")
        importlib.reload(handler_module)

    assert body["Status"] == "FAILED"
    assert "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL" in body["Reason"]
    assert secrets.target_versions() == []
