"""The template's Rules: every promise a parameter description makes is checked before anything
is created, with a message a person at the console understands.

CloudFormation evaluates Rules before it creates or updates a resource, but only with its rule
functions: no arithmetic, no comparison of numbers, no taking a string apart. "Minimum <= maximum"
is therefore written as one assertion per allowed value of the minimum, listing the allowed values
of the maximum that are not smaller. These tests evaluate every Rule (with `validate.py`, the
offline evaluator) for every combination of the allowed values of each pair, so a missing or
wrong list entry fails here. cfn-lint does not evaluate Rules against parameter values (pinned at
the end), so it cannot be the second opinion; it does check their structure in `make cfn-lint`,
and the structural test here adds what cfn-lint does not (only rule functions, 2 to 10 conditions
in Fn::And and Fn::Or).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint  # type: ignore[import-untyped]
from cfnlint.context.parameters import ParameterSet  # type: ignore[import-untyped]

from tests.template.conftest import EXISTING_SUBNETS, EXISTING_VPC, GOOD_IMAGE
from tests.template.validate import MAX_CONDITIONS, MIN_CONDITIONS, RULE_FUNCTIONS, validate


@dataclass(frozen=True)
class OrderedPair:
    """Two parameters whose descriptions promise `minimum <= maximum`."""

    rule: str
    minimum: str
    maximum: str
    unit: str

    def message(self, labels: dict[str, str], value: str) -> str:
        return (
            f"rule {self.rule}: {labels[self.maximum]} ({self.maximum}) must be at least "
            f"{labels[self.minimum]} ({self.minimum}), which is {value}{self.unit}."
        )


PAIRS = [
    OrderedPair("InstanceCountsInOrder", "MinInstances", "MaxInstances", ""),
    OrderedPair("JobRetryDelaysInOrder", "JobMinDelaySeconds", "JobMaxDelaySeconds", " seconds"),
    OrderedPair("DatabaseCapacityInOrder", "DatabaseMinCapacity", "DatabaseMaxCapacity", " ACUs"),
]
# What the messages call each parameter: its console label, shortened where the label carries a
# note that does not fit a sentence ("Minimum instances (provisioned)").
LABELS = {
    "MinInstances": "Minimum instances",
    "MaxInstances": "Maximum instances",
    "JobMinDelaySeconds": "Minimum retry delay",
    "JobMaxDelaySeconds": "Maximum retry delay",
    "DatabaseMinCapacity": "Minimum capacity",
    "DatabaseMaxCapacity": "Maximum capacity",
}
# How a description promises an order with another parameter: "at least the minimum",
# "at least MinInstances", "at most the maximum", "at most MaxInstances". ("At least 1", "at least
# two subnets" or "at least this share" are bounds or counts, not an order between parameters.)
ORDER_PROMISE = re.compile(
    r"\bat (?P<side>least|most) (?:the (?:minimum|maximum)\b|(?P<name>[A-Z]\w+))"
)


def allowed(source: dict[str, Any], name: str) -> list[str]:
    return [str(value) for value in source["Parameters"][name]["AllowedValues"]]


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (function, argument) inside a rule expression."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


# --------------------------------------------------------------------------- ordered pairs


@pytest.mark.parametrize("pair", PAIRS, ids=[p.rule for p in PAIRS])
def test_every_combination_of_a_pair_is_accepted_exactly_when_the_minimum_is_not_larger(
    source: dict[str, Any], pair: OrderedPair
) -> None:
    wrong: list[str] = []
    combinations = list(
        itertools.product(allowed(source, pair.minimum), allowed(source, pair.maximum))
    )
    for low, high in combinations:
        values = {"ImageUri": GOOD_IMAGE, pair.minimum: low, pair.maximum: high}
        expected = [] if float(low) <= float(high) else [pair.message(LABELS, low)]
        if validate(source, values) != expected:
            wrong.append(f"{pair.minimum}={low} {pair.maximum}={high}: {validate(source, values)}")
    assert wrong == []
    refused = [c for c in combinations if float(c[0]) > float(c[1])]
    assert refused, "the pair's lists allow no refused combination: the test would prove nothing"


@pytest.mark.parametrize("pair", PAIRS, ids=[p.rule for p in PAIRS])
def test_a_pair_takes_listed_values_only_so_that_its_rule_can_name_them(
    source: dict[str, Any], pair: OrderedPair
) -> None:
    for name in (pair.minimum, pair.maximum):
        spec = source["Parameters"][name]
        assert spec["AllowedValues"], name
        assert str(spec["Default"]) in allowed(source, name), name
    defaults = {p: str(source["Parameters"][p]["Default"]) for p in (pair.minimum, pair.maximum)}
    assert float(defaults[pair.minimum]) <= float(defaults[pair.maximum])


@pytest.mark.parametrize("pair", PAIRS, ids=[p.rule for p in PAIRS])
def test_each_pair_message_names_both_parameters_as_the_console_shows_them(
    source: dict[str, Any], pair: OrderedPair
) -> None:
    console = source["Metadata"]["AWS::CloudFormation::Interface"]["ParameterLabels"]
    for name in (pair.minimum, pair.maximum):
        assert console[name]["default"].startswith(LABELS[name]), name
    for assertion in source["Rules"][pair.rule]["Assertions"]:
        description = assertion["AssertDescription"]
        assert pair.minimum in description
        assert pair.maximum in description
        assert re.search(r"which is [0-9.]+", description), description


def test_every_description_that_promises_an_order_has_a_rule(source: dict[str, Any]) -> None:
    promised: set[tuple[str, str]] = set()
    for name, spec in source["Parameters"].items():
        for match in ORDER_PROMISE.finditer(spec["Description"]):
            other = match["name"]
            if other is not None and other not in source["Parameters"]:
                continue
            promised.add((match["side"], name))
    checked = {("least", p.maximum) for p in PAIRS} | {("most", p.minimum) for p in PAIRS}
    assert promised <= checked
    assert {name for side, name in promised if side == "least"} == {p.maximum for p in PAIRS}
    for pair in PAIRS:
        assert pair.rule in source["Rules"]


def test_a_bound_or_a_count_is_not_read_as_a_promised_order() -> None:
    for text in ("At least 1.", "at least two private subnet ids", "at least this share"):
        assert ORDER_PROMISE.search(text) is None or ORDER_PROMISE.search(text)["name"] is None
    assert ORDER_PROMISE.search("Must be at least MinInstances.")["name"] == "MinInstances"
    assert ORDER_PROMISE.search("(at least the minimum delay)") is not None


def test_the_defaults_of_the_template_pass_every_rule(source: dict[str, Any]) -> None:
    assert validate(source, {"ImageUri": GOOD_IMAGE}) == []


# --------------------------------------------------------------------------- network


def test_a_vpc_id_with_network_mode_create_is_refused_rather_than_ignored(
    source: dict[str, Any],
) -> None:
    values = {"ImageUri": GOOD_IMAGE, "ExistingVpcId": EXISTING_VPC}
    assert validate(source, values) == [
        "rule NewNetworkTakesNoExistingIds: ExistingVpcId is set but NetworkMode is create (a new "
        "VPC). Set NetworkMode to existing to use that VPC, or leave ExistingVpcId empty."
    ]


def test_subnet_ids_with_network_mode_create_are_refused_rather_than_ignored(
    source: dict[str, Any],
) -> None:
    values = {"ImageUri": GOOD_IMAGE, "ExistingPrivateSubnetIds": ",".join(EXISTING_SUBNETS)}
    assert validate(source, values) == [
        "rule NewNetworkTakesNoExistingIds: ExistingPrivateSubnetIds is set but NetworkMode is "
        "create (a new VPC). Set NetworkMode to existing to use those subnets, or leave "
        "ExistingPrivateSubnetIds empty."
    ]


def test_an_existing_network_with_its_ids_passes_the_network_rules(source: dict[str, Any]) -> None:
    values = {
        "ImageUri": GOOD_IMAGE,
        "NetworkMode": "existing",
        "ExistingVpcId": EXISTING_VPC,
        "ExistingPrivateSubnetIds": ",".join(EXISTING_SUBNETS),
    }
    assert validate(source, values) == []


# --------------------------------------------------------------------------- structure


def test_rules_use_only_functions_cloudformation_accepts_in_rules(source: dict[str, Any]) -> None:
    parameters = set(source["Parameters"])
    for name, rule in source["Rules"].items():
        expressions = [rule.get("RuleCondition"), *(a["Assert"] for a in rule["Assertions"])]
        for function, argument in walk([e for e in expressions if e is not None]):
            if function == "Ref":
                assert argument in parameters, f"{name}: Ref {argument}"
            elif function.startswith("Fn::"):
                assert function in RULE_FUNCTIONS, f"{name}: {function}"
                if function in {"Fn::And", "Fn::Or"}:
                    assert MIN_CONDITIONS <= len(argument) <= MAX_CONDITIONS, name
                if function == "Fn::Contains":
                    assert all(isinstance(item, str) for item in argument[0]), name


def test_every_assertion_says_what_to_change_in_a_sentence(source: dict[str, Any]) -> None:
    for name, rule in source["Rules"].items():
        for assertion in rule["Assertions"]:
            description = assertion.get("AssertDescription", "")
            assert description.endswith("."), name
            assert 20 < len(description) < 300, name
            assert re.search(r"\b[A-Z][A-Za-z]+[A-Z][A-Za-z]+\b", description), name


def test_the_evaluator_refuses_a_function_cloudformation_does_not_accept_in_rules() -> None:
    template = {
        "Parameters": {"A": {"Type": "String", "Default": "x"}},
        "Rules": {
            "Joined": {
                "Assertions": [
                    {
                        "Assert": {"Fn::Contains": [["ax"], {"Fn::Join": ["", ["a", "x"]]}]},
                        "AssertDescription": "never evaluated",
                    }
                ]
            }
        },
    }
    with pytest.raises(ValueError, match="Fn::Join is not a function CloudFormation accepts"):
        validate(template, {})


# --------------------------------------------------------------------------- cfn-lint's reach


def test_cfn_lint_does_not_evaluate_rules_against_values_so_the_local_validator_does(
    source: dict[str, Any],
) -> None:
    minimal = {
        "Parameters": source["Parameters"],
        "Rules": source["Rules"],
        "Resources": {"Placeholder": {"Type": "AWS::SNS::Topic"}},
    }
    values = {"ImageUri": GOOD_IMAGE, "MinInstances": "5", "MaxInstances": "2"}
    config = ManualArgs(regions=["us-east-1"], parameters=[ParameterSet(None, values)])
    findings = lint(json.dumps(minimal), config=config)
    # Only W2001 (a parameter no resource uses) for the placeholder; no error about the values.
    assert {m.rule.id for m in findings} == {"W2001"}
    assert validate(source, values) != []
