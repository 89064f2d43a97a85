"""No secret in the template, no account/region/partition literal, and the outputs users are told
about.

A password literal in a template ends up in the stack's template history and in change sets; an ARN
with `arn:aws:` breaks in other partitions; an account id or region pins the stack to one place.
Outputs are the stack's interface to the README and to operators, so each one must exist in every
variant.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.template.conftest import Case
from tests.template.render import REPO_ROOT, load_source

SENSITIVE_KEYS = re.compile(
    r"^(MasterUserPassword|Password|.*Passw(or)?d|SecretString|AuthToken|ApiKey|PrivateKey|"
    r"ClientSecret|SecretAccessKey|SecretKey|Token)$",
    re.IGNORECASE,
)
SENSITIVE_VARIABLE = re.compile(r"PASSWORD|PASSWD|TOKEN|API_KEY|PRIVATE_KEY|DATABASE_URL", re.I)
DYNAMIC_REFERENCE = re.compile(r"^\{\{resolve:(secretsmanager|ssm-secure):")
CREDENTIALS_IN_URL = re.compile(r"://[^:/\s{}$]+:[^@/\s{}$]+@")

PARTITION_LITERAL = re.compile(r"arn:aws(-[a-z-]+)?:")
REGION_LITERAL = re.compile(
    r"\b(us|eu|ap|sa|ca|me|af|il|mx|cn)(-gov|-iso[a-z]?)?-"
    r"(north|south|east|west|central|northeast|southeast|northwest|southwest)-\d\b"
)
ACCOUNT_LITERAL = re.compile(r"(?<!\d)\d{12}(?!\d)")

EXPECTED_OUTPUTS = {
    "JobTopicArn": {"Ref": "JobTopic"},
    "DeadLetterQueueUrl": {"Ref": "JobDeadLetterQueue"},
    "DatabaseEndpoint": {"Fn::GetAtt": ["DatabaseCluster", "Endpoint.Address"]},
    "DatabaseSecretArn": {"Ref": "DatabaseSecret"},
}


def walk(node: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """(path, key, value) for every mapping entry, depth first."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from walk(item, f"{path}/{index}")


def strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from strings(item, f"{path}/{index}")


def literal_findings(
    node: Any, path: str = "", supplied: frozenset[str] = frozenset()
) -> list[str]:
    """Literals in strings; values the deployer supplied as parameters are not the template's."""
    findings = []
    for where, raw in strings(node, path):
        text = raw
        for value in supplied:
            text = text.replace(value, "")
        for kind, pattern in (
            ("partition", PARTITION_LITERAL),
            ("region", REGION_LITERAL),
            ("account", ACCOUNT_LITERAL),
        ):
            if pattern.search(text):
                findings.append(f"{kind} literal at {where}: {text}")
    return findings


def is_sam_function_role(resource: dict[str, Any]) -> bool:
    tags = resource.get("Properties", {}).get("Tags", [])
    return (
        resource["Type"] == "AWS::IAM::Role" and {"Key": "lambda:createdBy", "Value": "SAM"} in tags
    )


# --------------------------------------------------------------------------- secrets


def sensitive_literals(node: Any) -> list[str]:
    """Sensitive keys whose value is a literal, or a Sub that is not a dynamic reference."""
    offending = []
    for where, key, value in walk(node):
        if not SENSITIVE_KEYS.match(key):
            continue
        if isinstance(value, (str, int)):
            offending.append(f"{where}/{key}")
        elif isinstance(value, dict) and "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            if not DYNAMIC_REFERENCE.match(text):
                offending.append(f"{where}/{key}")
    return offending


def everything(case: Case) -> dict[str, Any]:
    """The rendered stack's resources and outputs, and those of its nested stacks."""
    return {
        "Resources": case.stack.resources,
        "Outputs": case.stack.outputs,
        "Nested": {
            name: {"Resources": nested.resources, "Outputs": nested.outputs}
            for name, nested in case.stack.nested.items()
        },
    }


def test_no_sensitive_property_holds_a_literal_value(case: Case) -> None:
    assert sensitive_literals(everything(case)) == []


def test_no_environment_variable_carries_a_literal_secret(case: Case) -> None:
    offending = []
    resources = dict(case.stack.resources)
    for stack_name, nested in case.stack.nested.items():
        resources.update({f"{stack_name}/{k}": v for k, v in nested.resources.items()})
    assert any(
        key in {"RuntimeEnvironmentVariables", "Environment"}
        for resource in resources.values()
        for _where, key, _value in walk(resource)
    )
    for name, resource in resources.items():
        for where, key, value in walk(resource):
            if key in {"RuntimeEnvironmentVariables", "RuntimeEnvironmentSecrets"} or (
                key == "Environment" and isinstance(value, list)
            ):
                for variable in value:
                    if SENSITIVE_VARIABLE.search(variable["Name"]) and isinstance(
                        variable["Value"], str
                    ):
                        offending.append(f"{name}{where}: {variable['Name']}")
            if key == "Variables" and where.endswith("/Environment") and isinstance(value, dict):
                offending += [f"{name}: {k}" for k in value if SENSITIVE_VARIABLE.search(k)]
    assert offending == []


def test_no_string_anywhere_embeds_credentials_in_a_url(case: Case) -> None:
    found = [where for where, text in strings(everything(case)) if CREDENTIALS_IN_URL.search(text)]
    assert found == []


def test_no_parameter_asks_for_a_secret(source: dict[str, Any]) -> None:
    for name, spec in source["Parameters"].items():
        assert not re.search(r"passw|token|apikey|privatekey", name, re.I), name
        assert spec.get("NoEcho") is not True or "Default" not in spec, name


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("MasterUserPassword", "hunter2hunter2"),
        ("MasterUserPassword", {"Fn::Sub": "pw-${AWS::StackName}"}),
        ("SecretString", '{"password": "x"}'),
        ("DbPassword", "x"),
    ],
)
def test_the_secret_scan_catches_a_planted_password(key: str, value: Any) -> None:
    planted = {"Planted": {"Type": "AWS::RDS::DBCluster", "Properties": {key: value}}}
    assert sensitive_literals(planted) == [f"/Planted/Properties/{key}"]


# --------------------------------------------------------------------------- literals


AUTHORED = ["template.yaml", *sorted(p.name for p in (REPO_ROOT / "compute").glob("*.yaml"))]


@pytest.mark.parametrize("path", AUTHORED)
def test_the_authored_template_has_no_account_region_or_partition_literal(path: str) -> None:
    source = load_source(REPO_ROOT / (path if path == "template.yaml" else f"compute/{path}"))
    scanned = {
        section: source.get(section, {})
        for section in ("Resources", "Outputs", "Conditions", "Mappings", "Rules", "Globals")
    }
    defaults = {n: p.get("Default") for n, p in source["Parameters"].items()}
    # The console shows these texts; an example with a real-looking account or region invites
    # copying it.
    texts = {
        n: [p.get("Description", ""), p.get("ConstraintDescription", "")]
        for n, p in source["Parameters"].items()
    }
    assert (
        literal_findings({**scanned, "ParameterDefaults": defaults, "ParameterTexts": texts}) == []
    )


def test_the_rendered_template_has_no_literal_beyond_what_the_sam_transform_writes(
    case: Case,
) -> None:
    supplied = frozenset(v for v in case.variant.overrides.values() if len(v) > 3)
    findings = []
    for name, resource in case.stack.resources.items():
        checked = resource
        if is_sam_function_role(resource):
            # The SAM transform itself writes the deploy region's partition into the managed policy
            # ARNs it attaches (arn:aws:, arn:aws-cn:, ...): right wherever the stack is deployed.
            checked = {k: v for k, v in resource["Properties"].items() if k != "ManagedPolicyArns"}
        findings += literal_findings(checked, name, supplied)
    findings += literal_findings(case.stack.outputs, "Outputs", supplied)
    for stack_name, nested in case.stack.nested.items():
        findings += literal_findings(nested.resources, stack_name, supplied)
        findings += literal_findings(nested.outputs, f"{stack_name}/Outputs", supplied)
    assert findings == []


@pytest.mark.parametrize(
    "text",
    [
        "arn:aws:iam::aws:policy/ReadOnlyAccess",
        "arn:aws-us-gov:sns:x",
        "sns.eu-west-1.amazonaws.com",
        "123456789012",
        "us-gov-west-1",
    ],
)
def test_the_literal_scan_recognises_planted_literals(text: str) -> None:
    assert literal_findings({"x": text}) != []


# --------------------------------------------------------------------------- outputs


def test_the_documented_outputs_exist_with_descriptions_and_point_at_the_right_things(
    case: Case,
) -> None:
    outputs = case.stack.outputs
    for name, value in EXPECTED_OUTPUTS.items():
        assert outputs[name]["Value"] == value, name
    assert outputs["JobEndpointUrl"]["Value"] == case.stack.props("JobSubscription")["Endpoint"]
    host = (
        "${ExpressApiService.Outputs.Endpoint}"
        if case.variant.express
        else "${ApiService.ServiceUrl}"
    )
    assert outputs["ApiUrl"]["Value"] == {"Fn::Sub": f"https://{host}"}
    assert outputs["ComputePlatform"]["Value"] == case.variant.platform
    for name, output in outputs.items():
        assert isinstance(output.get("Description"), str), name
        assert len(output["Description"]) > 10, name
