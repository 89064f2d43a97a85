"""The rules of Custom::SecretEnvironment, free of AWS and crhelper so they can be tested directly.

Parsing and validating the resource properties, rendering `Template`s, URL encoding, the
fingerprint, the App Runner references, the physical id and the 4096-byte response check all live
here. Every error message names the variable and the secret it concerns and never a value: the
messages become the `Reason` CloudFormation shows in stack events.

Update re-resolves everything and keeps the physical id; Delete has nothing to undo (the target
secret belongs to the template), so neither needs a rule of its own here.

With `Follow: "true"` the resource also answers `Definition`: its validated target and Variables as
JSON, without any value. The rotation follower (`secret_environment.rotation`) gets that text in its
environment and parses it back here (`parse_definition`), so both resolve the same Variables, which
the template states once.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import quote

type Delivery = Literal["SecretReference", "PlainText"]
type Encode = Literal["none", "url"]

SECRET_REFERENCE: Final = "SecretReference"  # noqa: S105 - a delivery mode, not a password
PLAIN_TEXT: Final = "PlainText"
DELIVERIES: Final[tuple[Delivery, ...]] = ("SecretReference", "PlainText")
ENCODINGS: Final[tuple[Encode, ...]] = ("none", "url")
FINGERPRINT_ATTRIBUTE: Final = "Fingerprint"
DEFINITION_ATTRIBUTE: Final = "Definition"
RESERVED_NAMES: Final = frozenset({FINGERPRINT_ATTRIBUTE, DEFINITION_ATTRIBUTE})
# Lambda's limit for all of a function's environment variables together is 4 KB; the definition
# travels in one of them and leaves room for the others.
MAX_DEFINITION_BYTES: Final = 3072

# CloudFormation rejects a custom resource response body larger than this.
MAX_RESPONSE_BYTES: Final = 4096
# Secrets Manager's limit for one SecretString.
MAX_SECRET_STRING_BYTES: Final = 65536
# crhelper cuts longer Reasons keeping only their tail; we keep the head, which names the variable.
MAX_REASON_CHARS: Final = 256

ALLOWED_PROPERTIES: Final = frozenset(
    {
        "ServiceToken",
        "ServiceTimeout",
        "Delivery",
        "TargetSecretArn",
        "Generation",
        "Follow",
        "Variables",
    }
)
ALLOWED_VARIABLE_KEYS: Final = frozenset({"Name", "SecretId", "Key", "Template", "Encode"})

NAME_PATTERN: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
RESERVED_NAME_PREFIX: Final = "AWSAPPRUNNER"
TARGET_SECRET_ARN_PATTERN: Final = re.compile(
    r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+"
)


class SecretEnvironmentError(Exception):
    """An error whose message is safe to show in stack events: it never holds a secret value."""


class PropertyError(SecretEnvironmentError):
    """The resource properties are wrong; the message says which and how."""


class ResolutionError(SecretEnvironmentError):
    """A secret does not have the shape a variable needs (not JSON, missing key, binary...)."""


class ResponseTooLargeError(SecretEnvironmentError):
    """The PlainText response would not fit in CloudFormation's 4096 bytes."""


@dataclass(frozen=True)
class Field:
    """A `{name}` placeholder in a Template."""

    name: str


type Segment = str | Field


@dataclass(frozen=True)
class Variable:
    """One entry of `Variables`, validated."""

    name: str
    secret_id: str
    key: str | None = None
    template: str | None = None
    encode: Encode = "none"
    segments: tuple[Segment, ...] = ()

    def definition(self) -> dict[str, str | None]:
        """What the template author wrote, for the fingerprint (no values)."""
        return {
            "Name": self.name,
            "SecretId": self.secret_id,
            "Key": self.key,
            "Template": self.template,
            "Encode": self.encode,
        }


@dataclass(frozen=True)
class Properties:
    """The validated `ResourceProperties`."""

    delivery: Delivery
    variables: tuple[Variable, ...]
    target_secret_arn: str | None = None
    generation: str | None = None
    follow: bool = False


@dataclass(frozen=True)
class SecretRead:
    """What GetSecretValue returned for one SecretId. The value is kept out of repr()."""

    arn: str
    version_id: str
    secret_string: str | None = field(default=None, repr=False)
    is_binary: bool = False


# --- properties -------------------------------------------------------------------------------


def parse_properties(raw: Mapping[str, Any]) -> Properties:
    """Validate `ResourceProperties` and return them typed; PropertyError on the first fault."""
    if not isinstance(raw, Mapping):
        raise PropertyError("ResourceProperties must be an object")
    unknown = sorted(set(raw) - ALLOWED_PROPERTIES)
    if unknown:
        raise PropertyError(
            f"unknown property {', '.join(map(repr, unknown))}; allowed: "
            + ", ".join(sorted(ALLOWED_PROPERTIES - {"ServiceToken", "ServiceTimeout"}))
        )

    delivery_raw = raw.get("Delivery", SECRET_REFERENCE)
    if delivery_raw not in DELIVERIES:
        raise PropertyError(f"Delivery must be SecretReference or PlainText, not {delivery_raw!r}")
    delivery: Delivery = delivery_raw

    target = raw.get("TargetSecretArn")
    if target is not None and (
        not isinstance(target, str) or not TARGET_SECRET_ARN_PATTERN.fullmatch(target)
    ):
        raise PropertyError(f"TargetSecretArn must be a Secrets Manager secret ARN, not {target!r}")
    if delivery == SECRET_REFERENCE and target is None:
        raise PropertyError(
            "TargetSecretArn is required with Delivery SecretReference: "
            "the secret that receives the resolved values"
        )

    generation = raw.get("Generation")
    if generation is not None and not isinstance(generation, str | int | float):
        raise PropertyError("Generation must be a string")

    follow_raw = raw.get("Follow", "false")
    if follow_raw not in ("true", "false", True, False):
        raise PropertyError(f"Follow must be true or false, not {follow_raw!r}")
    follow = follow_raw in ("true", True)
    if follow and delivery != SECRET_REFERENCE:
        raise PropertyError(
            "Follow needs Delivery SecretReference: a follower can only write the target secret; "
            "PlainText values are baked into the services"
        )

    variables = parse_variables(raw.get("Variables"))
    if delivery == SECRET_REFERENCE and target is not None:
        for variable in variables:
            if variable.secret_id == target:
                raise PropertyError(
                    f"variable {variable.name}: SecretId {variable.secret_id} is the "
                    "TargetSecretArn; the target must be a secret of its own"
                )
    return Properties(
        delivery=delivery,
        variables=variables,
        target_secret_arn=target,
        generation=None if generation is None else str(generation),
        follow=follow,
    )


def parse_variables(raw: object) -> tuple[Variable, ...]:
    """Validate the `Variables` list: names, sources, Key/Template/Encode, uniqueness."""
    if raw is None:
        raise PropertyError("Variables is required: a list of {Name, SecretId, Key|Template}")
    if not isinstance(raw, list):
        raise PropertyError("Variables must be a list")
    if not raw:
        raise PropertyError("Variables is empty: give at least one variable")
    variables: list[Variable] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw):
        variable = parse_variable(index, entry)
        if variable.name in seen:
            raise PropertyError(
                f"Variables[{index}]: Name {variable.name} is used twice (secret "
                f"{variable.secret_id}); names must be unique"
            )
        seen.add(variable.name)
        variables.append(variable)
    return tuple(variables)


def parse_variable(index: int, raw: object) -> Variable:
    """Validate one entry of `Variables`."""
    where = f"Variables[{index}]"
    if not isinstance(raw, Mapping):
        raise PropertyError(f"{where} must be an object with Name and SecretId")
    name = raw.get("Name")
    secret_id = raw.get("SecretId")
    if isinstance(name, str) and name:
        where = f"{where} ({name})"
    if isinstance(secret_id, str) and secret_id:
        where = f"{where}, secret {secret_id}"
    unknown = sorted(set(raw) - ALLOWED_VARIABLE_KEYS)
    if unknown:
        raise PropertyError(
            f"{where}: unknown key {', '.join(map(repr, unknown))}; "
            "allowed: Name, SecretId, Key, Template, Encode"
        )
    if not isinstance(name, str) or not name:
        raise PropertyError(f"{where}: Name is required")
    check_name(name, where)
    if not isinstance(secret_id, str) or not secret_id:
        raise PropertyError(f"{where}: SecretId is required")

    key = raw.get("Key")
    template = raw.get("Template")
    if key is not None and template is not None:
        raise PropertyError(f"{where}: give Key or Template, not both")
    if key is not None and (not isinstance(key, str) or not key):
        raise PropertyError(f"{where}: Key must be a non-empty string")
    segments: tuple[Segment, ...] = ()
    if template is not None:
        if not isinstance(template, str) or not template:
            raise PropertyError(f"{where}: Template must be a non-empty string")
        try:
            segments = parse_template(template)
        except PropertyError as error:
            raise PropertyError(f"{where}: Template {error}") from None

    encode = raw.get("Encode", "none")
    if encode not in ENCODINGS:
        raise PropertyError(f"{where}: Encode must be none or url, not {encode!r}")
    return Variable(
        name=name,
        secret_id=secret_id,
        key=key,
        template=template,
        encode=encode,
        segments=segments,
    )


def check_name(name: str, where: str) -> None:
    """Environment variable names App Runner accepts, and none that clash with our attributes."""
    if not NAME_PATTERN.fullmatch(name):
        raise PropertyError(f"{where}: Name must match ^[A-Za-z_][A-Za-z0-9_]*$, not {name!r}")
    if name.upper().startswith(RESERVED_NAME_PREFIX):
        raise PropertyError(f"{where}: Name must not start with {RESERVED_NAME_PREFIX} (reserved)")
    if name in RESERVED_NAMES:
        raise PropertyError(f"{where}: Name {name} is reserved for the attribute")


# --- templates and encoding ----------------------------------------------------------------------


def parse_template(text: str) -> tuple[Segment, ...]:
    """Split a Template into literal text and `{field}`s; `{{` and `}}` are literal braces."""
    segments: list[Segment] = []
    literal: list[str] = []
    position = 0
    while position < len(text):
        char = text[position]
        if text.startswith("{{", position) or text.startswith("}}", position):
            literal.append(char)
            position += 2
        elif char == "{":
            end = text.find("}", position + 1)
            if end == -1:
                raise PropertyError(f"has an unclosed '{{' at position {position}")
            name = text[position + 1 : end]
            if not name or "{" in name or name != name.strip():
                raise PropertyError(
                    f"has an invalid field at position {position}: write {{key}}, "
                    "or {{ and }} for literal braces"
                )
            if literal:
                segments.append("".join(literal))
                literal = []
            segments.append(Field(name))
            position = end + 1
        elif char == "}":
            raise PropertyError(
                f"has a lone '}}' at position {position}: write }}}} for a literal brace"
            )
        else:
            literal.append(char)
            position += 1
    if literal:
        segments.append("".join(literal))
    return tuple(segments)


def template_fields(segments: Iterable[Segment]) -> list[str]:
    return [segment.name for segment in segments if isinstance(segment, Field)]


def encode_value(value: str, encode: Encode) -> str:
    """Percent-encode every character outside RFC 3986's unreserved set (UTF-8 for non-ASCII).

    With safe="" the reserved characters `@ : / ? # %` and `+` are all encoded, so user, password,
    host and database name parse back exactly, whatever they contain.
    """
    if encode == "url":
        return quote(value, safe="")
    return value


def render(segments: Iterable[Segment], fields: Mapping[str, str], encode: Encode) -> str:
    """Substitute the fields (already text) into the template, encoding each if asked."""
    return "".join(
        encode_value(fields[segment.name], encode) if isinstance(segment, Field) else segment
        for segment in segments
    )


def scalar_text(value: object) -> str | None:
    """The text form of a JSON scalar, or None when the value is null, an object or a list."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return None


# --- resolution ---------------------------------------------------------------------------------


def secret_ids(variables: Iterable[Variable]) -> dict[str, list[str]]:
    """Each distinct SecretId, in order of first use, with the variables that use it."""
    users: dict[str, list[str]] = {}
    for variable in variables:
        users.setdefault(variable.secret_id, []).append(variable.name)
    return users


def resolve(variables: Sequence[Variable], reads: Mapping[str, SecretRead]) -> dict[str, str]:
    """Compute every variable's value from the secrets read; raise ResolutionError naming it."""
    documents: dict[str, Mapping[str, object]] = {}
    values: dict[str, str] = {}
    for variable in variables:
        read = reads[variable.secret_id]
        where = f"variable {variable.name}: secret {variable.secret_id}"
        if read.is_binary or read.secret_string is None:
            raise ResolutionError(
                f"{where} holds a binary value (SecretBinary); only SecretString is supported"
            )
        if variable.key is None and variable.template is None:
            values[variable.name] = encode_value(read.secret_string, variable.encode)
            continue
        if variable.secret_id not in documents:
            documents[variable.secret_id] = json_object(read.secret_string, where)
        document = documents[variable.secret_id]
        if variable.key is not None:
            values[variable.name] = encode_value(
                field_text(document, variable.key, where, "Key"), variable.encode
            )
        else:
            fields = {
                name: field_text(document, name, where, "Template field")
                for name in template_fields(variable.segments)
            }
            values[variable.name] = render(variable.segments, fields, variable.encode)
    return values


def json_object(secret_string: str, where: str) -> Mapping[str, object]:
    try:
        document = json.loads(secret_string)
    except ValueError:
        # The decoder's message can quote the text around the error: never pass it on.
        raise ResolutionError(
            f"{where} is not JSON, so Key and Template cannot be used; "
            "omit both to take the whole SecretString"
        ) from None
    if not isinstance(document, dict):
        raise ResolutionError(f"{where} is JSON but not an object, so it has no keys")
    return document


def field_text(document: Mapping[str, object], key: str, where: str, what: str) -> str:
    if key not in document:
        raise ResolutionError(f"{where} has no JSON key {key!r} ({what})")
    text = scalar_text(document[key])
    if text is None:
        raise ResolutionError(
            f"{where}: JSON key {key!r} ({what}) is null, an object or a list, not text or a number"
        )
    return text


def target_document(values: Mapping[str, str]) -> str:
    """The JSON document written to the target secret: one key per variable."""
    document = json.dumps(dict(values), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    if len(document.encode("utf-8")) > MAX_SECRET_STRING_BYTES:
        raise ResolutionError(
            f"the resolved values of {', '.join(values)} exceed Secrets Manager's "
            f"{MAX_SECRET_STRING_BYTES} bytes for one secret"
        )
    return document


def same_document(current: str | None, wanted: str) -> bool:
    """True when the target secret already holds exactly these values."""
    if current is None:
        return False
    try:
        return bool(json.loads(current) == json.loads(wanted))
    except ValueError:
        return False


# --- attributes, ids and the response ---------------------------------------------------------


def fingerprint(variables: Iterable[Variable], reads: Mapping[str, SecretRead]) -> str:
    """sha256 over the variable definitions and the ARN and version id of each secret read.

    No value goes in, so the hash reveals nothing; a new secret version (a changed value) or a
    changed definition changes it.
    """
    material = [
        {
            **variable.definition(),
            "SecretArn": reads[variable.secret_id].arn,
            "VersionId": reads[variable.secret_id].version_id,
        }
        for variable in variables
    ]
    canonical = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def app_runner_reference(target_secret_arn: str, name: str) -> str:
    """The RuntimeEnvironmentSecrets value for one JSON key of the target secret."""
    return f"{target_secret_arn}:{name}::"


def physical_id(stack_id: str, logical_id: str) -> str:
    """Stable for a resource of a stack: `<stack name>-<logical id>-<12 hex of both>`."""
    parts = stack_id.rsplit(":", maxsplit=1)[-1].split("/")
    stack_name = parts[1] if len(parts) >= 3 and parts[0] == "stack" else "stack"
    digest = hashlib.sha256(f"{stack_id}\n{logical_id}".encode()).hexdigest()[:12]
    return f"{stack_name}-{logical_id}-{digest}"


def response_size(
    *,
    physical_resource_id: str,
    stack_id: str,
    request_id: str,
    logical_resource_id: str,
    data: Mapping[str, str],
    no_echo: bool,
    status: str = "SUCCESS",
    reason: str = "",
) -> int:
    """Bytes of the body crhelper will PUT: same keys, same order, same json.dumps defaults."""
    body = {
        "Status": status,
        "PhysicalResourceId": physical_resource_id,
        "StackId": stack_id,
        "RequestId": request_id,
        "LogicalResourceId": logical_resource_id,
        "Reason": reason,
        "Data": dict(data),
        "NoEcho": no_echo,
    }
    return len(json.dumps(body).encode("utf-8"))


def check_response_size(size: int, names: Iterable[str]) -> None:
    if size > MAX_RESPONSE_BYTES:
        raise ResponseTooLargeError(
            f"use Delivery SecretReference: the PlainText response would be {size} bytes, "
            f"over CloudFormation's {MAX_RESPONSE_BYTES} (variables {', '.join(names)})"
        )


def limit_reason(message: str) -> str:
    """Keep a Reason within what crhelper passes unchanged, cutting at the end."""
    if len(message) <= MAX_REASON_CHARS:
        return message
    return message[: MAX_REASON_CHARS - 3] + "..."


# --- the definition a follower resolves again ----------------------------------------------------


class DefinitionError(SecretEnvironmentError):
    """The Definition text a follower was given is not one this resource answers."""


def definition(properties: Properties) -> str:
    """The `Definition` attribute: target and Variables as validated, no value (JSON, sorted)."""
    if properties.target_secret_arn is None:
        raise PropertyError("Follow needs TargetSecretArn: the secret a follower writes")
    document = {
        "TargetSecretArn": properties.target_secret_arn,
        "Variables": [
            {key: value for key, value in variable.definition().items() if value is not None}
            for variable in properties.variables
        ],
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    size = len(text.encode("utf-8"))
    if size > MAX_DEFINITION_BYTES:
        raise PropertyError(
            f"Follow: the Definition of these Variables is {size} bytes, over the "
            f"{MAX_DEFINITION_BYTES} a follower's Lambda environment can hold"
        )
    return text


def parse_definition(text: str) -> Properties:
    """Properties from a `Definition` text, validated by the same rules as the resource's own."""
    try:
        document = json.loads(text)
    except ValueError:
        raise DefinitionError("the Definition is not JSON") from None
    if not isinstance(document, dict) or set(document) != {"TargetSecretArn", "Variables"}:
        raise DefinitionError("the Definition must be an object with TargetSecretArn and Variables")
    try:
        return parse_properties(
            {
                "Delivery": SECRET_REFERENCE,
                "TargetSecretArn": document["TargetSecretArn"],
                "Variables": document["Variables"],
                "Follow": "true",
            }
        )
    except PropertyError as error:
        raise DefinitionError(f"the Definition is not valid: {error}") from None
