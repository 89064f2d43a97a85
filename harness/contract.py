"""The environment and secrets the built template gives the app's container, on either platform.

The rehearsal starts the app the way its compute platform would start it: with the variables and
secrets the built template (`.aws-sam/build`) states for the api service, not with a copy of them.
On App Runner that is `ApiService`'s RuntimeEnvironmentVariables and RuntimeEnvironmentSecrets; on
ECS Express it is the `PrimaryContainer` (Environment, Secrets) of the nested template that `sam
build` left in `.aws-sam/build/ExpressApiService/`, rendered with the parameters the parent passes
it. References CloudFormation would fill in (the job topic, Custom::SecretEnvironment's attributes,
the region) are filled from the rehearsal's stand-ins; a reference it has no stand-in for fails
naming the variable, so a new variable in the template cannot be silently left out here.

Secrets are read as both platforms read them when an instance or task starts: a reference is
`<secret-arn>` (the whole SecretString) or `<secret-arn>:<json-key>:<version-stage>:<version-id>`
(ECS's ValueFrom syntax, which App Runner accepts too), empty parts meaning the current version.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.cfn_template import Rendered, RenderError, render
from harness.lambda_runtime import TemplateError, load_template

# `make demo --platform` values and the template's ComputePlatform values.
PLATFORMS = {"app-runner": "AppRunner", "ecs-express": "EcsExpress"}
PLATFORM_LABELS = {"AppRunner": "App Runner", "EcsExpress": "ECS Express"}
# Where each platform's api service (the only service in shared mode) is stated.
API_SERVICE = {"AppRunner": "ApiService", "EcsExpress": "ExpressApiService"}
EXPRESS_SERVICE_TYPE = "AWS::ECS::ExpressGatewayService"
_PLACEHOLDER = re.compile(r"\$\{([^!}][^}]*)\}")
_SECRET_ARN_PARTS = 7  # arn:<partition>:secretsmanager:<region>:<account>:secret:<name-suffix>


class ContractError(ValueError):
    """The built template does not give the rehearsal a container contract it can start."""


@dataclass(frozen=True)
class ContainerContract:
    """One service's container as its platform would start it, before secrets are read."""

    platform: str
    service: str
    source: Path
    environment: dict[str, str]
    secrets: dict[str, str]

    @property
    def label(self) -> str:
        return PLATFORM_LABELS[self.platform]


@dataclass(frozen=True)
class SecretReference:
    """A parsed `<secret-arn>[:<json-key>[:<version-stage>[:<version-id>]]]`."""

    arn: str
    json_key: str = ""
    version_stage: str = ""
    version_id: str = ""


def parse_secret_reference(reference: str) -> SecretReference:
    """Splits a secret reference the way ECS reads `ValueFrom` (and App Runner its secrets)."""
    parts = reference.split(":")
    if (
        len(parts) < _SECRET_ARN_PARTS
        or len(parts) > _SECRET_ARN_PARTS + 3
        or parts[0] != "arn"
        or parts[2] != "secretsmanager"
        or parts[5] != "secret"
    ):
        raise ContractError(
            f"{reference!r} is not <secret-arn>[:<json-key>:<version-stage>:<version-id>]"
        )
    extra = [*parts[_SECRET_ARN_PARTS:], "", "", ""][:3]
    return SecretReference(":".join(parts[:_SECRET_ARN_PARTS]), *extra)


SecretReader = Callable[[SecretReference], str]


def resolve_secrets(contract: ContainerContract, read: SecretReader) -> dict[str, str]:
    """Each secret's value: the SecretString, or its JSON key, as the platform injects it."""
    values: dict[str, str] = {}
    for name, reference in contract.secrets.items():
        parsed = parse_secret_reference(reference)
        text = read(parsed)
        if not parsed.json_key:
            values[name] = text
            continue
        try:
            document = json.loads(text)
        except ValueError:
            raise ContractError(f"{name}: secret {parsed.arn} is not JSON") from None
        value = document.get(parsed.json_key) if isinstance(document, dict) else None
        if not isinstance(value, str):
            raise ContractError(
                f"{name}: secret {parsed.arn} has no string JSON key {parsed.json_key!r}"
            )
        values[name] = value
    return values


def _fill(value: Any, stand_ins: Mapping[str, str], where: str) -> str:
    """A resolved template value with CloudFormation's references replaced by stand-ins."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref" and isinstance(argument, str):
            return _stand_in(argument, stand_ins, where)
        if function == "Fn::GetAtt" and isinstance(argument, list):
            return _stand_in(".".join(str(a) for a in argument), stand_ins, where)
        if function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            filled = {k: _fill(v, stand_ins, where) for k, v in variables.items()}
            return _PLACEHOLDER.sub(
                lambda m: (
                    filled[m.group(1)]
                    if m.group(1) in filled
                    else _stand_in(m.group(1), stand_ins, where)
                ),
                text,
            )
    raise ContractError(f"{where}: cannot resolve {json.dumps(value)} outside CloudFormation")


def _stand_in(name: str, stand_ins: Mapping[str, str], where: str) -> str:
    if name not in stand_ins:
        raise ContractError(
            f"{where} comes from {name}, which the rehearsal has no stand-in for "
            f"(it has: {', '.join(sorted(stand_ins))})"
        )
    return stand_ins[name]


def _named(items: Any, key: str, service: str, kind: str) -> dict[str, Any]:
    if not isinstance(items, list):
        raise ContractError(f"{service}: {kind} is not a list")
    return {str(item["Name"]): item[key] for item in items}


def read_contract(
    build_dir: Path,
    platform: str,
    *,
    parameters: Mapping[str, str],
    stand_ins: Mapping[str, str],
) -> ContainerContract:
    """The api service's container on `platform` (AppRunner or EcsExpress) in the built template.

    `parameters` are the template's parameter values (ComputePlatform is set from `platform`);
    `stand_ins` map what CloudFormation would fill in (`JobTopic`, `AppEnvironment.DATABASE_URL`,
    `AWS::Region`, ...) to the rehearsal's values.
    """
    if platform not in API_SERVICE:
        raise ContractError(f"unknown compute platform {platform!r}: {sorted(API_SERVICE)}")
    path = build_dir / "template.yaml"
    if not path.exists():
        raise ContractError(f"{path} is missing: run `make build` (sam build) first")
    try:
        stack = render(
            load_template(path),
            {**parameters, "ComputePlatform": platform},
            base_dir=build_dir,
            load=load_template,
        )
    except (TemplateError, RenderError) as error:
        raise ContractError(f"{path}: {error}") from error
    service = API_SERVICE[platform]
    if service not in stack.resources:
        raise ContractError(f"{path}: no {service} with ComputePlatform {platform}")
    if platform == "AppRunner":
        image = stack.props(service)["SourceConfiguration"]["ImageRepository"]
        configuration = image["ImageConfiguration"]
        plain = _named(
            configuration.get("RuntimeEnvironmentVariables", []), "Value", service, "env"
        )
        secret = _named(configuration.get("RuntimeEnvironmentSecrets", []), "Value", service, "env")
        source = path
    else:
        container, source = _express_container(stack, service, build_dir)
        plain = _named(container.get("Environment", []), "Value", service, "Environment")
        secret = _named(container.get("Secrets", []), "ValueFrom", service, "Secrets")
    return ContainerContract(
        platform=platform,
        service=service,
        source=source,
        environment={k: _fill(v, stand_ins, f"{service} {k}") for k, v in plain.items()},
        secrets={k: _fill(v, stand_ins, f"{service} secret {k}") for k, v in secret.items()},
    )


def _express_container(
    stack: Rendered, service: str, build_dir: Path
) -> tuple[dict[str, Any], Path]:
    nested = stack.nested.get(service)
    location = stack.props(service).get("Location")
    if nested is None or not isinstance(location, str):
        raise ContractError(f"{service} is not a local nested template in {build_dir}")
    services = list(nested.of_type(EXPRESS_SERVICE_TYPE).values())
    if len(services) != 1:
        raise ContractError(f"{location}: {len(services)} {EXPRESS_SERVICE_TYPE}, expected 1")
    container: dict[str, Any] = services[0]["Properties"]["PrimaryContainer"]
    return container, build_dir / location
