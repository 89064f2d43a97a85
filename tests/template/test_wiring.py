"""Wiring of the rendered stack, checked in every combination of its conditions.

The template switches the compute platform, VPC creation, the jobs service, tracing, NAT layout,
zone count, secret delivery and database auto-pause by condition. A reference that is right in the
default variant can dangle or point at the wrong thing in another, so each test here runs against
every rendering (see conftest.py), or every rendering of one platform; ECS Express's own wiring is
in test_ecs_express.py.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.template.conftest import EXISTING_SUBNETS, Case
from tests.template.containers import containers, express_stacks
from tests.template.render import Rendered, expanded_template, render

SERVICE = "AWS::AppRunner::Service"
APP_RUNNER_ONLY = {
    "ConnectorSecurityGroup",
    "DatabaseIngressFromConnector",
    "VpcConnector",
    "AutoScaling",
    "Observability",
    "EcrAccessRole",
    "InstanceRole",
    "ApiService",
    "JobService",
}
EXPRESS_ONLY = {
    "ExpressInfrastructureRole",
    "ExpressTaskRole",
    "ExpressTaskSecurityGroup",
    "DatabaseIngressFromExpressTasks",
    "ExpressApiService",
    "ExpressJobService",
}
STATEFUL_TYPES = frozenset(
    {
        "AWS::RDS::DBCluster",
        "AWS::RDS::DBInstance",
        "AWS::SecretsManager::Secret",
        "AWS::KMS::Key",
        "AWS::SQS::Queue",
        "AWS::Logs::LogGroup",
        "AWS::S3::Bucket",
        "AWS::DynamoDB::Table",
        "AWS::EFS::FileSystem",
        "AWS::CloudFormation::Stack",
    }
)
_DYNAMIC_SECRET = re.compile(r"^\{\{resolve:secretsmanager:\$\{(\w+)\}:SecretString:(\w+)\}\}$")


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def getatt(name: str, attribute: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, attribute]}


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for policy in role["Properties"].get("Policies", []):
        body = policy["PolicyDocument"]["Statement"]
        found.extend(body if isinstance(body, list) else [body])
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def private_subnet_ids(case: Case) -> list[Any]:
    if case.variant.network == "existing":
        return list(EXISTING_SUBNETS)
    return [ref(f"PrivateSubnet{n}") for n in range(1, int(case.variant.zones) + 1)]


def app_role_arn(case: Case) -> dict[str, list[str]]:
    """The role the app runs with on this variant's platform."""
    return getatt("ExpressTaskRole" if case.variant.express else "InstanceRole", "Arn")


# --------------------------------------------------------------------------- references


def test_every_reference_points_at_a_resource_that_exists_in_this_variant(case: Case) -> None:
    assert case.stack.dangling == []
    for name, nested in case.stack.nested.items():
        assert nested.dangling == [], name


def test_each_platform_deploys_its_own_compute_part_and_nothing_of_the_other(case: Case) -> None:
    names = set(case.stack.resources)
    types = {resource["Type"] for resource in case.stack.resources.values()}
    jobs = case.variant.jobs == "dedicated"
    if case.variant.express:
        assert not APP_RUNNER_ONLY & names
        assert not {t for t in types if t.startswith("AWS::AppRunner::")}
        expected = EXPRESS_ONLY - (set() if jobs else {"ExpressJobService"})
        assert EXPRESS_ONLY & names == expected
        assert express_stacks(case.stack) == sorted(
            expected & {"ExpressApiService", "ExpressJobService"}
        )
    else:
        assert not EXPRESS_ONLY & names
        assert not {t for t in types if t.startswith("AWS::ECS::")}
        assert case.stack.nested == {}
        assert {"ApiService", "VpcConnector", "InstanceRole"} <= names
        assert ("JobService" in names) is jobs


# --------------------------------------------------------------------------- network path


def test_every_app_runner_service_leaves_through_the_stacks_vpc_connector(
    app_runner_case: Case,
) -> None:
    case = app_runner_case
    services = case.stack.of_type(SERVICE)
    assert services
    for name in services:
        network = case.stack.props(name)["NetworkConfiguration"]
        assert network["EgressConfiguration"] == {
            "EgressType": "VPC",
            "VpcConnectorArn": getatt("VpcConnector", "VpcConnectorArn"),
        }, name
        assert network["IngressConfiguration"] == {"IsPubliclyAccessible": True}, name


def test_the_connector_uses_its_own_security_group_and_only_private_subnets(
    app_runner_case: Case,
) -> None:
    case = app_runner_case
    connector = case.stack.props("VpcConnector")
    assert connector["SecurityGroups"] == [ref("ConnectorSecurityGroup")]
    assert connector["Subnets"] == private_subnet_ids(case)
    assert not any("Public" in str(subnet) for subnet in connector["Subnets"])


def test_the_database_sits_in_the_same_private_subnets(case: Case) -> None:
    assert case.stack.props("DatabaseSubnetGroup")["SubnetIds"] == private_subnet_ids(case)
    cluster = case.stack.props("DatabaseCluster")
    assert cluster["DBSubnetGroupName"] == ref("DatabaseSubnetGroup")
    assert cluster["VpcSecurityGroupIds"] == [ref("DatabaseSecurityGroup")]


def test_private_subnets_route_to_the_internet_only_through_nat_or_not_at_all(
    case: Case,
) -> None:
    stack = case.stack
    if case.variant.network == "existing":
        return
    tables = {
        a["Properties"]["SubnetId"]["Ref"]: a["Properties"]["RouteTableId"]["Ref"]
        for a in stack.of_type("AWS::EC2::SubnetRouteTableAssociation").values()
    }
    routes = {
        r["Properties"]["RouteTableId"]["Ref"]: r["Properties"]
        for r in stack.of_type("AWS::EC2::Route").values()
    }
    for subnet in private_subnet_ids(case):
        if case.variant.nat == "none":
            assert tables[subnet["Ref"]] not in routes, subnet
            continue
        route = routes[tables[subnet["Ref"]]]
        assert route["DestinationCidrBlock"] == "0.0.0.0/0"
        assert "GatewayId" not in route, subnet
        assert route["NatGatewayId"]["Ref"] in stack.of_type("AWS::EC2::NatGateway"), subnet


def test_public_subnets_route_to_the_internet_gateway(case: Case) -> None:
    if case.variant.network == "existing":
        return
    stack = case.stack
    public = [f"PublicSubnet{n}" for n in range(1, int(case.variant.zones) + 1)]
    for subnet in public:
        [association] = [
            a["Properties"]
            for a in stack.of_type("AWS::EC2::SubnetRouteTableAssociation").values()
            if a["Properties"]["SubnetId"] == ref(subnet)
        ]
        assert association["RouteTableId"] == ref("PublicRouteTable")
    assert stack.props("PublicDefaultRoute") == {
        "RouteTableId": ref("PublicRouteTable"),
        "DestinationCidrBlock": "0.0.0.0/0",
        "GatewayId": ref("InternetGateway"),
    }


def test_nat_gateways_and_private_route_tables_follow_the_network_choice(case: Case) -> None:
    stack, variant = case.stack, case.variant
    nats = stack.of_type("AWS::EC2::NatGateway")
    private_tables = [t for t in stack.of_type("AWS::EC2::RouteTable") if t.startswith("Private")]
    if variant.network == "existing":
        assert nats == {}
        assert private_tables == []
        assert stack.of_type("AWS::EC2::VPC") == {}
        return
    zones = int(variant.zones)
    assert len(nats) == {"per-zone": zones, "single": 1, "none": 0}[variant.nat]
    assert len(private_tables) == zones
    assert bool(stack.of_type("AWS::EC2::EIP")) is (variant.nat != "none")
    for name, nat in nats.items():
        assert nat["Properties"]["SubnetId"] == ref(name.replace("NatGateway", "PublicSubnet"))
    routes = {
        r["Properties"]["RouteTableId"]["Ref"]: r["Properties"]["NatGatewayId"]["Ref"]
        for r in stack.of_type("AWS::EC2::Route").values()
        if "NatGatewayId" in r["Properties"]
    }
    for n in range(1, zones + 1):
        expected = {"per-zone": f"NatGateway{n}", "single": "NatGateway1", "none": None}
        assert routes.get(f"PrivateRouteTable{n}") == expected[variant.nat]


def test_the_database_admits_5432_only_from_the_platform_and_the_rotation_function(
    case: Case,
) -> None:
    stack = case.stack
    # Each platform's rule is a resource of its own part, so a switch keeps the old one until
    # CloudFormation's cleanup removes the old platform.
    assert "SecurityGroupIngress" not in stack.props("DatabaseSecurityGroup")
    rules = {
        name: extra["Properties"]
        for name, extra in stack.of_type("AWS::EC2::SecurityGroupIngress").items()
        if extra["Properties"].get("GroupId") == ref("DatabaseSecurityGroup")
    }
    expected = (
        ("DatabaseIngressFromExpressTasks", "ExpressTaskSecurityGroup")
        if case.variant.express
        else ("DatabaseIngressFromConnector", "ConnectorSecurityGroup")
    )
    rule = rules[expected[0]]
    assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 5432, 5432)
    assert rule["SourceSecurityGroupId"] == ref(expected[1])
    assert not {"CidrIp", "CidrIpv6", "SourcePrefixListId"} & set(rule)
    # Rotation (on by default) needs SecretReference; the hosted rotation function in the VPC
    # changes the password, so it alone joins the platform's rule.
    if case.variant.delivery == "SecretReference":
        expected_rules = {expected[0], "DatabaseFromRotationFunction"}
        extra = rules["DatabaseFromRotationFunction"]
        assert (extra["IpProtocol"], extra["FromPort"], extra["ToPort"]) == ("tcp", 5432, 5432)
        assert extra["SourceSecurityGroupId"] == ref("RotationFunctionSecurityGroup")
        assert not {"CidrIp", "CidrIpv6", "SourcePrefixListId"} & set(extra)
    else:
        expected_rules = {expected[0]}
    assert set(rules) == expected_rules
    assert stack.props("DatabaseInstance")["PubliclyAccessible"] is False


# --------------------------------------------------------------------------- IAM


def runtime_statements(stack: Rendered) -> list[dict[str, Any]]:
    """What the app may do at run time: the one policy both platforms' app roles attach."""
    body = stack.props("AppRuntimePolicy")["PolicyDocument"]["Statement"]
    return list(body)


def test_the_app_role_of_either_platform_attaches_the_one_runtime_policy(case: Case) -> None:
    stack = case.stack
    role = "ExpressTaskRole" if case.variant.express else "InstanceRole"
    assert stack.props(role)["ManagedPolicyArns"] == [ref("AppRuntimePolicy")]
    policies = stack.props(role).get("Policies", [])
    if case.variant.express:
        # ECS reads the task's secrets with the execution role, so the task role holds nothing
        # beyond the runtime rights.
        assert policies == []
    else:
        # App Runner reads RuntimeEnvironmentSecrets with the instance role.
        assert [s["Action"] for p in policies for s in p["PolicyDocument"]["Statement"]] == [
            "secretsmanager:GetSecretValue"
        ]
    attached = [
        name
        for name, resource in stack.of_type("AWS::IAM::Role").items()
        if ref("AppRuntimePolicy") in resource["Properties"].get("ManagedPolicyArns", [])
    ]
    assert attached == [role]


def test_no_runtime_statement_has_a_wildcard_resource_except_xray(case: Case) -> None:
    wildcard = [s for s in runtime_statements(case.stack) if "*" in as_list(s["Resource"])]
    xray = [
        s
        for s in runtime_statements(case.stack)
        if any(a.startswith("xray:") for a in as_list(s["Action"]))
    ]
    for statement in wildcard:
        assert all(a.startswith("xray:") for a in as_list(statement["Action"])), statement
    if case.variant.tracing == "true":
        assert len(xray) == 1
    else:
        assert xray == []
        assert wildcard == []


def test_the_app_reads_only_stack_secrets_and_publishes_only_to_the_job_topic(
    case: Case,
) -> None:
    stack = case.stack
    secrets = set(stack.of_type("AWS::SecretsManager::Secret"))
    role = "ExpressTaskRole" if case.variant.express else "InstanceRole"
    for statement in statements(stack.resources[role]) + runtime_statements(stack):
        actions = as_list(statement["Action"])
        assert statement["Effect"] == "Allow"
        if any(a.startswith("secretsmanager:") for a in actions):
            assert actions == ["secretsmanager:GetSecretValue"]
            for resource in as_list(statement["Resource"]):
                assert resource["Ref"] in secrets, resource
        if any(a.startswith("sns:") for a in actions):
            assert sorted(actions) == ["sns:ConfirmSubscription", "sns:Publish"]
            assert statement["Resource"] == ref("JobTopic")


def test_each_service_runs_with_its_own_role_and_pulls_with_the_ecr_role(
    app_runner_case: Case,
) -> None:
    case = app_runner_case
    dedicated = case.variant.jobs == "dedicated"
    expected = {
        "ApiService": "ApiInstanceRole" if dedicated else "InstanceRole",
        "JobService": "InstanceRole",
    }
    assert set(case.stack.of_type(SERVICE)) == (
        {"ApiService", "JobService"} if dedicated else {"ApiService"}
    )
    for name in case.stack.of_type(SERVICE):
        props = case.stack.props(name)
        assert props["InstanceConfiguration"]["InstanceRoleArn"] == getatt(expected[name], "Arn")
        access = props["SourceConfiguration"]["AuthenticationConfiguration"]["AccessRoleArn"]
        assert access == getatt("EcrAccessRole", "Arn")
        assert props["HealthCheckConfiguration"]["Protocol"] == "HTTP"


# --------------------------------------------------------------------------- services and jobs


def test_dedicated_mode_runs_an_api_and_a_jobs_service_and_shared_mode_one_for_all(
    case: Case,
) -> None:
    roles = sorted(container.app_role for container in containers(case.stack))
    assert roles == (["api", "jobs"] if case.variant.jobs == "dedicated" else ["all"])


def test_every_service_knows_the_job_path_topic_port_region_and_tracing_switch(
    case: Case,
) -> None:
    for container in containers(case.stack):
        variables = container.environment
        assert variables["JOB_PATH"] == "/jobs"
        assert variables["JOB_TOPIC_ARN"] == ref("JobTopic")
        assert variables["ENABLE_OTEL"] == case.variant.tracing
        assert variables["PORT"] == "8080"
        assert variables["AWS_REGION"] == ref("AWS::Region")


def test_app_runner_traces_through_its_observability_configuration_when_tracing_is_on(
    app_runner_case: Case,
) -> None:
    case = app_runner_case
    assert ("Observability" in case.stack.resources) is (case.variant.tracing == "true")
    for name in case.stack.of_type(SERVICE):
        observability = case.stack.props(name)["ObservabilityConfiguration"]
        assert observability["ObservabilityEnabled"] is (case.variant.tracing == "true")
        if case.variant.tracing == "true":
            assert observability["ObservabilityConfigurationArn"] == getatt(
                "Observability", "ObservabilityConfigurationArn"
            )
        else:
            assert "ObservabilityConfigurationArn" not in observability


def test_the_job_subscription_points_at_the_service_that_serves_jobs(case: Case) -> None:
    subscription = case.stack.props("JobSubscription")
    dedicated = case.variant.jobs == "dedicated"
    if case.variant.express:
        target = "ExpressJobService" if dedicated else "ExpressApiService"
        host = f"${{{target}.Outputs.Endpoint}}"
    else:
        target = "JobService" if dedicated else "ApiService"
        host = f"${{{target}.ServiceUrl}}"
    assert subscription["Endpoint"] == {"Fn::Sub": f"https://{host}/jobs"}
    assert subscription["TopicArn"] == ref("JobTopic")
    assert subscription["RedrivePolicy"] == {
        "deadLetterTargetArn": getatt("JobDeadLetterQueue", "Arn")
    }


def test_database_url_arrives_as_a_secret_or_a_variable_and_the_fingerprint_always_plain(
    case: Case,
) -> None:
    url = getatt("AppEnvironment", "DATABASE_URL")
    found = containers(case.stack)
    assert found
    for container in found:
        plain, secret = container.environment, container.secrets
        assert plain["SECRETS_FINGERPRINT"] == getatt("AppEnvironment", "Fingerprint")
        assert "SECRETS_FINGERPRINT" not in secret
        if case.variant.delivery == "SecretReference":
            assert secret == {"DATABASE_URL": url}
            assert "DATABASE_URL" not in plain
        else:
            assert plain["DATABASE_URL"] == url
            assert secret == {}
    environment = case.stack.props("AppEnvironment")
    assert environment["Delivery"] == case.variant.delivery
    if case.variant.delivery == "SecretReference":
        assert environment["TargetSecretArn"] == ref("AppEnvironmentSecret")
    else:
        assert "TargetSecretArn" not in environment


def test_custom_resources_set_a_service_timeout_their_function_finishes_within(case: Case) -> None:
    stack = case.stack
    custom = {k: v for k, v in stack.resources.items() if v["Type"].startswith("Custom::")}
    # App Runner makes its services' log groups itself; the stack owns Express's.
    services = (
        set()
        if case.variant.express
        else {"ApiServiceLogRetention"}
        | ({"JobServiceLogRetention"} if case.variant.jobs == "dedicated" else set())
    )
    log_retention = {"DatabaseLogRetention"} | services
    assert set(custom) == {"AppEnvironment", "JobSubscription", "Migrate"} | log_retention
    for name, resource in custom.items():
        props = resource["Properties"]
        timeout = int(props["ServiceTimeout"])
        assert 1 <= timeout <= 3600, name
        function = props["ServiceToken"]["Fn::GetAtt"][0]
        assert int(stack.props(function)["Timeout"]) <= timeout, name
    wait = int(stack.props("JobSubscription")["ConfirmationTimeoutSeconds"])
    assert wait < int(stack.props("HttpsSubscriptionFunction")["Timeout"])
    assert int(stack.props("Migrate")["TimeoutSeconds"]) < int(
        stack.props("JobRunFunction")["Timeout"]
    )


def test_auto_pause_is_set_only_when_the_minimum_capacity_is_zero(case: Case) -> None:
    scaling = case.stack.props("DatabaseCluster")["ServerlessV2ScalingConfiguration"]
    assert scaling["MinCapacity"] == case.variant.min_acu
    assert ("SecondsUntilAutoPause" in scaling) is (case.variant.min_acu == "0")


# --------------------------------------------------------------------------- state and secrets


def test_the_database_cluster_keeps_a_snapshot_on_delete_and_on_replacement(case: Case) -> None:
    cluster = case.stack.resources["DatabaseCluster"]
    assert cluster["DeletionPolicy"] == "Snapshot"
    assert cluster["UpdateReplacePolicy"] == "Snapshot"
    assert cluster["Properties"]["StorageEncrypted"] is True


def test_every_stateful_resource_states_its_deletion_and_replacement_policy(case: Case) -> None:
    for name, resource in case.stack.resources.items():
        if resource["Type"] in STATEFUL_TYPES:
            assert "DeletionPolicy" in resource, name
            assert "UpdateReplacePolicy" in resource, name


def test_the_master_password_is_a_dynamic_reference_to_the_stack_secret(case: Case) -> None:
    cluster = case.stack.props("DatabaseCluster")
    match = _DYNAMIC_SECRET.match(cluster["MasterUserPassword"]["Fn::Sub"])
    assert match is not None
    assert match.groups() == ("DatabaseSecret", "password")
    # The username is the parameter itself, so a new one is a change CloudFormation sees.
    assert cluster["MasterUsername"] == "bookapp_admin"  # the parameter's default, resolved
    generated = case.stack.props("DatabaseSecret")["GenerateSecretString"]
    assert generated["GenerateStringKey"] == "password"
    assert "password" not in generated["SecretStringTemplate"]


def test_only_the_apps_role_and_the_job_run_function_may_publish_jobs_by_default(
    case: Case,
) -> None:
    statements = case.stack.props("JobTopicPolicy")["PolicyDocument"]["Statement"]
    [deny] = [s for s in statements if s["Effect"] == "Deny" and s["Action"] == "sns:Publish"]
    assert deny["Principal"] == {"AWS": "*"}
    assert deny["Resource"] == {"Ref": "JobTopic"}
    assert deny["Condition"] == {
        "ArnNotLike": {
            "aws:PrincipalArn": [app_role_arn(case), {"Fn::GetAtt": ["JobRunFunctionRole", "Arn"]}]
        }
    }


@pytest.mark.parametrize(
    ("platform", "role"), [("AppRunner", "InstanceRole"), ("EcsExpress", "ExpressTaskRole")]
)
def test_named_publishers_are_added_beside_the_apps_role(platform: str, role: str) -> None:
    others = "arn:aws:iam::123456789012:role/ops,arn:aws:iam::123456789012:role/ci-*"
    stack = render(
        expanded_template(),
        {
            "ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/a:1",
            "ComputePlatform": platform,
            "Tracing": "false",
            "JobPublisherArns": others,
        },
    )
    statements = stack.props("JobTopicPolicy")["PolicyDocument"]["Statement"]
    [deny] = [s for s in statements if s["Effect"] == "Deny"]
    split = deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"]["Fn::Split"]
    text, variables = split[1]["Fn::Sub"]
    assert split[0] == ","
    assert text == "${Role},${JobRun}," + others
    assert variables == {
        "Role": {"Fn::GetAtt": [role, "Arn"]},
        "JobRun": {"Fn::GetAtt": ["JobRunFunctionRole", "Arn"]},
    }


def test_custom_resource_functions_use_a_wildcard_resource_only_where_sns_offers_no_other(
    case: Case,
) -> None:
    # sns:Unsubscribe, GetSubscriptionAttributes and SetSubscriptionAttributes have no resource
    # type in SNS's authorization reference: "*" is the only grant that works for them.
    allowed_on_anything = {
        "sns:Unsubscribe",
        "sns:GetSubscriptionAttributes",
        "sns:SetSubscriptionAttributes",
    }
    for role in (
        "HttpsSubscriptionFunctionRole",
        "SecretEnvironmentFunctionRole",
        "JobRunFunctionRole",
        "LogRetentionFunctionRole",
    ):
        for policy in case.stack.props(role).get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"]
                actions = {actions} if isinstance(actions, str) else set(actions)
                if statement["Resource"] == "*":
                    assert role == "HttpsSubscriptionFunctionRole"
                    assert actions == allowed_on_anything


def test_no_service_turns_the_test_jobs_on(case: Case) -> None:
    # test_book_job runs only where ENABLE_TEST_JOBS=true: the rehearsal, tests and benchmarks.
    found = containers(case.stack)
    assert found
    for container in found:
        assert "ENABLE_TEST_JOBS" not in container.environment
        assert "JOB_MAX_MESSAGE_AGE_SECONDS" not in container.environment


def test_the_public_api_service_may_not_publish_or_confirm_jobs(case: Case) -> None:
    """Dedicated mode: the api service's role reads its secret and writes traces, nothing else;
    it is not among the job topic's publishers."""
    if case.variant.jobs != "dedicated":
        return
    role = "ExpressApiTaskRole" if case.variant.express else "ApiInstanceRole"
    props = case.stack.props(role)
    assert "ManagedPolicyArns" not in props
    actions = {a for s in statements(case.stack.resources[role]) for a in as_list(s["Action"])}
    if case.variant.express:
        assert actions == set()
    else:
        xray = {a for a in actions if a.startswith("xray:")}
        assert actions - xray == {"secretsmanager:GetSecretValue"}
        assert bool(xray) == (case.variant.tracing == "true")
    deny = next(
        s
        for s in case.stack.props("JobTopicPolicy")["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny"
    )
    assert getatt(role, "Arn") not in deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
