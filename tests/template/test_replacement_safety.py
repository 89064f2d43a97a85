"""Replacement safety: which parameters can replace the database cluster or its secret, and no
others.

A replaced cluster is a new, empty database (the old one leaves a snapshot); a replaced secret is a
new password. The set of parameters that can cause either is derived from the resource schemas
shipped with cfn-lint (see replacement.py) and must equal the list documented here and in
the README ("Replacement safety"), so a template change that lets the image, capacity, scaling
or job settings reach a create-only property of the database fails this module.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.template.render import REPO_ROOT
from tests.template.replacement import ReplacementAnalysis

PROTECTED = ("DatabaseCluster", "DatabaseSecret", "AppEnvironmentSecret")

# Derived from createOnlyProperties: AWS::RDS::DBCluster DatabaseName.
SCHEMA_DERIVED: dict[str, set[str]] = {
    "DatabaseCluster": {"DatabaseName"},
    "DatabaseSecret": set(),
    "AppEnvironmentSecret": set(),
}
# MasterUsername is in the schema's conditionalCreateOnlyProperties (CloudFormation's docs: "Update
# requires: Replacement"); the template passes the parameter directly, so the walk sees it.
CONDITIONALLY_DERIVED: dict[str, set[str]] = {
    "DatabaseCluster": {"DatabaseName", "DatabaseMasterUsername"},
    "DatabaseSecret": set(),
    "AppEnvironmentSecret": set(),
}
DOCUMENTED = CONDITIONALLY_DERIVED

NEVER_REPLACE_THE_DATABASE = {
    "ImageUri",
    "ContainerPort",
    "HealthCheckPath",
    "InstanceSize",
    "MinInstances",
    "MaxInstances",
    "MaxConcurrency",
    "AutoDeployments",
    "JobServiceMode",
    "DatabaseMinCapacity",
    "DatabaseMaxCapacity",
    "DatabaseAutoPauseSeconds",
    "DatabaseEngineVersion",
    "DatabaseDeletionProtection",
    "DatabaseBackupRetentionDays",
    "SecretDelivery",
    "SecretsGeneration",
    "Tracing",
    "LogRetentionDays",
    "AlarmEmail",
    "AlarmTopicArn",
    "DeadLetterRetentionSeconds",
    "JobPublisherArns",
    # Operations: alarms, log retention, the failover reader (a separate instance).
    "ServiceLogsOnDelete",
    "ApiErrorRatePercent",
    "ApiLatencyP99Milliseconds",
    "JobFailureThreshold",
    "DatabaseCapacityAlarmPercent",
    "DatabaseCpuAlarmPercent",
    "DatabaseFailoverReader",
}


def documented_in_docs() -> dict[str, set[str]]:
    """Rows `| `Parameter` | `Resource` | why |` of the README's "Replacement safety" table."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    text = readme.split("### Replacement safety", 1)[1].split("\n## ", 1)[0]
    found: dict[str, set[str]] = {name: set() for name in PROTECTED}
    for parameter, resource in re.findall(r"^\| `(\w+)` \| `(\w+)` \|", text, re.MULTILINE):
        found[resource].add(parameter)
    return found


@pytest.fixture(scope="module")
def strict(expanded: dict[str, Any]) -> ReplacementAnalysis:
    return ReplacementAnalysis(expanded)


@pytest.fixture(scope="module")
def conditional(expanded: dict[str, Any]) -> ReplacementAnalysis:
    return ReplacementAnalysis(expanded, conditional=True)


def test_the_schema_derived_replacers_of_the_database_and_secrets_are_the_documented_ones(
    strict: ReplacementAnalysis,
) -> None:
    assert {name: strict.replacers[name] for name in PROTECTED} == SCHEMA_DERIVED


def test_conditionally_create_only_properties_add_the_master_username(
    conditional: ReplacementAnalysis,
) -> None:
    assert {name: conditional.replacers[name] for name in PROTECTED} == CONDITIONALLY_DERIVED


def test_no_parameter_reaches_the_cluster_only_through_a_dynamic_reference(
    strict: ReplacementAnalysis, conditional: ReplacementAnalysis
) -> None:
    # CloudFormation re-resolves {{resolve:...}} only when its text changes: a parameter that
    # reached a create-only property only that way would change nothing on the cluster.
    assert strict.dynamic_reference_parameters("DatabaseCluster") == set()
    assert conditional.dynamic_reference_parameters("DatabaseCluster") == set()


def test_the_documented_list_matches_the_readme(expanded: dict[str, Any]) -> None:
    assert documented_in_docs() == DOCUMENTED
    for parameters in DOCUMENTED.values():
        assert parameters <= set(expanded["Parameters"])


@pytest.mark.parametrize("parameter", sorted(NEVER_REPLACE_THE_DATABASE | {"JobPath"}))
def test_image_capacity_scaling_tracing_and_job_settings_never_replace_the_database_or_a_secret(
    expanded: dict[str, Any],
    strict: ReplacementAnalysis,
    conditional: ReplacementAnalysis,
    parameter: str,
) -> None:
    for name in PROTECTED:
        assert parameter not in conditional.replacers[name] | strict.replacers[name], name
        assert parameter not in conditional.dynamic_reference_parameters(name), name
        assert parameter not in DOCUMENTED[name]


def test_every_job_parameter_is_covered_by_the_never_replace_list(expanded: dict[str, Any]) -> None:
    jobs = {p for p in expanded["Parameters"] if p.startswith("Job")}
    assert jobs
    assert jobs <= NEVER_REPLACE_THE_DATABASE | {
        "JobPath",
        "JobRetryCount",
        "JobMinDelaySeconds",
        "JobMaxDelaySeconds",
        "JobMaxReceivesPerSecond",
        "JobConfirmationTimeoutSeconds",
    }
    test_params = jobs | NEVER_REPLACE_THE_DATABASE
    analysis = ReplacementAnalysis(expanded, conditional=True)
    for name in PROTECTED:
        assert not test_params & analysis.replacers[name]


def test_no_parameter_can_remove_the_database_or_its_secret_by_condition(
    expanded: dict[str, Any],
) -> None:
    for name in PROTECTED:
        assert "Condition" not in expanded["Resources"][name], name


def test_a_new_master_username_is_a_change_cloudformation_sees_on_the_cluster(
    conditional: ReplacementAnalysis,
) -> None:
    assert "DatabaseMasterUsername" in conditional.replacers["DatabaseCluster"]


# --------------------------------------------------------------------------- the analysis itself


def synthetic(cluster_properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "Parameters": {"P": {"Type": "String"}, "Q": {"Type": "String"}},
        "Conditions": {"UseQ": {"Fn::Equals": [{"Ref": "Q"}, "yes"]}},
        "Resources": {
            "Group": {
                "Type": "AWS::RDS::DBSubnetGroup",
                "Properties": {"DBSubnetGroupName": {"Ref": "P"}, "SubnetIds": ["a", "b"]},
            },
            "Cluster": {"Type": "AWS::RDS::DBCluster", "Properties": cluster_properties},
        },
    }


def test_the_analysis_follows_a_reference_to_a_resource_a_parameter_replaces() -> None:
    template = synthetic({"DBSubnetGroupName": {"Ref": "Group"}})
    assert ReplacementAnalysis(template).replacers["Cluster"] == {"P"}


def test_the_analysis_counts_the_condition_of_an_fn_if_inside_a_create_only_property() -> None:
    template = synthetic({"DatabaseName": {"Fn::If": ["UseQ", "a", "b"]}})
    assert ReplacementAnalysis(template).replacers["Cluster"] == {"Q"}


def test_the_analysis_ignores_parameters_in_properties_that_update_in_place() -> None:
    template = synthetic({"BackupRetentionPeriod": {"Ref": "P"}, "DatabaseName": "fixed"})
    assert ReplacementAnalysis(template).replacers["Cluster"] == set()
