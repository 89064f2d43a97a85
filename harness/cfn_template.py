"""Resolve a CloudFormation template offline for given parameter values, nested stacks included.

Two readers need the stack as CloudFormation would see it for given parameter values, without an
AWS account: the template tests (tests/template), which assert wiring in every combination of the
conditions, and the rehearsal (harness/demo.py), which starts the app with the environment the
built template gives a service. This module resolves what CloudFormation resolves from parameters
alone (Conditions, Fn::If, AWS::NoValue, Ref to parameters, Fn::FindInMap, Fn::Sub placeholders
naming parameters, Fn::Join/Select/Cidr over literals) and keeps every reference to a resource or
pseudo parameter as structured data (``{"Ref": "X"}``, ``{"Fn::GetAtt": [...]}``, ``{"Fn::Sub":
"...${X.Attr}..."}``), so a reader can ask what a property is wired to.

A nested stack whose template is a local file (``AWS::CloudFormation::Stack`` ``TemplateURL`` or
``AWS::Serverless::Application`` ``Location``, as in the source and in `sam build`'s output) is
rendered too, with the parameter values the parent passes: a parent's reference stays structured
inside the nested rendering, so ``{"Ref": "JobTopic"}`` in a nested container's environment means
the parent's topic.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PSEUDO_PARAMETERS = frozenset(
    {
        "AWS::AccountId",
        "AWS::NotificationARNs",
        "AWS::NoValue",
        "AWS::Partition",
        "AWS::Region",
        "AWS::StackId",
        "AWS::StackName",
        "AWS::URLSuffix",
    }
)
NESTED_STACK_TYPES = {
    "AWS::CloudFormation::Stack": "TemplateURL",
    "AWS::Serverless::Application": "Location",
}
_SUB_PLACEHOLDER = re.compile(r"\$\{([^!}][^}]*)\}")

TemplateLoader = Callable[[Path], Mapping[str, Any]]


class _NoValue:
    """What !Ref AWS::NoValue resolves to: the enclosing key or list item disappears."""


NO_VALUE = _NoValue()


class RenderError(Exception):
    """The template cannot be rendered for these parameter values."""


def scalar_text(value: Any) -> str:
    """CloudFormation compares and substitutes parameter values as strings (YAML: ints, bools)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _is_list_type(spec: Mapping[str, Any]) -> bool:
    kind = str(spec.get("Type", "String"))
    return kind == "CommaDelimitedList" or kind.startswith("List<")


def parameter_values(template: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults overlaid with the given values; list parameters split on commas.

    A value may also be structured (a nested stack's parameter wired to a resource of the parent):
    it is kept as it is, except a comma join of a list, which a list parameter receives as the list.
    """
    declared: Mapping[str, Any] = template.get("Parameters", {})
    unknown = set(overrides) - set(declared)
    if unknown:
        raise RenderError(f"unknown parameters: {sorted(unknown)}")
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in overrides:
            raw = overrides[name]
        elif "Default" in spec:
            raw = scalar_text(spec["Default"])
        else:
            raise RenderError(f"parameter {name} has no default and no value")
        if not isinstance(raw, (str, int, float, bool)):
            joined = raw.get("Fn::Join") if isinstance(raw, dict) and len(raw) == 1 else None
            if _is_list_type(spec) and isinstance(joined, list) and joined[0] == ",":
                values[name] = joined[1]
            else:
                values[name] = raw
            continue
        text = scalar_text(raw)
        values[name] = [item.strip() for item in text.split(",")] if _is_list_type(spec) else text
    return values


@dataclass(frozen=True)
class Rendered:
    """One resolved variant of the stack; `nested` holds its local nested stacks, by logical id."""

    parameters: dict[str, Any]
    conditions: dict[str, bool]
    resources: dict[str, dict[str, Any]]
    outputs: dict[str, dict[str, Any]]
    dangling: list[str] = field(default_factory=list)
    nested: dict[str, Rendered] = field(default_factory=dict)

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == resource_type}

    def props(self, logical_id: str) -> dict[str, Any]:
        properties: dict[str, Any] = self.resources[logical_id].get("Properties", {})
        return properties


class _Resolver:
    def __init__(self, template: Mapping[str, Any], values: dict[str, Any]) -> None:
        self.template = template
        self.values = values
        self.mappings: Mapping[str, Any] = template.get("Mappings", {})
        self.condition_defs: Mapping[str, Any] = template.get("Conditions", {})
        self.conditions: dict[str, bool] = {}
        self._handlers: dict[str, Callable[[Any], Any]] = {
            "Ref": self._ref,
            "Fn::If": self._if,
            "Fn::FindInMap": self._find_in_map,
            "Fn::Sub": self._sub,
            "Fn::Join": self._join,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
            "Fn::Cidr": self._cidr,
            "Fn::GetAtt": self._get_att,
        }

    # ------------------------------------------------------------------ conditions
    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            if name not in self.condition_defs:
                raise RenderError(f"unknown condition {name}")
            self.conditions[name] = self.truth(self.condition_defs[name])
        return self.conditions[name]

    def truth(self, node: Any) -> bool:
        if isinstance(node, dict) and len(node) == 1:
            ((fn, arg),) = node.items()
            if fn == "Condition":
                return self.condition(arg)
            if fn == "Fn::Equals":
                left, right = (self.value(a) for a in arg)
                return bool(_comparable(left) == _comparable(right))
            if fn == "Fn::And":
                return all(self.truth(a) for a in arg)
            if fn == "Fn::Or":
                return any(self.truth(a) for a in arg)
            if fn == "Fn::Not":
                return not self.truth(arg[0])
        raise RenderError(f"not a condition: {node!r}")

    # ------------------------------------------------------------------ values
    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.value(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((fn, arg),) = node.items()
            handler = self._handlers.get(fn)
            if handler is not None:
                return handler(arg)
        resolved = {key: self.value(item) for key, item in node.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.values:
            return copy.deepcopy(self.values[name])
        return {"Ref": name}

    def _if(self, arg: list[Any]) -> Any:
        name, when_true, when_false = arg
        return self.value(when_true if self.condition(name) else when_false)

    def _find_in_map(self, arg: list[Any]) -> Any:
        keys = [self.value(a) for a in arg]
        if all(isinstance(k, str) for k in keys):
            try:
                return self.mappings[keys[0]][keys[1]][keys[2]]
            except KeyError as error:
                raise RenderError(f"Fn::FindInMap {keys} has no entry") from error
        return {"Fn::FindInMap": keys}

    def _sub(self, arg: Any) -> Any:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        local = {name: self.value(v) for name, v in variables.items()}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            for source in (local, self.values):
                if name in source and isinstance(source[name], str):
                    return str(source[name])
            return match.group(0)

        text = _SUB_PLACEHOLDER.sub(substitute, text)
        remaining = {n: v for n, v in local.items() if not isinstance(v, str)}
        # A placeholder naming a parameter whose value is structured (a nested stack's parameter
        # wired to a resource of the parent) is passed on as a Sub variable.
        for name in _SUB_PLACEHOLDER.findall(text):
            if name in self.values and not isinstance(self.values[name], str):
                remaining.setdefault(name, copy.deepcopy(self.values[name]))
        if not _SUB_PLACEHOLDER.search(text):
            return text
        return {"Fn::Sub": [text, remaining] if remaining else text}

    def _join(self, arg: list[Any]) -> Any:
        delimiter, parts = self.value(arg[0]), self.value(arg[1])
        if isinstance(parts, list) and all(isinstance(p, str) for p in parts):
            return delimiter.join(parts)
        return {"Fn::Join": [delimiter, parts]}

    def _select(self, arg: list[Any]) -> Any:
        index, items = self.value(arg[0]), self.value(arg[1])
        if isinstance(items, list) and isinstance(index, (int, str)):
            return items[int(index)]
        return {"Fn::Select": [index, items]}

    def _split(self, arg: list[Any]) -> Any:
        delimiter, text = self.value(arg[0]), self.value(arg[1])
        if isinstance(delimiter, str) and isinstance(text, str):
            return text.split(delimiter)
        return {"Fn::Split": [delimiter, text]}

    def _cidr(self, arg: list[Any]) -> Any:
        block, count, bits = (self.value(a) for a in arg)
        if not all(isinstance(a, (str, int)) for a in (block, count, bits)):
            return {"Fn::Cidr": [block, count, bits]}
        network = ipaddress.ip_network(str(block))
        prefix = network.max_prefixlen - int(bits)
        subnets = network.subnets(new_prefix=prefix)
        return [str(next(subnets)) for _ in range(int(count))]

    def _get_att(self, arg: Any) -> Any:
        parts = arg.split(".", 1) if isinstance(arg, str) else list(arg)
        return {"Fn::GetAtt": [self.value(p) for p in parts]}


def _comparable(value: Any) -> Any:
    if isinstance(value, list):
        return [scalar_text(v) for v in value]
    if isinstance(value, (bool, int, float, str)):
        return scalar_text(value)
    return json.dumps(value, sort_keys=True)


def referenced_names(node: Any) -> Iterator[str]:
    """Logical ids and parameter names a resolved node refers to (Ref, GetAtt, Sub placeholders)."""
    if isinstance(node, list):
        for item in node:
            yield from referenced_names(item)
    elif isinstance(node, dict):
        for key, item in node.items():
            if key == "Ref" and isinstance(item, str):
                yield item
            elif key == "Fn::GetAtt" and isinstance(item, list) and isinstance(item[0], str):
                yield item[0]
            elif key == "Fn::Sub":
                text = item if isinstance(item, str) else item[0]
                local = {} if isinstance(item, str) else item[1]
                for name in _SUB_PLACEHOLDER.findall(text):
                    if name.split(".")[0] not in local:
                        yield name.split(".")[0]
                yield from referenced_names(local)
            else:
                yield from referenced_names(item)


def local_nested_template(resource: Mapping[str, Any]) -> str | None:
    """The relative path of a nested stack's template, or None (not a nested stack, or remote)."""
    key = NESTED_STACK_TYPES.get(str(resource.get("Type")))
    location = resource.get("Properties", {}).get(key) if key else None
    if isinstance(location, str) and "://" not in location and not location.startswith("/"):
        return location
    return None


def render(
    template: Mapping[str, Any],
    overrides: Mapping[str, Any],
    *,
    base_dir: Path | None = None,
    load: TemplateLoader | None = None,
) -> Rendered:
    """Resolve a template for the given parameter values.

    With `base_dir` (the folder the template's relative nested-template paths start from) and
    `load` (reads one template file), local nested stacks are rendered too, into `nested`.
    """
    values = parameter_values(template, overrides)
    resolver = _Resolver(template, values)
    for name in template.get("Conditions", {}):
        resolver.condition(name)

    resources: dict[str, dict[str, Any]] = {}
    for logical_id, resource in template["Resources"].items():
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue
        resources[logical_id] = resolver.value(resource)
    outputs: dict[str, dict[str, Any]] = {}
    for name, output in template.get("Outputs", {}).items():
        if "Condition" in output and not resolver.condition(output["Condition"]):
            continue
        outputs[name] = resolver.value(output)

    # Names the parent resolved into this template's parameters are the parent's to check.
    inherited = {
        name
        for value in values.values()
        if not isinstance(value, str)
        for name in referenced_names(value)
    }
    known = set(resources) | set(values) | PSEUDO_PARAMETERS | inherited
    dangling: list[str] = []
    for owner, node in [*resources.items(), *outputs.items()]:
        depends = node.get("DependsOn", [])
        for name in [
            *referenced_names(node),
            *([depends] if isinstance(depends, str) else depends),
        ]:
            if name not in known:
                dangling.append(f"{owner} -> {name}")

    nested: dict[str, Rendered] = {}
    if base_dir is not None and load is not None:
        for logical_id, resource in resources.items():
            location = local_nested_template(resource)
            if location is None:
                continue
            path = base_dir / location
            parameters = resource.get("Properties", {}).get("Parameters", {})
            nested[logical_id] = render(load(path), parameters, base_dir=path.parent, load=load)
    return Rendered(dict(values), dict(resolver.conditions), resources, outputs, dangling, nested)
