"""ECS Express Mode's wiring: the nested service per role, its roles, network and logs.

Each test runs against every ECS Express rendering (see conftest.py), with compute/ecs-express.yaml
rendered for the parameters each instance in template.yaml passes, so a parameter wired to the
wrong thing in the parent shows up where the service uses it. The last tests compare the two
platforms: the container contract is the same, and so are the app's runtime rights.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.cfn_template import render as render_template
from tests.template.conftest import (
    ECS_EXPRESS,
    EXISTING_PUBLIC_SUBNETS,
    Case,
    Variant,
    app_runner_twin,
    rendered,
)
from tests.template.containers import containers, express_service, express_stacks
from tests.template.render import (
    REPO_ROOT,
    Rendered,
    load_source,
    referenced_names,
    source_template,
)

INFRASTRUCTURE_POLICY = (
    "arn:${AWS::Partition}:iam::aws:policy/service-role/"
    "AmazonECSInfrastructureRoleforExpressGatewayServices"
)
ECR_REPOSITORIES = "arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/*"
# Fargate's CPU units and the memory sizes (MiB) each allows (ECS developer guide, task size).
FARGATE_MEMORY = {
    "256": {512, 1024, 2048},
    "512": set(range(1024, 4096 + 1, 1024)),
    "1024": set(range(2048, 8192 + 1, 1024)),
    "2048": set(range(4096, 16384 + 1, 1024)),
    "4096": set(range(8192, 30720 + 1, 1024)),
}


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def getatt(name: str, attribute: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, attribute]}


def public_subnets(case: Case) -> list[Any]:
    if case.variant.network == "existing":
        return list(EXISTING_PUBLIC_SUBNETS)
    return [ref(f"PublicSubnet{n}") for n in range(1, int(case.variant.zones) + 1)]


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        s for p in role["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]
    ]


def nested(case: Case, name: str) -> Rendered:
    return case.stack.nested[name]


# --------------------------------------------------------------------------- the services


def test_one_service_per_role_each_an_instance_of_the_one_nested_template(
    express_case: Case,
) -> None:
    stack, dedicated = express_case.stack, express_case.variant.jobs == "dedicated"
    expected = ["ExpressApiService", "ExpressJobService"] if dedicated else ["ExpressApiService"]
    assert express_stacks(stack) == expected
    for name in expected:
        assert stack.resources[name]["Type"] == "AWS::CloudFormation::Stack"
        assert stack.props(name)["TemplateURL"] == "compute/ecs-express.yaml"
    roles = {name: stack.props(name)["Parameters"]["AppRole"] for name in expected}
    assert roles == (
        {"ExpressApiService": "api", "ExpressJobService": "jobs"}
        if dedicated
        else {"ExpressApiService": "all"}
    )


def test_the_two_instances_differ_only_in_their_role(express_case: Case) -> None:
    stack = express_case.stack
    if express_case.variant.jobs != "dedicated":
        return
    api = dict(stack.props("ExpressApiService")["Parameters"])
    jobs = dict(stack.props("ExpressJobService")["Parameters"])
    # The api service's task role holds nothing; the jobs service's has the runtime rights.
    assert {k for k in api if api[k] != jobs.get(k)} == {"AppRole", "TaskRoleArn"}
    assert api["TaskRoleArn"] == getatt("ExpressApiTaskRole", "Arn")
    assert jobs["TaskRoleArn"] == getatt("ExpressTaskRole", "Arn")
    assert set(api) == set(jobs)


def test_each_service_runs_the_image_with_its_roles_size_port_and_health_check(
    express_case: Case,
) -> None:
    for name in express_stacks(express_case.stack):
        service = express_service(express_case.stack, name)
        assert service["InfrastructureRoleArn"] == getatt("ExpressInfrastructureRole", "Arn")
        own_role = name == "ExpressApiService" and express_case.variant.jobs == "dedicated"
        task_role = "ExpressApiTaskRole" if own_role else "ExpressTaskRole"
        assert service["TaskRoleArn"] == getatt(task_role, "Arn")
        assert service["ExecutionRoleArn"] == getatt("ExecutionRole", "Arn")
        # The default InstanceSize, 1vCPU-2GB, through the InstanceSizes mapping.
        assert (service["Cpu"], service["Memory"]) == ("1024", "2048")
        assert service["HealthCheckPath"] == "/healthz"
        container = service["PrimaryContainer"]
        assert container["Image"] == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/bookapp:1.0.0"
        assert container["ContainerPort"] == "8080"
        assert container["AwsLogsConfiguration"] == {
            "LogGroup": ref("LogGroup"),
            "LogStreamPrefix": nested(express_case, name).parameters["AppRole"],
        }


def test_each_service_scales_between_the_stacks_instance_bounds_on_average_cpu(
    express_case: Case,
) -> None:
    for name in express_stacks(express_case.stack):
        assert express_service(express_case.stack, name)["ScalingTarget"] == {
            "MinTaskCount": "1",
            "MaxTaskCount": "3",
            "AutoScalingMetric": "AVERAGE_CPU",
            "AutoScalingTargetValue": "60",
        }


def test_tasks_run_in_the_public_subnets_with_the_task_security_group(
    express_case: Case,
) -> None:
    for name in express_stacks(express_case.stack):
        network = express_service(express_case.stack, name)["NetworkConfiguration"]
        assert network == {
            "Subnets": public_subnets(express_case),
            "SecurityGroups": [ref("ExpressTaskSecurityGroup")],
        }
        assert not any("Private" in str(subnet) for subnet in network["Subnets"])


def test_each_service_logs_to_its_own_group_with_the_stacks_retention(express_case: Case) -> None:
    for name in express_stacks(express_case.stack):
        group = nested(express_case, name).resources["LogGroup"]
        assert group["Properties"] == {"RetentionInDays": "30"}
        assert (group["DeletionPolicy"], group["UpdateReplacePolicy"]) == ("Delete", "Delete")


def test_the_services_wait_for_the_database_to_admit_the_tasks(express_case: Case) -> None:
    for name in express_stacks(express_case.stack):
        assert express_case.stack.resources[name]["DependsOn"] == "DatabaseIngressFromExpressTasks"


def test_the_job_endpoint_is_the_jobs_service_or_in_shared_mode_the_api_service(
    express_case: Case,
) -> None:
    stack = express_case.stack
    target = (
        "ExpressJobService" if express_case.variant.jobs == "dedicated" else "ExpressApiService"
    )
    assert nested(express_case, target).parameters["AppRole"] in {"jobs", "all"}
    assert stack.props("JobSubscription")["Endpoint"] == {
        "Fn::Sub": f"https://${{{target}.Outputs.Endpoint}}/jobs"
    }
    outputs = nested(express_case, target).outputs
    assert outputs["Endpoint"]["Value"] == getatt("Service", "Endpoint")
    assert outputs["LoadBalancerArn"]["Value"] == getatt(
        "Service", "ECSManagedResourceArns.IngressPath.LoadBalancerArn"
    )


# --------------------------------------------------------------------------- roles


def test_the_infrastructure_role_is_trusted_by_ecs_and_holds_only_the_express_policy(
    express_case: Case,
) -> None:
    role = express_case.stack.props("ExpressInfrastructureRole")
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "ecs.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    assert role["ManagedPolicyArns"] == [{"Fn::Sub": INFRASTRUCTURE_POLICY}]
    assert "Policies" not in role


def test_the_task_role_is_trusted_by_this_accounts_ecs_tasks_only(express_case: Case) -> None:
    role = express_case.stack.props("ExpressTaskRole")
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": ref("AWS::AccountId")}
    assert trust["Condition"]["ArnLike"] == {
        "aws:SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:*"}
    }


def test_the_execution_role_pulls_the_image_writes_its_log_group_and_reads_only_the_target_secret(
    express_case: Case,
) -> None:
    delivery = express_case.variant.delivery
    for name in express_stacks(express_case.stack):
        role = nested(express_case, name).resources["ExecutionRole"]
        [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
        rights = {s["Sid"]: (s["Action"], s["Resource"]) for s in statements(role)}
        expected = {
            "LogInToEcr": ("ecr:GetAuthorizationToken", "*"),
            "PullTheImage": (
                [
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchGetImage",
                ],
                {"Fn::Sub": ECR_REPOSITORIES},
            ),
            "WriteThisServicesLogs": (
                ["logs:CreateLogStream", "logs:PutLogEvents"],
                getatt("LogGroup", "Arn"),
            ),
        }
        if delivery == "SecretReference":
            expected["ReadTheResolvedEnvironment"] = (
                "secretsmanager:GetSecretValue",
                ref("AppEnvironmentSecret"),
            )
        assert rights == expected
        assert all(s["Effect"] == "Allow" for s in statements(role))
        assert "ManagedPolicyArns" not in role["Properties"]


# --------------------------------------------------------------------------- network


def test_the_task_security_group_has_no_ingress_and_reaches_only_postgresql_and_https(
    express_case: Case,
) -> None:
    group = express_case.stack.props("ExpressTaskSecurityGroup")
    vpc = ref("Vpc") if express_case.variant.network == "create" else "vpc-0123456789abcdef0"
    assert group["VpcId"] == vpc
    assert "SecurityGroupIngress" not in group
    rules = [
        (
            r["IpProtocol"],
            r["FromPort"],
            r["ToPort"],
            r.get("DestinationSecurityGroupId"),
            r.get("CidrIp"),
        )
        for r in group["SecurityGroupEgress"]
    ]
    assert rules == [
        ("tcp", 5432, 5432, ref("DatabaseSecurityGroup"), None),
        ("tcp", 443, 443, None, "0.0.0.0/0"),
    ]
    ingress_into_tasks = [
        name
        for name, rule in express_case.stack.of_type("AWS::EC2::SecurityGroupIngress").items()
        if rule["Properties"]["GroupId"] == ref("ExpressTaskSecurityGroup")
    ]
    assert ingress_into_tasks == []


# --------------------------------------------------------------------------- both platforms


def test_the_container_contract_is_the_same_as_on_app_runner(express_case: Case) -> None:
    express = {c.app_role: (c.environment, c.secrets) for c in containers(express_case.stack)}
    twin = rendered(app_runner_twin(express_case.variant))
    app_runner = {c.app_role: (c.environment, c.secrets) for c in containers(twin)}
    assert express == app_runner
    assert len(express) == (2 if express_case.variant.jobs == "dedicated" else 1)


def test_the_database_url_reference_is_the_target_secrets_key_ecs_reads(
    express_case: Case,
) -> None:
    for container in containers(express_case.stack):
        if express_case.variant.delivery == "SecretReference":
            # <TargetSecretArn>:DATABASE_URL:: is what the attribute holds (docs/ and
            # tests/functions); ECS resolves ValueFrom <secret-arn>:<json-key>:: at task start.
            assert container.secrets == {"DATABASE_URL": getatt("AppEnvironment", "DATABASE_URL")}
            assert "DATABASE_URL" not in container.environment
        else:
            assert container.secrets == {}
            assert container.environment["DATABASE_URL"] == getatt("AppEnvironment", "DATABASE_URL")


def test_the_database_url_parameter_of_the_nested_template_is_no_echo() -> None:
    parameters = load_source(REPO_ROOT / "compute/ecs-express.yaml")["Parameters"]
    assert parameters["DatabaseUrl"]["NoEcho"] is True


def test_the_app_has_the_same_runtime_rights_on_both_platforms() -> None:
    base = Variant(
        ECS_EXPRESS, "create", "dedicated", "false", "single", "2", "SecretReference", "0.5"
    )
    express, app_runner = rendered(base), rendered(app_runner_twin(base))
    assert express.props("AppRuntimePolicy") == app_runner.props("AppRuntimePolicy")
    assert express.props("ExpressTaskRole")["ManagedPolicyArns"] == [ref("AppRuntimePolicy")]
    assert app_runner.props("InstanceRole")["ManagedPolicyArns"] == [ref("AppRuntimePolicy")]


def test_every_app_runner_instance_size_is_a_valid_fargate_task_size() -> None:
    sizes = source_template()["Mappings"]["InstanceSizes"]
    for label, pair in sizes.items():
        assert int(pair["Memory"]) in FARGATE_MEMORY[pair["Cpu"]], label


# --------------------------------------------------------------------------- metric dimensions

LOAD_BALANCER_ARN = (
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:"
    "loadbalancer/app/ecs-express-gateway-alb-3f9a/0123456789abcdef"
)
TARGET_GROUP_ARNS = [
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/ecs-gateway-tg-a1/1111aaaa2222bbbb",
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/ecs-gateway-tg-b2/3333cccc4444dddd",
]
DIMENSION_OUTPUTS = ("LoadBalancerDimension", "TargetGroupDimension1", "TargetGroupDimension2")


def with_attributes(node: Any, attributes: dict[str, Any]) -> Any:
    """The template with `!GetAtt Service.<attribute>` replaced by the given values."""
    if isinstance(node, list):
        return [with_attributes(item, attributes) for item in node]
    if not isinstance(node, dict):
        return node
    target = node.get("Fn::GetAtt")
    if len(node) == 1 and isinstance(target, list) and target[0] == "Service":
        return attributes.get(target[1], node)
    return {key: with_attributes(value, attributes) for key, value in node.items()}


def dimension_outputs(target_group_arns: list[str]) -> dict[str, Any]:
    """The nested stack's dimension outputs, computed for the attributes Express would report."""
    template = with_attributes(
        load_source(REPO_ROOT / "compute/ecs-express.yaml"),
        {
            "ECSManagedResourceArns.IngressPath.LoadBalancerArn": LOAD_BALANCER_ARN,
            "ECSManagedResourceArns.IngressPath.TargetGroupArns": target_group_arns,
        },
    )
    base = Variant(ECS_EXPRESS, "create", "dedicated", "false", "single", "2", "PlainText", "0.5")
    parameters = rendered(base).props("ExpressApiService")["Parameters"]
    outputs = render_template(template, parameters).outputs
    return {name: outputs[name]["Value"] for name in DIMENSION_OUTPUTS}


def test_the_nested_stack_outputs_the_elb_dimensions_of_its_load_balancer_and_target_groups() -> (
    None
):
    assert dimension_outputs(TARGET_GROUP_ARNS) == {
        "LoadBalancerDimension": "app/ecs-express-gateway-alb-3f9a/0123456789abcdef",
        "TargetGroupDimension1": "targetgroup/ecs-gateway-tg-a1/1111aaaa2222bbbb",
        "TargetGroupDimension2": "targetgroup/ecs-gateway-tg-b2/3333cccc4444dddd",
    }


@pytest.mark.parametrize("count", [0, 1, 3])
def test_the_target_group_dimensions_stay_defined_whatever_number_of_target_groups_express_reports(
    count: int,
) -> None:
    # A Select out of range would fail the deploy; a missing target group names none instead.
    arns = (TARGET_GROUP_ARNS * 2)[:count]
    outputs = dimension_outputs(arns)
    expected = [arn.split(":")[-1] for arn in arns][:2]
    expected += ["targetgroup/none"] * (2 - len(expected))
    assert [outputs["TargetGroupDimension1"], outputs["TargetGroupDimension2"]] == expected


def test_the_dimension_outputs_read_only_the_service_express_manages() -> None:
    outputs = load_source(REPO_ROOT / "compute/ecs-express.yaml")["Outputs"]
    for name in DIMENSION_OUTPUTS:
        assert set(referenced_names(outputs[name]["Value"])) == {"Service"}, name
