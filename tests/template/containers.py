"""The app's container contract as each compute platform's services are given it in a rendering.

App Runner states a service's environment in `ImageConfiguration` (RuntimeEnvironmentVariables,
RuntimeEnvironmentSecrets); an ECS Express service, in the nested template's `PrimaryContainer`
(Environment, Secrets with ValueFrom). The template tests compare the two through this one shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.template.render import Rendered

APP_RUNNER_SERVICE = "AWS::AppRunner::Service"
EXPRESS_SERVICE = "AWS::ECS::ExpressGatewayService"


@dataclass(frozen=True)
class Container:
    """One service's container: where it is stated, its plain variables and its secrets."""

    service: str
    environment: dict[str, Any]
    secrets: dict[str, Any]

    @property
    def app_role(self) -> Any:
        return self.environment["APP_ROLE"]


def express_service(stack: Rendered, nested_stack: str) -> dict[str, Any]:
    """The properties of the AWS::ECS::ExpressGatewayService inside one nested stack."""
    [service] = stack.nested[nested_stack].of_type(EXPRESS_SERVICE).values()
    properties: dict[str, Any] = service["Properties"]
    return properties


def express_stacks(stack: Rendered) -> list[str]:
    """Logical ids of the nested stacks that hold an ECS Express service."""
    return sorted(name for name, nested in stack.nested.items() if nested.of_type(EXPRESS_SERVICE))


def containers(stack: Rendered) -> list[Container]:
    """Every service's container, App Runner's and ECS Express's, in logical-id order."""
    found: list[Container] = []
    for name in sorted(stack.of_type(APP_RUNNER_SERVICE)):
        image = stack.props(name)["SourceConfiguration"]["ImageRepository"]["ImageConfiguration"]
        found.append(
            Container(
                name,
                {v["Name"]: v["Value"] for v in image["RuntimeEnvironmentVariables"]},
                {v["Name"]: v["Value"] for v in image.get("RuntimeEnvironmentSecrets", [])},
            )
        )
    for name in express_stacks(stack):
        primary = express_service(stack, name)["PrimaryContainer"]
        found.append(
            Container(
                name,
                {v["Name"]: v["Value"] for v in primary.get("Environment", [])},
                {v["Name"]: v["ValueFrom"] for v in primary.get("Secrets", [])},
            )
        )
    return found
