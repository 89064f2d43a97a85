"""Parameters: documented, grouped, constrained, and bad values refused before anything is created.

CloudFormation checks parameter constraints and the Rules section before it creates or updates any
resource. There is no AWS account here, so `validate.py` applies those checks as CloudFormation
does, and cfn-lint 1.58 (rule E2900, fed with `--parameters`) is used as an independent checker
where it can be: it enforces AllowedValues, but it reads a `Pattern` key instead of `AllowedPattern`
and it drops the parameter values of templates with the SAM transform (its context is rebuilt after
the transform), so patterns and Rules are checked by `validate.py` alone. The last tests here pin
those two gaps, so the day cfn-lint closes them this module can switch to it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint  # type: ignore[import-untyped]
from cfnlint.context.parameters import ParameterSet  # type: ignore[import-untyped]
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER  # type: ignore[import-untyped]

from tests.template.conftest import EXISTING_SUBNETS, EXISTING_VPC, GOOD_IMAGE, VARIANTS
from tests.template.validate import validate

# App Runner's valid CPU/memory pairs (API reference, InstanceConfiguration; units: CPU units and
# MiB).
APP_RUNNER_PAIRS = {
    "256": {"512", "1024"},
    "512": {"1024"},
    "1024": {"2048", "3072", "4096"},
    "2048": {"4096", "6144"},
    "4096": {"8192", "10240", "12288"},
}
DIGEST = "sha256:" + "a" * 64


def cfn_lint_parameter_errors(source: dict[str, Any], values: dict[str, str]) -> list[str]:
    """E2900 findings for these values, on the template's Parameters and a placeholder resource."""
    minimal = {
        "Parameters": source["Parameters"],
        "Resources": {"Placeholder": {"Type": "AWS::SNS::Topic"}},
    }
    config = ManualArgs(regions=["us-east-1"], parameters=[ParameterSet(None, values)])
    return [m.message for m in lint(json.dumps(minimal), config=config) if m.rule.id == "E2900"]


# --------------------------------------------------------------------------- documentation


def test_every_parameter_has_a_description_and_a_constraint_a_person_can_read(
    source: dict[str, Any],
) -> None:
    for name, spec in source["Parameters"].items():
        assert len(spec.get("Description", "")) > 15, name
        constrained = {"AllowedValues", "AllowedPattern"} & set(spec) or {
            "MinValue",
            "MaxValue",
        } <= set(spec)
        assert constrained, name
        assert len(spec.get("ConstraintDescription", "")) > 5, name


def test_every_parameter_sits_in_exactly_one_labelled_group(source: dict[str, Any]) -> None:
    interface = source["Metadata"]["AWS::CloudFormation::Interface"]
    grouped = [p for group in interface["ParameterGroups"] for p in group["Parameters"]]
    assert sorted(grouped) == sorted(source["Parameters"])
    assert len(grouped) == len(set(grouped))
    for group in interface["ParameterGroups"]:
        assert group["Label"]["default"], group
    assert set(interface["ParameterLabels"]) == set(source["Parameters"])
    assert all(label["default"] for label in interface["ParameterLabels"].values())


def test_the_defaults_and_a_complete_existing_network_pass_every_check(
    source: dict[str, Any],
) -> None:
    assert validate(source, {"ImageUri": GOOD_IMAGE}) == []
    existing = {
        "ImageUri": GOOD_IMAGE,
        "NetworkMode": "existing",
        "ExistingVpcId": EXISTING_VPC,
        "ExistingPrivateSubnetIds": ",".join(EXISTING_SUBNETS),
    }
    assert validate(source, existing) == []


def test_image_uri_is_required(source: dict[str, Any]) -> None:
    assert validate(source, {}) == ["ImageUri: required, and no value was given"]
    assert "Default" not in source["Parameters"]["ImageUri"]


def test_an_empty_image_uri_saved_in_a_configuration_file_is_refused(
    source: dict[str, Any],
) -> None:
    # `sam deploy --guided` once saved `ImageUri=""`; such a value must never be deployable.
    assert validate(source, {"ImageUri": ""}) == ["ImageUri: '' does not match AllowedPattern"]


# --------------------------------------------------------------------------- ImageUri


@pytest.mark.parametrize(
    "uri",
    [
        GOOD_IMAGE,
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/book-app:v2",
        f"123456789012.dkr.ecr.eu-central-1.amazonaws.com/bookapp@{DIGEST}",
        "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/bookapp:latest",
    ],
)
def test_an_ecr_image_with_a_tag_or_digest_is_accepted(source: dict[str, Any], uri: str) -> None:
    assert validate(source, {"ImageUri": uri}) == []


@pytest.mark.parametrize(
    "uri",
    [
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/bookapp",
        "docker.io/library/bookapp:1.0.0",
        "public.ecr.aws/abc123/bookapp:1.0.0",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/BookApp:1.0.0",
        "http://123456789012.dkr.ecr.eu-west-1.amazonaws.com/bookapp:1.0.0",
        "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/bookapp:1.0.0",
        "12345678901.dkr.ecr.eu-west-1.amazonaws.com/bookapp:1.0.0",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/bookapp@sha256:abc",
        "123456789012.dkr.ecr.eu-west.amazonaws.com/bookapp:1.0.0",
        "nginx:latest",
        f"{GOOD_IMAGE} ",
    ],
)
def test_an_image_uri_that_app_runner_cannot_pull_from_ecr_is_refused(
    source: dict[str, Any], uri: str
) -> None:
    assert validate(source, {"ImageUri": uri}) == [
        f"ImageUri: {uri!r} does not match AllowedPattern"
    ]


# --------------------------------------------------------------------------- CPU and memory


def test_every_listed_instance_size_maps_to_a_pair_app_runner_supports(
    source: dict[str, Any],
) -> None:
    sizes = source["Mappings"]["InstanceSizes"]
    allowed = source["Parameters"]["InstanceSize"]["AllowedValues"]
    assert set(sizes) == set(allowed)
    for label, pair in sizes.items():
        assert pair["Memory"] in APP_RUNNER_PAIRS[pair["Cpu"]], label
        vcpu, memory = label.removesuffix("GB").split("vCPU-")
        assert int(float(vcpu) * 1024) == int(pair["Cpu"]), label
        assert int(float(memory) * 1024) == int(pair["Memory"]), label
    assert sum(len(m) for m in APP_RUNNER_PAIRS.values()) == len(sizes)


def test_the_mapped_cpu_and_memory_match_the_app_runner_schema(source: dict[str, Any]) -> None:
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(
        "us-east-1", "AWS::AppRunner::Service"
    ).schema
    instance = schema["definitions"]["InstanceConfiguration"]["properties"]
    for label, pair in source["Mappings"]["InstanceSizes"].items():
        assert re.fullmatch(instance["Cpu"]["pattern"], pair["Cpu"]), label
        assert re.fullmatch(instance["Memory"]["pattern"], pair["Memory"]), label


@pytest.mark.parametrize("size", ["0.25vCPU-4GB", "4vCPU-4GB", "2vCPU-2GB", "1vCPU-2gb"])
def test_an_instance_size_app_runner_does_not_offer_is_refused(
    source: dict[str, Any], size: str
) -> None:
    values = {"ImageUri": GOOD_IMAGE, "InstanceSize": size}
    assert validate(source, values) == [f"InstanceSize: {size!r} is not one of AllowedValues"]
    assert len(cfn_lint_parameter_errors(source, values)) == 1


# --------------------------------------------------------------------------- capacity


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DatabaseMinCapacity", "0.25"),
        ("DatabaseMinCapacity", "300"),
        ("DatabaseMinCapacity", "-1"),
        ("DatabaseMaxCapacity", "0.5"),
        ("DatabaseMaxCapacity", "300"),
    ],
)
def test_an_acu_value_outside_aurora_serverless_v2_bounds_is_refused(
    source: dict[str, Any], name: str, value: str
) -> None:
    values = {"ImageUri": GOOD_IMAGE, name: value}
    assert validate(source, values) == [f"{name}: {value!r} is not one of AllowedValues"]
    assert len(cfn_lint_parameter_errors(source, values)) == 1


@pytest.mark.parametrize(
    ("minimum", "maximum"), [("0", "4"), ("0.5", "1"), ("16", "16"), ("2", "256")]
)
def test_an_acu_range_aurora_accepts_passes(
    source: dict[str, Any], minimum: str, maximum: str
) -> None:
    values = {
        "ImageUri": GOOD_IMAGE,
        "DatabaseMinCapacity": minimum,
        "DatabaseMaxCapacity": maximum,
    }
    assert validate(source, values) == []
    assert cfn_lint_parameter_errors(source, values) == []


@pytest.mark.parametrize(("minimum", "maximum"), [("16", "1"), ("16", "8"), ("4", "2"), ("2", "1")])
def test_an_acu_minimum_above_the_maximum_is_refused_by_the_rules(
    source: dict[str, Any], minimum: str, maximum: str
) -> None:
    values = {
        "ImageUri": GOOD_IMAGE,
        "DatabaseMinCapacity": minimum,
        "DatabaseMaxCapacity": maximum,
    }
    assert validate(source, values) == [
        "rule DatabaseCapacityInOrder: Maximum capacity (DatabaseMaxCapacity) must be at least "
        f"Minimum capacity (DatabaseMinCapacity), which is {minimum} ACUs."
    ]


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("MinInstances", "0", "is not one of AllowedValues"),
        ("MaxInstances", "26", "is not one of AllowedValues"),
        ("JobMinDelaySeconds", "7", "is not one of AllowedValues"),
        ("MaxConcurrency", "many", "is not a number"),
        ("ContainerPort", "70000", "above MaxValue"),
        ("JobConfirmationTimeoutSeconds", "900", "above MaxValue"),
    ],
)
def test_a_number_outside_its_range_is_refused(
    source: dict[str, Any], name: str, value: str, reason: str
) -> None:
    (error,) = validate(source, {"ImageUri": GOOD_IMAGE, name: value})
    assert error.startswith(f"{name}: ")
    assert reason in error


def test_a_list_parameter_is_checked_item_by_item(source: dict[str, Any]) -> None:
    values = {
        "ImageUri": GOOD_IMAGE,
        "NetworkMode": "existing",
        "ExistingVpcId": EXISTING_VPC,
        "ExistingPrivateSubnetIds": f"{EXISTING_SUBNETS[0]},sg-0123456789abcdef0",
    }
    assert validate(source, values) == [
        "ExistingPrivateSubnetIds: 'sg-0123456789abcdef0' does not match AllowedPattern"
    ]


# --------------------------------------------------------------------------- Rules


def test_an_existing_network_without_a_vpc_id_is_refused_by_the_rules(
    source: dict[str, Any],
) -> None:
    values = {
        "ImageUri": GOOD_IMAGE,
        "NetworkMode": "existing",
        "ExistingPrivateSubnetIds": ",".join(EXISTING_SUBNETS),
    }
    assert validate(source, values) == [
        "rule ExistingNetworkIsComplete: NetworkMode existing needs ExistingVpcId."
    ]


def test_an_existing_network_without_subnets_is_refused_by_the_rules(
    source: dict[str, Any],
) -> None:
    values = {"ImageUri": GOOD_IMAGE, "NetworkMode": "existing", "ExistingVpcId": EXISTING_VPC}
    assert validate(source, values) == [
        "rule ExistingNetworkIsComplete: NetworkMode existing needs ExistingPrivateSubnetIds "
        "(two or more private subnets in different zones)."
    ]


def test_rules_cannot_count_subnets_so_a_single_one_passes_and_the_descriptions_ask_for_two(
    source: dict[str, Any],
) -> None:
    # CloudFormation Rules have no function that counts list items; RDS refuses a subnet group
    # in fewer than two zones at create time. The person filling in the form is told up front.
    values = {
        "ImageUri": GOOD_IMAGE,
        "NetworkMode": "existing",
        "ExistingVpcId": EXISTING_VPC,
        "ExistingPrivateSubnetIds": EXISTING_SUBNETS[0],
    }
    assert validate(source, values) == []
    assert "at least two" in source["Parameters"]["ExistingPrivateSubnetIds"]["Description"]
    rule = source["Rules"]["ExistingNetworkIsComplete"]["Assertions"][1]
    assert "two or more" in rule["AssertDescription"]


# --------------------------------------------------------------------------- cfn-lint's reach


def test_cfn_lint_does_not_check_allowed_pattern_so_the_local_validator_does(
    source: dict[str, Any],
) -> None:
    values = {"ImageUri": "docker.io/library/bookapp:1.0.0"}
    assert cfn_lint_parameter_errors(source, values) == []
    assert validate(source, values) != []


def test_cfn_lint_ignores_parameter_values_on_a_template_with_the_sam_transform(
    source: dict[str, Any],
) -> None:
    config = ManualArgs(
        regions=["us-east-1"], parameters=[ParameterSet(None, {"InstanceSize": "0.25vCPU-4GB"})]
    )
    findings = [m for m in lint(json.dumps(source), config=config) if m.rule.id == "E2900"]
    assert findings == []


# --------------------------------------------------------------------------- compute platforms

EXPRESS = {"ImageUri": GOOD_IMAGE, "ComputePlatform": "EcsExpress", "Tracing": "false"}


def test_every_rendered_variant_passes_every_check(source: dict[str, Any]) -> None:
    refused = {v.id: validate(source, v.overrides) for v in VARIANTS}
    assert {k: v for k, v in refused.items() if v} == {}


def test_ecs_express_with_its_defaults_otherwise_passes(source: dict[str, Any]) -> None:
    assert validate(source, EXPRESS) == []
    assert validate(source, {**EXPRESS, "NatGatewayMode": "none"}) == []


def test_tracing_on_ecs_express_is_refused_and_the_rule_says_why(source: dict[str, Any]) -> None:
    [error] = validate(source, {**EXPRESS, "Tracing": "true"})
    assert error.startswith("rule EcsExpressRunsWithoutTracing: ")
    assert "App Runner runs the X-Ray collector" in error
    assert "Set Tracing to false with ComputePlatform EcsExpress" in error


@pytest.mark.parametrize("platform", ["AppRunner", "EcsExpress"])
def test_auto_deployments_is_accepted_on_both_platforms_and_described_as_app_runner_only(
    source: dict[str, Any], platform: str
) -> None:
    values = {"ImageUri": GOOD_IMAGE, "ComputePlatform": platform, "Tracing": "false"}
    assert validate(source, {**values, "AutoDeployments": "true"}) == []
    description = source["Parameters"]["AutoDeployments"]["Description"]
    assert description.startswith("App Runner only")
    assert "Ignored on ECS Express" in description


def test_no_nat_is_refused_on_app_runner_whose_connector_needs_it(source: dict[str, Any]) -> None:
    [error] = validate(source, {"ImageUri": GOOD_IMAGE, "NatGatewayMode": "none"})
    assert error.startswith("rule NatGatewayNoneOnlyWhereNothingNeedsIt: ")
    assert "VPC connector" in error


def test_ecs_express_in_an_existing_vpc_needs_its_public_subnets(source: dict[str, Any]) -> None:
    existing = {
        **EXPRESS,
        "NetworkMode": "existing",
        "ExistingVpcId": EXISTING_VPC,
        "ExistingPrivateSubnetIds": ",".join(EXISTING_SUBNETS),
    }
    [error] = validate(source, existing)
    assert error.startswith("rule ExistingNetworkHasPublicSubnetsForEcsExpress: ")
    public = "subnet-0ccccccccccccccc3,subnet-0ddddddddddddddd4"
    assert validate(source, {**existing, "ExistingPublicSubnetIds": public}) == []
    # App Runner does not use them.
    app_runner = {k: v for k, v in existing.items() if k not in {"ComputePlatform", "Tracing"}}
    assert validate(source, app_runner) == []


def test_an_unknown_platform_is_refused(source: dict[str, Any]) -> None:
    values = {"ImageUri": GOOD_IMAGE, "ComputePlatform": "Lambda"}
    assert validate(source, values) == ["ComputePlatform: 'Lambda' is not one of AllowedValues"]
    assert len(cfn_lint_parameter_errors(source, values)) == 1


def test_platform_specific_parameters_say_so_and_sit_in_their_platforms_group(
    source: dict[str, Any],
) -> None:
    groups = {
        g["Label"]["default"]: g["Parameters"]
        for g in source["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    }
    assert groups["Compute platform"] == ["ComputePlatform"]
    assert groups["App Runner only"] == ["MaxConcurrency", "AutoDeployments", "Tracing"]
    assert groups["ECS Express only"] == ["ExpressCpuTargetPercent"]
    for name in groups["App Runner only"]:
        assert source["Parameters"][name]["Description"].startswith("App Runner only"), name
    for name in [*groups["ECS Express only"], "ExistingPublicSubnetIds"]:
        assert source["Parameters"][name]["Description"].startswith("ECS Express only"), name
    # Shared scaling parameters say how each platform reads them.
    for name in ("MinInstances", "MaxInstances"):
        description = source["Parameters"][name]["Description"]
        assert "App Runner" in description, name
        assert "ECS Express" in description, name
