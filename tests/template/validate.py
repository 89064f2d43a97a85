"""CloudFormation's parameter checks, applied offline to proposed parameter values.

CloudFormation refuses a create or update before touching any resource when a value breaks its
parameter's constraints or an assertion of the template's Rules section. With no AWS account here,
this module applies the same rules, read from the template: AllowedPattern (a full match; for a
CommaDelimitedList, each item), AllowedValues, MinLength/MaxLength, Number type with
MinValue/MaxValue, required parameters, then each rule whose RuleCondition holds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tests.template.render import parameter_values, scalar_text


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _check_one(name: str, spec: Mapping[str, Any], text: str) -> list[str]:
    errors: list[str] = []
    if "AllowedPattern" in spec and re.fullmatch(spec["AllowedPattern"], text) is None:
        errors.append(f"{name}: {text!r} does not match AllowedPattern")
    allowed = [scalar_text(v) for v in spec.get("AllowedValues", [])]
    if allowed and text not in allowed:
        errors.append(f"{name}: {text!r} is not one of AllowedValues")
    if "MinLength" in spec and len(text) < int(spec["MinLength"]):
        errors.append(f"{name}: shorter than MinLength")
    if "MaxLength" in spec and len(text) > int(spec["MaxLength"]):
        errors.append(f"{name}: longer than MaxLength")
    if spec["Type"] == "Number":
        number = _number(text)
        if number is None:
            errors.append(f"{name}: {text!r} is not a number")
        else:
            if "MinValue" in spec and number < float(spec["MinValue"]):
                errors.append(f"{name}: {text} is below MinValue")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                errors.append(f"{name}: {text} is above MaxValue")
    return errors


# The functions CloudFormation accepts in Rules (AWS rule functions reference, "Supported
# functions": Ref and the rule-specific functions; no Fn::Join, Fn::Sub or Fn::Split), and the
# bounds on the number of conditions Fn::And and Fn::Or take.
RULE_FUNCTIONS = frozenset(
    {
        "Fn::And",
        "Fn::Contains",
        "Fn::EachMemberEquals",
        "Fn::EachMemberIn",
        "Fn::Equals",
        "Fn::Not",
        "Fn::Or",
        "Fn::RefAll",
        "Fn::ValueOf",
        "Fn::ValueOfAll",
    }
)
MIN_CONDITIONS, MAX_CONDITIONS = 2, 10


class _RuleEvaluator:
    def __init__(self, values: Mapping[str, str | list[str]]) -> None:
        self.values = values

    def value(self, node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            ((fn, arg),) = node.items()
            if fn == "Ref":
                return self.values[arg]
            return self.truth(node)
        if isinstance(node, list):
            return [self.value(item) for item in node]
        return scalar_text(node)

    def truth(self, node: Any) -> bool:  # noqa: PLR0911 (one return per rule function)
        ((fn, arg),) = node.items()
        if fn not in RULE_FUNCTIONS:
            raise ValueError(f"{fn} is not a function CloudFormation accepts in Rules")
        if fn in {"Fn::And", "Fn::Or"} and not MIN_CONDITIONS <= len(arg) <= MAX_CONDITIONS:
            raise ValueError(f"{fn} takes 2 to 10 conditions, got {len(arg)}")
        if fn == "Fn::Equals":
            return bool(self.value(arg[0]) == self.value(arg[1]))
        if fn == "Fn::Not":
            return not self.truth(arg[0])
        if fn == "Fn::And":
            return all(self.truth(a) for a in arg)
        if fn == "Fn::Or":
            return any(self.truth(a) for a in arg)
        if fn == "Fn::Contains":
            return self.value(arg[1]) in self.value(arg[0])
        if fn == "Fn::EachMemberEquals":
            return all(v == self.value(arg[1]) for v in self.value(arg[0]))
        if fn == "Fn::EachMemberIn":
            return all(v in self.value(arg[1]) for v in self.value(arg[0]))
        raise ValueError(f"rule function {fn} is not supported here")


def validate(template: Mapping[str, Any], proposed: Mapping[str, str]) -> list[str]:
    """The reasons CloudFormation would refuse these values (empty when it would accept them)."""
    declared: Mapping[str, Any] = template["Parameters"]
    errors = [
        f"{name}: not a parameter of this template" for name in proposed if name not in declared
    ]
    for name, spec in declared.items():
        if name not in proposed and "Default" not in spec:
            errors.append(f"{name}: required, and no value was given")
    if errors:
        return errors
    values = parameter_values(template, proposed)
    for name, spec in declared.items():
        value = values[name]
        for item in value if isinstance(value, list) else [value]:
            errors += _check_one(name, spec, item)
    if errors:
        return errors
    evaluator = _RuleEvaluator(values)
    for rule_name, rule in template.get("Rules", {}).items():
        if "RuleCondition" in rule and not evaluator.truth(rule["RuleCondition"]):
            continue
        for assertion in rule["Assertions"]:
            if not evaluator.truth(assertion["Assert"]):
                description = assertion.get("AssertDescription", "assertion failed")
                errors.append(f"rule {rule_name}: {description}")
    return errors
