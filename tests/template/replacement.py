"""Which parameters can make CloudFormation replace a resource, derived from the resource schemas.

A property listed in a schema's `createOnlyProperties` cannot change in place: a new value means a
new resource (new physical id) and the old one is deleted. A parameter forces a replacement of
resource R when it reaches a create-only property of R directly (Ref, a Sub placeholder, a FindInMap
key, or the condition of an Fn::If), or transitively: the property refers to another resource whose
own replacement the parameter can force, because that resource's id or attributes then change.
`conditionalCreateOnly` properties ("may require replacement") can be included on request. The
analysis runs on the SAM-expanded template with every Fn::If branch considered, so it holds for all
parameter combinations.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from typing import Any

from cfnlint.schema import PROVIDER_SCHEMA_MANAGER  # type: ignore[import-untyped]

_PLACEHOLDER = re.compile(r"\$\{([^!}][^}]*)\}")
_DYNAMIC_SECRET = re.compile(r"\{\{resolve:secretsmanager:\$\{(\w+)\}:SecretString:(\w+)")


@functools.cache
def create_only_paths(resource_type: str, conditional: bool = False) -> tuple[tuple[str, ...], ...]:
    if resource_type.startswith("Custom::") or resource_type.startswith(
        "AWS::CloudFormation::Custom"
    ):
        return ()
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type).schema
    pointers = list(schema.get("createOnlyProperties", []))
    if conditional:
        pointers += schema.get("conditionalCreateOnlyProperties", [])
    return tuple(tuple(p.split("/")[2:]) for p in pointers)


def _at(node: Any, path: tuple[str, ...]) -> Iterator[Any]:
    """Values at a schema path; an intrinsic on the way is returned whole (any value)."""
    if not path:
        yield node
        return
    if isinstance(node, dict) and len(node) == 1 and next(iter(node)).startswith("Fn::"):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from _at(item, path)
    elif isinstance(node, dict) and path[0] in node:
        yield from _at(node[path[0]], path[1:])


class ReplacementAnalysis:
    def __init__(self, template: Mapping[str, Any], conditional: bool = False) -> None:
        self.template = template
        self.parameters = set(template.get("Parameters", {}))
        self.resources: Mapping[str, Any] = template["Resources"]
        self.conditions: Mapping[str, Any] = template.get("Conditions", {})
        self.conditional = conditional
        self.replacers: dict[str, set[str]] = {name: set() for name in self.resources}
        changed = True
        while changed:
            changed = False
            for name, resource in self.resources.items():
                found = set().union(
                    *(self.parameters_in(v) for v in self.create_only_values(resource))
                )
                if not found <= self.replacers[name]:
                    self.replacers[name] |= found
                    changed = True

    def create_only_values(self, resource: Mapping[str, Any]) -> list[Any]:
        properties = resource.get("Properties", {})
        return [
            value
            for path in create_only_paths(resource["Type"], self.conditional)
            for value in _at(properties, path)
        ]

    def _name(self, name: str) -> set[str]:
        if name in self.parameters:
            return {name}
        return set(self.replacers.get(name, set()))

    def parameters_in(self, node: Any) -> set[str]:
        """Parameters whose change can change this value (through replacements it refers to)."""
        found: set[str] = set()
        if isinstance(node, list):
            for item in node:
                found |= self.parameters_in(item)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key == "Ref":
                    found |= self._name(value)
                elif key == "Fn::GetAtt":
                    target = value.split(".")[0] if isinstance(value, str) else value[0]
                    found |= self._name(target)
                elif key == "Fn::Sub":
                    text, local = (value, {}) if isinstance(value, str) else (value[0], value[1])
                    for placeholder in _PLACEHOLDER.findall(text):
                        base = placeholder.split(".")[0]
                        if base not in local:
                            found |= self._name(base)
                    found |= self.parameters_in(local)
                elif key == "Fn::If":
                    found |= self.condition_parameters(value[0]) | self.parameters_in(value[1:])
                elif key == "Condition" and isinstance(value, str):
                    found |= self.condition_parameters(value)
                else:
                    found |= self.parameters_in(value)
        return found

    def condition_parameters(self, name: str) -> set[str]:
        return self.parameters_in(self.conditions[name])

    def dynamic_reference_parameters(self, logical_id: str) -> set[str]:
        """Parameters that shape a secret value a create-only property of this resource resolves.

        CloudFormation resolves `{{resolve:secretsmanager:...}}` only when the text of the reference
        changes, so these parameters change what the property *should* be without CloudFormation
        seeing a change.
        """
        found: set[str] = set()
        for value in self.create_only_values(self.resources[logical_id]):
            for secret, _key in _DYNAMIC_SECRET.findall(repr(value)):
                secret_properties = self.resources[secret].get("Properties", {})
                for key in ("GenerateSecretString", "SecretString"):
                    found |= self.parameters_in(secret_properties.get(key))
        return found
