"""The pure rules of Custom::SecretEnvironment, without AWS: properties, templates, URL encoding,
fingerprint, physical id and the response size as crhelper serialises it."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from crhelper import CfnResource

from secret_environment import core
from secret_environment.core import Field, SecretRead, Variable

DB = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"
TARGET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:env-GhIjKl"


def props(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:f",
        "ServiceTimeout": "300",
        "Delivery": "SecretReference",
        "TargetSecretArn": TARGET,
        "Variables": [{"Name": "DB_PASSWORD", "SecretId": DB, "Key": "password"}],
    }
    for key, value in overrides.items():
        if value is None:
            base.pop(key, None)
        else:
            base[key] = value
    return base


def read(value: str | None, version: str = "v1", arn: str = DB) -> SecretRead:
    return SecretRead(arn=arn, version_id=version, secret_string=value, is_binary=value is None)


# --- properties ----------------------------------------------------------------------------------


def test_delivery_defaults_to_secret_reference_and_encode_to_none() -> None:
    parsed = core.parse_properties(props(Delivery=None))

    assert parsed.delivery == "SecretReference"
    assert parsed.variables[0].encode == "none"
    assert parsed.target_secret_arn == TARGET


def test_plain_text_needs_no_target_secret() -> None:
    parsed = core.parse_properties(props(Delivery="PlainText", TargetSecretArn=None))

    assert parsed.delivery == "PlainText"
    assert parsed.target_secret_arn is None


@pytest.mark.parametrize(("generation", "expected"), [("7", "7"), (7, "7"), (None, None)])
def test_generation_is_any_string(generation: object, expected: str | None) -> None:
    assert core.parse_properties(props(Generation=generation)).generation == expected


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"Variables": None}, "Variables is required"),
        ({"Variables": "DATABASE_URL"}, "Variables must be a list"),
        ({"Variables": []}, "Variables is empty"),
        ({"Variables": ["DATABASE_URL"]}, "Variables[0] must be an object"),
        ({"Colour": "blue", "Size": "L"}, "unknown property 'Colour', 'Size'"),
        ({"Delivery": "plaintext"}, "Delivery must be SecretReference or PlainText"),
        ({"TargetSecretArn": None}, "TargetSecretArn is required with Delivery SecretReference"),
        ({"TargetSecretArn": "env"}, "TargetSecretArn must be a Secrets Manager secret ARN"),
        (
            {"TargetSecretArn": "arn:aws:ssm:us-east-1:123456789012:parameter/x"},
            "TargetSecretArn must be a Secrets Manager secret ARN",
        ),
        ({"Generation": ["1"]}, "Generation must be a string"),
        (
            {"TargetSecretArn": DB},
            f"variable DB_PASSWORD: SecretId {DB} is the TargetSecretArn",
        ),
    ],
)
def test_bad_properties_are_refused_with_what_is_wrong(
    overrides: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(core.PropertyError) as raised:
        core.parse_properties(props(**overrides))

    assert complaint in str(raised.value)


@pytest.mark.parametrize(
    ("variable", "complaint"),
    [
        ({"SecretId": DB}, "Variables[0], secret " + DB + ": Name is required"),
        ({"Name": "X"}, "Variables[0] (X): SecretId is required"),
        ({"Name": "X", "SecretId": ""}, "Variables[0] (X): SecretId is required"),
        ({"Name": "X", "SecretId": DB, "Key": ""}, "Key must be a non-empty string"),
        ({"Name": "X", "SecretId": DB, "Template": ""}, "Template must be a non-empty string"),
        ({"Name": "X", "SecretId": DB, "Key": "a", "Template": "{a}"}, "not both"),
        ({"Name": "X", "SecretId": DB, "Encode": "URL"}, "Encode must be none or url"),
        ({"Name": "X", "SecretId": DB, "Value": "v"}, "unknown key 'Value'"),
        ({"Name": "X", "SecretId": DB, "Template": "{a"}, "Template has an unclosed"),
    ],
)
def test_bad_variables_are_refused_naming_variable_and_secret(
    variable: dict[str, str], complaint: str
) -> None:
    with pytest.raises(core.PropertyError) as raised:
        core.parse_properties(props(Variables=[variable]))

    assert complaint in str(raised.value)


def test_duplicate_names_are_refused_naming_the_second_use() -> None:
    variables = [
        {"Name": "TOKEN", "SecretId": DB, "Key": "a"},
        {"Name": "TOKEN", "SecretId": TARGET + "x", "Key": "b"},
    ]

    with pytest.raises(core.PropertyError, match=r"Variables\[1\]: Name TOKEN is used twice"):
        core.parse_properties(
            props(Variables=variables, TargetSecretArn=None, Delivery="PlainText")
        )


@pytest.mark.parametrize(
    "name", ["DATABASE_URL", "_private", "a", "A1_B2", "AWS_APP", "AWSAPPRUNNE", "fingerprint"]
)
def test_valid_names_are_accepted(name: str) -> None:
    core.check_name(name, "here")


@pytest.mark.parametrize(
    ("name", "complaint"),
    [
        ("1ST", "must match"),
        ("DATABASE-URL", "must match"),
        ("DATABASE URL", "must match"),
        ("ÜBER", "must match"),
        ("", "must match"),
        ("AWSAPPRUNNER", "must not start with AWSAPPRUNNER"),
        ("AWSAPPRUNNER_PORT", "must not start with AWSAPPRUNNER"),
        ("awsapprunner_x", "must not start with AWSAPPRUNNER"),
        ("Fingerprint", "reserved for the attribute"),
    ],
)
def test_invalid_names_are_refused(name: str, complaint: str) -> None:
    with pytest.raises(core.PropertyError, match=complaint):
        core.check_name(name, "here")


# --- templates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "segments"),
    [
        ("{password}", (Field("password"),)),
        ("plain", ("plain",)),
        ("a{x}b{y}", ("a", Field("x"), "b", Field("y"))),
        ("{{literal}}", ("{literal}",)),
        ("{{{x}}}", ("{", Field("x"), "}")),
        ('{{"user":"{username}"}}', ('{"user":"', Field("username"), '"}')),
        ("{dash-ed.key}", (Field("dash-ed.key"),)),
    ],
)
def test_templates_split_into_literals_and_fields(template: str, segments: tuple[Any]) -> None:
    assert core.parse_template(template) == segments


@pytest.mark.parametrize(
    ("template", "complaint"),
    [
        ("{", "unclosed '{' at position 0"),
        ("ab{cd", "unclosed '{' at position 2"),
        ("}", "lone '}' at position 0"),
        ("a}b", "lone '}' at position 1"),
        ("{}", "invalid field at position 0"),
        ("{ password }", "invalid field at position 0"),
        ("{a{b}", "invalid field at position 0"),
    ],
)
def test_malformed_templates_are_refused_with_the_position(template: str, complaint: str) -> None:
    with pytest.raises(core.PropertyError) as raised:
        core.parse_template(template)

    assert complaint in str(raised.value)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("s", "s"),
        ("", ""),
        (5432, "5432"),
        (1.5, "1.5"),
        (True, "true"),
        (False, "false"),
        (None, None),
        ({"a": 1}, None),
        ([1], None),
    ],
)
def test_json_scalars_become_text_and_others_do_not(value: object, text: str | None) -> None:
    assert core.scalar_text(value) == text


def variable(**fields: Any) -> Variable:
    template = fields.get("template")
    segments = core.parse_template(template) if template else ()
    return Variable(name=fields.pop("name", "V"), secret_id=DB, segments=segments, **fields)


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        ({}, '{"password":"p@ss","port":5432}'),
        ({"key": "password"}, "p@ss"),
        ({"key": "port"}, "5432"),
        ({"key": "password", "encode": "url"}, "p%40ss"),
        ({"template": "{password}:{port}"}, "p@ss:5432"),
        ({"template": "{password}:{port}", "encode": "url"}, "p%40ss:5432"),
        ({"template": "{{{password}}}"}, "{p@ss}"),
        ({"encode": "url"}, "%7B%22password%22%3A%22p%40ss%22%2C%22port%22%3A5432%7D"),
    ],
)
def test_resolve_takes_whole_secret_key_or_template(
    definition: dict[str, Any], expected: str
) -> None:
    secret = '{"password":"p@ss","port":5432}'

    values = core.resolve([variable(**definition)], {DB: read(secret)})

    assert values == {"V": expected}


def test_whole_secret_needs_no_json() -> None:
    assert core.resolve([variable()], {DB: read("not json {")}) == {"V": "not json {"}


@pytest.mark.parametrize(
    ("definition", "secret", "complaint"),
    [
        ({"key": "password"}, "hunter2", "is not JSON"),
        ({"template": "{password}"}, "hunter2", "is not JSON"),
        ({"key": "password"}, '["hunter2"]', "is JSON but not an object"),
        ({"key": "pass"}, '{"password":"hunter2"}', "has no JSON key 'pass' (Key)"),
        ({"template": "{user}"}, '{"password":"hunter2"}', "no JSON key 'user' (Template field)"),
        ({"key": "password"}, '{"password":null}', "null, an object or a list"),
        ({"key": "password"}, '{"password":["hunter2"]}', "null, an object or a list"),
        ({}, None, "binary value (SecretBinary)"),
        ({"key": "password"}, None, "binary value (SecretBinary)"),
    ],
)
def test_resolution_errors_name_variable_and_secret_but_no_value(
    definition: dict[str, Any], secret: str | None, complaint: str
) -> None:
    with pytest.raises(core.ResolutionError) as raised:
        core.resolve([variable(name="DB_PASSWORD", **definition)], {DB: read(secret)})

    message = str(raised.value)
    assert message.startswith(f"variable DB_PASSWORD: secret {DB}")
    assert complaint in message
    assert "hunter2" not in message


# --- URL encoding -------------------------------------------------------------------------------

HOSTILE = [
    "p@ss:w/rd?#",
    "%",
    "%25",
    "%zz",
    "a+b",
    "a b",
    " leading and trailing ",
    "пароль",
    "密码🔑",
    "back\\slash",
    "semi;colon&amp=eq",
    "quote'\"`",
    "[ipv6]",
    "~tilde-dot._",
    "tab\tnew\nline",
    "{{}}",
]
URL_TEMPLATE = "postgresql://{username}:{password}@{host}:{port}/{dbname}?sslmode=require"


def database_url(username: str, password: str, host: str, dbname: str) -> str:
    secret = json.dumps(
        {"username": username, "password": password, "host": host, "port": 5432, "dbname": dbname}
    )
    return core.resolve([variable(template=URL_TEMPLATE, encode="url")], {DB: read(secret)})["V"]


@pytest.mark.parametrize("value", HOSTILE)
def test_encoded_url_parses_back_to_the_exact_credentials(value: str) -> None:
    url = urlsplit(database_url(f"u{value}", value, "db.example.internal", f"d{value}"))

    assert url.scheme == "postgresql"
    assert unquote(url.username or "") == f"u{value}"
    assert unquote(url.password or "") == value
    assert url.hostname == "db.example.internal"
    assert url.port == 5432
    assert unquote(url.path.removeprefix("/")) == f"d{value}"
    assert url.query == "sslmode=require"
    assert url.fragment == ""


def _libpq() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("pq")
    return ctypes.CDLL(name) if name else None


class _ConnInfoOption(ctypes.Structure):
    _fields_ = [
        ("keyword", ctypes.c_char_p),
        ("envvar", ctypes.c_char_p),
        ("compiled", ctypes.c_char_p),
        ("val", ctypes.c_char_p),
        ("label", ctypes.c_char_p),
        ("dispchar", ctypes.c_char_p),
        ("dispsize", ctypes.c_int),
    ]


def libpq_parse(url: str) -> dict[str, str]:
    """What libpq (the parser under psycopg) makes of a connection URI."""
    libpq = _libpq()
    assert libpq is not None
    libpq.PQconninfoParse.restype = ctypes.POINTER(_ConnInfoOption)
    libpq.PQconninfoParse.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p)]
    error = ctypes.c_char_p()
    options = libpq.PQconninfoParse(url.encode(), ctypes.byref(error))
    assert options, error.value
    parsed: dict[str, str] = {}
    index = 0
    while options[index].keyword is not None:
        if options[index].val is not None:
            parsed[options[index].keyword.decode()] = options[index].val.decode()
        index += 1
    libpq.PQconninfoFree(options)
    return parsed


@pytest.mark.skipif(_libpq() is None, reason="libpq is not installed")
@pytest.mark.parametrize("value", HOSTILE)
def test_libpq_parses_the_encoded_url_to_the_exact_credentials(value: str) -> None:
    parsed = libpq_parse(database_url(f"u{value}", value, "db.example.internal", f"d{value}"))

    assert parsed["user"] == f"u{value}"
    assert parsed["password"] == value
    assert parsed["host"] == "db.example.internal"
    assert parsed["port"] == "5432"
    assert parsed["dbname"] == f"d{value}"
    assert parsed["sslmode"] == "require"


def test_without_encoding_a_hostile_password_breaks_the_url() -> None:
    secret = json.dumps({"username": "u", "password": "p@ss/w", "host": "h", "dbname": "d"})
    raw = core.resolve(
        [variable(template="postgresql://{username}:{password}@{host}/{dbname}")],
        {DB: read(secret)},
    )["V"]

    assert urlsplit(raw).hostname != "h"


# --- fingerprint, references, ids, sizes --------------------------------------------------------


def test_fingerprint_depends_on_versions_and_definitions_not_values() -> None:
    definitions = [variable(name="A", key="password")]
    base = core.fingerprint(definitions, {DB: read('{"password":"one"}')})

    assert base == core.fingerprint(definitions, {DB: read('{"password":"two"}')})
    assert base != core.fingerprint(definitions, {DB: read('{"password":"one"}', version="v2")})
    assert base != core.fingerprint(
        definitions, {DB: read('{"password":"one"}', arn=DB + "-other")}
    )
    assert base != core.fingerprint(
        [variable(name="A", key="password", encode="url")], {DB: read('{"password":"one"}')}
    )
    assert base != core.fingerprint(
        [variable(name="B", key="password")], {DB: read('{"password":"one"}')}
    )


def test_app_runner_reference_names_a_json_key_of_the_target() -> None:
    assert core.app_runner_reference(TARGET, "DATABASE_URL") == f"{TARGET}:DATABASE_URL::"


STACK = "arn:aws:cloudformation:us-east-1:123456789012:stack/bookstack/5b2a1c60-7b61-11e6"


def test_physical_id_is_stable_and_readable() -> None:
    first = core.physical_id(STACK, "AppEnvironment")

    assert first == core.physical_id(STACK, "AppEnvironment")
    assert first.startswith("bookstack-AppEnvironment-")
    assert first != core.physical_id(STACK, "OtherEnvironment")
    assert first != core.physical_id(STACK.replace("7b61", "7b62"), "AppEnvironment")


def test_physical_id_copes_with_an_unusual_stack_id() -> None:
    assert core.physical_id("local-stack", "AppEnvironment").startswith("stack-AppEnvironment-")


@pytest.mark.parametrize(
    "data",
    [{"A": "x"}, {"A": "€" * 10, "B": 'quote"back\\slash'}, {"Fingerprint": "f" * 64}],
)
def test_response_size_matches_the_body_crhelper_sends(data: dict[str, str]) -> None:
    sent: list[str] = []
    # Any: _send, crhelper's own serialiser, is not in its stubs.
    resource: Any = CfnResource(log_level="INFO", sleep_on_delete=0)
    resource.Status, resource.PhysicalResourceId, resource.StackId = "SUCCESS", "pid", STACK
    resource.RequestId, resource.LogicalResourceId = "req", "AppEnvironment"
    resource.Data, resource.NoEcho = dict(data), True
    resource._send(send_response=lambda _url, body, _ssl: sent.append(json.dumps(body)))

    size = core.response_size(
        physical_resource_id="pid",
        stack_id=STACK,
        request_id="req",
        logical_resource_id="AppEnvironment",
        data=data,
        no_echo=True,
    )

    assert size == len(sent[0].encode())


@pytest.mark.parametrize(("size", "refused"), [(4095, False), (4096, False), (4097, True)])
def test_responses_over_4096_bytes_are_refused_pointing_to_secret_reference(
    size: int, refused: bool
) -> None:
    if not refused:
        core.check_response_size(size, ["A"])
        return
    with pytest.raises(core.ResponseTooLargeError, match=r"^use Delivery SecretReference"):
        core.check_response_size(size, ["A"])


def test_target_document_is_canonical_json_and_same_document_ignores_formatting() -> None:
    document = core.target_document({"B": "2", "A": "€"})

    assert document == '{"A":"€","B":"2"}'
    assert core.same_document('{ "B": "2", "A": "\\u20ac" }', document)
    assert not core.same_document('{"A":"€"}', document)
    assert not core.same_document(None, document)
    assert not core.same_document("not json", document)


def test_target_document_over_secrets_manager_limit_is_refused() -> None:
    with pytest.raises(core.ResolutionError, match="exceed Secrets Manager's 65536 bytes"):
        core.target_document({"BIG": "x" * 65536})


def test_secret_ids_groups_variables_by_secret_in_first_use_order() -> None:
    variables = [
        variable(name="A"),
        Variable(name="B", secret_id=TARGET),
        variable(name="C"),
    ]

    assert core.secret_ids(variables) == {DB: ["A", "C"], TARGET: ["B"]}


@pytest.mark.parametrize(("length", "kept"), [(10, 10), (256, 256), (300, 256)])
def test_reasons_are_cut_to_what_crhelper_passes_unchanged(length: int, kept: int) -> None:
    message = "v" * length

    limited = core.limit_reason(message)

    assert len(limited) == kept
    assert limited.startswith("vvv")


def test_secret_read_repr_never_shows_the_value() -> None:
    assert "hunter2" not in repr(read('{"password":"hunter2"}'))
