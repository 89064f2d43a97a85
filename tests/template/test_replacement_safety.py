"""Replacement safety: which parameters can replace the database cluster or its secret, and no
others.

A replaced cluster is a new, empty database (the old one leaves a snapshot); a replaced secret is a
new password. The set of parameters that can cause either is derived from the resource schemas
shipped with cfn-lint (see replacement.py) and must equal the list documented here and in
docs/deploy.md ("What replaces what"), so a template change that lets the image, capacity, scaling,
compute platform or job settings reach a create-only property of the database fails this module.

Switching ComputePlatform is checked more strictly, in both directions, on the renderings: the
database, its secrets, the resolved environment and everything they refer to are not even updated,
and the switch changes nothing but the two compute parts with their alarms and App Runner's log
retention, the subscription's endpoint, who may publish, and the operations resources that read
the services (log retention's pinned ARNs, the job metrics' log group, the dashboard), each in the
one property that names the services (docs/platforms.md describes what users see meanwhile).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.template.conftest import EXPRESS_VARIANTS, Variant, app_runner_twin, rendered
from tests.template.render import REPO_ROOT, Rendered, referenced_names
from tests.template.replacement import ReplacementAnalysis

PROTECTED = ("DatabaseCluster", "DatabaseSecret", "AppEnvironmentSecret")
# DatabaseRotationDays is in the never-replace list below; tests/template/test_rotation.py also
# renders rotation off and on and finds these resources identical.

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
    "ComputePlatform",
    "ExpressCpuTargetPercent",
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
    "DatabaseRotationDays",
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
    """Rows `| `Parameter` | `Resource` | why |` of docs/deploy.md's "What replaces what" table."""
    deploy = (REPO_ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    text = deploy.split("### What replaces what", 1)[1].split("\n## ", 1)[0]
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


# --------------------------------------------------------------------------- a platform switch

APP_RUNNER_PART = {
    "ConnectorSecurityGroup",
    "ConnectorToDatabase",
    "DatabaseIngressFromConnector",
    "VpcConnector",
    "AutoScaling",
    "EcrAccessRole",
    "InstanceRole",
    "ApiInstanceRole",
    "ApiService",
    "JobService",
}
EXPRESS_PART = {
    "ExpressInfrastructureRole",
    "ExpressTaskRole",
    "ExpressApiTaskRole",
    "ExpressTaskSecurityGroup",
    "DatabaseIngressFromExpressTasks",
    "ExpressApiService",
    "ExpressJobService",
}
# The operations resources of each platform: App Runner's log groups get their retention from
# Custom::LogRetention and its alarms read AWS/AppRunner; ECS Express's log groups are the nested
# stacks' own and its alarms read the load balancer Express manages.
APP_RUNNER_OPERATIONS = {
    "ApiServiceLogRetention",
    "JobServiceLogRetention",
    "ApiErrorRateAlarm",
    "ApiLatencyAlarm",
    "ApiNoInstanceAlarm",
    "JobServiceNoInstanceAlarm",
}
EXPRESS_OPERATIONS = {
    "ExpressApiErrorRateAlarm",
    "ExpressApiLatencyAlarm",
    "ExpressApiNoHealthyTaskAlarm",
    "ExpressJobServiceNoHealthyTaskAlarm",
}
# Shared operations resources that read the services, so a switch updates them.
OPERATIONS_FOLLOWING_THE_SERVICES = {
    "LogRetentionFunction",
    "LogRetentionFunctionRole",
    "JobRunsMetricFilter",
    "JobFailuresMetricFilter",
    "JobFailuresAlarm",
    "Dashboard",
}
# Settings both platforms accept (NAT none is ECS Express only), each in both directions.
SWITCHES = [
    pair
    for variant in EXPRESS_VARIANTS
    if variant.nat != "none"
    for pair in ((app_runner_twin(variant), variant), (variant, app_runner_twin(variant)))
]


def switch_id(pair: tuple[Variant, Variant]) -> str:
    before, after = pair
    return f"{before.platform}-to-{after.platform}-" + after.id.split("-", 1)[1]


def state_and_what_it_refers_to(stack: Rendered) -> set[str]:
    """The protected resources, the resolved environment, and every resource they refer to."""
    found: set[str] = set()
    todo = [*PROTECTED, "AppEnvironment", "DatabaseSecretAttachment", "DatabaseInstance"]
    while todo:
        name = todo.pop()
        if name in found or name not in stack.resources:
            continue
        found.add(name)
        todo.extend(referenced_names(stack.resources[name]))
    return found


@pytest.mark.parametrize("switch", SWITCHES, ids=[switch_id(s) for s in SWITCHES])
def test_a_platform_switch_leaves_the_database_its_secrets_and_their_references_untouched(
    switch: tuple[Variant, Variant],
) -> None:
    before, after = (rendered(v) for v in switch)
    kept = state_and_what_it_refers_to(before)
    assert {"DatabaseCluster", "DatabaseSecurityGroup", "DatabaseSubnetGroup"} <= kept
    assert kept == state_and_what_it_refers_to(after)
    for name in sorted(kept):
        assert after.resources[name] == before.resources[name], name


@pytest.mark.parametrize("switch", SWITCHES, ids=[switch_id(s) for s in SWITCHES])
def test_a_platform_switch_changes_only_the_compute_parts_the_endpoint_and_the_publishers(
    switch: tuple[Variant, Variant],
) -> None:
    before, after = (rendered(v) for v in switch)
    dedicated = switch[1].jobs == "dedicated"
    app_runner = (APP_RUNNER_PART | APP_RUNNER_OPERATIONS) - (
        set()
        if dedicated
        # Shared mode: one service with the jobs role, no api role of its own.
        else {
            "JobService",
            "JobServiceLogRetention",
            "JobServiceNoInstanceAlarm",
            "ApiInstanceRole",
        }
    )
    express = (EXPRESS_PART | EXPRESS_OPERATIONS) - (
        set()
        if dedicated
        else {"ExpressJobService", "ExpressJobServiceNoHealthyTaskAlarm", "ExpressApiTaskRole"}
    )
    # Observability exists with tracing on, which ECS Express refuses: never in a switch.
    removed = set(before.resources) - set(after.resources)
    added = set(after.resources) - set(before.resources)
    if switch[1].express:
        assert (removed, added) == (app_runner, express)
    else:
        assert (removed, added) == (express, app_runner)
    changed = {
        name
        for name in set(before.resources) & set(after.resources)
        if before.resources[name] != after.resources[name]
    }
    # The endpoint moves; the new platform's role may publish and report results; the follower
    # redeploys the new services; Migrate runs db_migrate on them (its Platform property); the
    # operations that read the services follow them (see the test below).
    following = (
        {"RotationFollowerFunction", "RotationFollowerFunctionRole"}
        if switch[1].delivery == "SecretReference"
        else set()
    )
    assert changed == {
        "JobSubscription",
        "JobTopicPolicy",
        "JobResultQueuePolicy",
        "Migrate",
        *following,
        *OPERATIONS_FOLLOWING_THE_SERVICES,
    }
    assert after.props("Migrate")["Platform"] != before.props("Migrate")["Platform"]
    assert before.props("JobSubscription")["TopicArn"] == after.props("JobSubscription")["TopicArn"]
    assert before.props("JobSubscription")["Endpoint"] != after.props("JobSubscription")["Endpoint"]


def differing_keys(before: Any, after: Any, path: str = "") -> set[str]:
    """Paths of the values that differ between two renderings of a resource (an intrinsic
    function, such as {"Fn::GetAtt": ...}, is one value)."""

    def is_value(node: Any) -> bool:
        return not isinstance(node, dict) or any(k == "Ref" or k.startswith("Fn::") for k in node)

    if not is_value(before) and not is_value(after):
        return {
            found
            for key in set(before) | set(after)
            for found in differing_keys(before.get(key), after.get(key), f"{path}.{key}")
        }
    return set() if before == after else {path}


@pytest.mark.parametrize("switch", SWITCHES, ids=[switch_id(s) for s in SWITCHES])
def test_a_platform_switch_moves_the_operations_to_the_new_services_and_nothing_else(
    switch: tuple[Variant, Variant],
) -> None:
    before, after = (rendered(v) for v in switch)
    changes = {
        name: differing_keys(before.resources[name], after.resources[name])
        for name in OPERATIONS_FOLLOWING_THE_SERVICES
    }
    assert changes == {
        # Custom::LogRetention is pinned to the services' and Aurora's ARNs, and may touch their
        # log groups only: App Runner's services come and go, Aurora's stays.
        "LogRetentionFunction": {".Properties.Environment.Variables.RESOURCE_ARNS"},
        "LogRetentionFunctionRole": {".Properties.Policies"},
        # The job metrics read the new job endpoint's log group (a new filter: LogGroupName is
        # create-only); the alarm names that group; the dashboard shows the new platform.
        "JobRunsMetricFilter": {".Properties.LogGroupName"},
        "JobFailuresMetricFilter": {".Properties.LogGroupName"},
        "JobFailuresAlarm": {".Properties.AlarmDescription"},
        "Dashboard": {".Properties.DashboardBody"},
    }
    for name in ("JobRunsMetricFilter", "JobFailuresMetricFilter"):
        assert (
            before.props(name)["MetricTransformations"]
            == after.props(name)["MetricTransformations"]
        ), name
    assert before.props("Dashboard")["DashboardName"] == after.props("Dashboard")["DashboardName"]
    # Aurora's log group keeps its retention resource, untouched.
    assert before.resources["DatabaseLogRetention"] == after.resources["DatabaseLogRetention"]
    [before_policy], [after_policy] = (
        s.props("LogRetentionFunctionRole")["Policies"] for s in (before, after)
    )
    rds_group = {
        "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
        "/aws/rds/cluster/${DatabaseCluster}/*"
    }
    for policy in (before_policy, after_policy):
        [statement] = policy["PolicyDocument"]["Statement"]
        assert statement["Resource"][-1] == rds_group


def test_every_switch_pair_differs_in_the_platform_only() -> None:
    assert len(SWITCHES) == 2 * len([v for v in EXPRESS_VARIANTS if v.nat != "none"])
    for before, after in SWITCHES:
        assert before.platform != after.platform
        assert (before.network, before.jobs, before.nat, before.zones, before.delivery) == (
            after.network,
            after.jobs,
            after.nat,
            after.zones,
            after.delivery,
        )


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
