"""Operations wiring: log retention everywhere, alarms on the right metrics sent to the right
place, one dashboard naming only what the stack has, and the optional failover reader.

The checks that concern every resource (log groups, functions, the set of alarms and what each
reads) run on all renderings of the `case` fixture, both compute platforms included. The
destination and dashboard checks run on their own combinations of the switches that change them:
the compute platform, the jobs service mode, where alarms go, the failover reader and what happens
to App Runner's and Aurora's logs on delete. App Runner's alarms read AWS/AppRunner; ECS Express's
read the load balancer Express manages (AWS/ApplicationELB), with the dimensions its nested stack
outputs. Log groups are followed into the nested stacks: on ECS Express the stack owns the
services' log groups there.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.template.conftest import APP_RUNNER, ECS_EXPRESS, GOOD_IMAGE, Case
from tests.template.render import (
    PSEUDO_PARAMETERS,
    REPO_ROOT,
    Rendered,
    expanded_template,
    referenced_names,
    render,
)

ALARM = "AWS::CloudWatch::Alarm"
LOG_GROUP = "AWS::Logs::LogGroup"
FUNCTION = "AWS::Lambda::Function"
NESTED_STACK = "AWS::CloudFormation::Stack"
ALARM_TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:on-call"
OPERATIONS_DOC = REPO_ROOT / "docs" / "operations.md"
# Resources that refer to a function without ever invoking it.
NOT_INVOKING = frozenset(
    {
        LOG_GROUP,
        ALARM,
        "AWS::CloudWatch::Dashboard",
        "AWS::Logs::MetricFilter",
        "AWS::IAM::Role",
        "AWS::IAM::Policy",
        "AWS::IAM::ManagedPolicy",
        "AWS::Lambda::Permission",
        "AWS::Lambda::Version",
        "AWS::Lambda::Alias",
        # Retries and the on-failure destination of asynchronous invocations; invokes nothing.
        "AWS::Lambda::EventInvokeConfig",
    }
)
# Property names through which a resource writes to, or reads, a CloudWatch Logs log group.
LOG_GROUP_KEYS = frozenset({"LogGroup", "LogGroupName", "LogGroupArn", "LogDestinationConfigs"})
# Metric math functions the alarms' expressions may use besides their queries' ids.
MATH_FUNCTIONS = frozenset({"IF", "FILL", "AND", "MAX"})


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def getatt(name: str, attribute: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, attribute]}


def service_name(service: str) -> dict[str, Any]:
    """The service's name, cut from its ARN (…:service/<name>/<id>) as the template does."""
    return {"Fn::Select": [1, {"Fn::Split": ["/", getatt(service, "ServiceArn")]}]}


def app_runner_dimensions(service: str) -> dict[str, Any]:
    return {"ServiceName": service_name(service), "ServiceID": getatt(service, "ServiceId")}


def load_balancer(service: str) -> dict[str, Any]:
    """The LoadBalancer dimension of an Express service, as its nested stack outputs it."""
    return {"LoadBalancer": getatt(service, "Outputs.LoadBalancerDimension")}


def target_group(service: str, number: int) -> dict[str, Any]:
    """LoadBalancer and TargetGroup dimensions of one of an Express service's target groups."""
    return {
        **load_balancer(service),
        "TargetGroup": getatt(service, f"Outputs.TargetGroupDimension{number}"),
    }


def job_service(platform: str, jobs: str) -> str:
    """The logical id of the service that serves the job endpoint."""
    prefix = "Express" if platform == ECS_EXPRESS else ""
    return f"{prefix}JobService" if jobs == "dedicated" else f"{prefix}ApiService"


# --------------------------------------------------------------------------- operations variants


@dataclass(frozen=True)
class OpsVariant:
    platform: str
    jobs: str
    alarms: str  # none, email, topic, both
    reader: str
    service_logs: str

    @property
    def express(self) -> bool:
        return self.platform == ECS_EXPRESS

    @property
    def overrides(self) -> dict[str, str]:
        values = {
            "ImageUri": GOOD_IMAGE,
            "ComputePlatform": self.platform,
            "JobServiceMode": self.jobs,
            "DatabaseFailoverReader": self.reader,
            "ServiceLogsOnDelete": self.service_logs,
        }
        if self.express:
            values["Tracing"] = "false"  # the Rule EcsExpressRunsWithoutTracing
        if self.alarms in ("email", "both"):
            values["AlarmEmail"] = "on-call@example.com"
        if self.alarms in ("topic", "both"):
            values["AlarmTopicArn"] = ALARM_TOPIC_ARN
        return values

    @property
    def id(self) -> str:
        platform = "express" if self.express else "apprunner"
        return (
            f"{platform}-{self.jobs}-alarms-{self.alarms}-reader-{self.reader}"
            f"-logs-{self.service_logs}"
        )

    @property
    def job_service(self) -> str:
        return job_service(self.platform, self.jobs)


OPS_VARIANTS = [
    OpsVariant(*combo)
    for combo in itertools.product(
        [APP_RUNNER, ECS_EXPRESS],
        ["dedicated", "shared"],
        ["none", "email", "topic", "both"],
        ["false", "true"],
        ["Retain", "Delete"],
    )
]
_RENDERED: dict[OpsVariant, Rendered] = {}


@dataclass(frozen=True)
class OpsCase:
    variant: OpsVariant
    stack: Rendered


@pytest.fixture(params=OPS_VARIANTS, ids=[v.id for v in OPS_VARIANTS])
def ops(request: pytest.FixtureRequest) -> OpsCase:
    variant: OpsVariant = request.param
    if variant not in _RENDERED:
        _RENDERED[variant] = render(expanded_template(), variant.overrides)
    return OpsCase(variant, _RENDERED[variant])


# --------------------------------------------------------------------------- graph helpers


def dependencies(stack: Rendered, name: str) -> set[str]:
    """Resources `name` names directly: DependsOn, Ref, GetAtt and Sub placeholders."""
    node = stack.resources[name]
    depends = node.get("DependsOn", [])
    names = {*referenced_names(node), *([depends] if isinstance(depends, str) else depends)}
    return {n for n in names if n in stack.resources and n != name}


def ancestors(stack: Rendered, name: str) -> set[str]:
    """Every resource CloudFormation must have created before `name`."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        for parent in dependencies(stack, todo.pop()):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def function_log_group(stack: Rendered, function: str) -> str | None:
    """The stack's log group the function writes to: its LoggingConfig's, or /aws/lambda/<name>."""
    logging_config = stack.props(function).get("LoggingConfig", {})
    target = logging_config.get("LogGroup")
    if isinstance(target, dict) and target.get("Ref") in stack.of_type(LOG_GROUP):
        return str(target["Ref"])
    for name, group in stack.of_type(LOG_GROUP).items():
        if group["Properties"].get("LogGroupName") == {"Fn::Sub": f"/aws/lambda/${{{function}}}"}:
            return name
    return None


def functions_logging_without_retention_first(stack: Rendered) -> list[str]:
    """Functions that could be invoked before a log group with retention exists for them.

    A function is fine when it names its log group (LoggingConfig: the group exists before the
    function does), or when a group `/aws/lambda/<function>` exists and everything that invokes
    the function (a custom resource, an event rule, a subscription...) is created after it.
    """
    problems: list[str] = []
    for function in stack.of_type(FUNCTION):
        group = function_log_group(stack, function)
        if group is None:
            problems.append(f"{function}: no log group")
            continue
        if "RetentionInDays" not in stack.props(group):
            problems.append(f"{function}: {group} has no RetentionInDays")
        if "LoggingConfig" in stack.props(function):
            continue
        for name, resource in stack.resources.items():
            if name == function or resource["Type"] in NOT_INVOKING:
                continue
            if function in dependencies(stack, name) and group not in ancestors(stack, name):
                problems.append(f"{function}: {name} may invoke it before {group} exists")
    return problems


def functions_without_an_errors_alarm(stack: Rendered) -> list[str]:
    """Functions that run outside deploys (not a custom resource's ServiceToken) and have no
    alarm on their AWS/Lambda Errors: their failures would go unseen."""
    serving = {
        props["ServiceToken"]["Fn::GetAtt"][0]
        for resource in stack.resources.values()
        if resource["Type"].startswith("Custom::")
        for props in [resource["Properties"]]
        if isinstance(props.get("ServiceToken"), dict) and "Fn::GetAtt" in props["ServiceToken"]
    }
    watched = {
        dimension["Value"]["Ref"]
        for alarm in stack.of_type(ALARM).values()
        if alarm["Properties"].get("Namespace") == "AWS/Lambda"
        and alarm["Properties"].get("MetricName") == "Errors"
        for dimension in alarm["Properties"].get("Dimensions", [])
        if dimension["Name"] == "FunctionName" and isinstance(dimension["Value"], dict)
    }
    return sorted(set(stack.of_type(FUNCTION)) - serving - watched)


def log_group_references(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in LOG_GROUP_KEYS:
                yield f"{path}.{key}", value
            else:
                yield from log_group_references(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from log_group_references(item, f"{path}[{index}]")


def nested_output(stack: Rendered, value: Any) -> tuple[Rendered, Any] | None:
    """(nested rendering, output value) for `!GetAtt <nested stack>.Outputs.<name>`, else None."""
    target = value.get("Fn::GetAtt") if isinstance(value, dict) else None
    if not (isinstance(target, list) and target[0] in stack.nested):
        return None
    attribute = str(target[1])
    if not attribute.startswith("Outputs."):
        return None
    nested = stack.nested[target[0]]
    output = nested.outputs.get(attribute.removeprefix("Outputs."))
    return nested, None if output is None else output["Value"]


def names_a_kept_log_group(stack: Rendered, value: Any) -> bool:
    """Whether `value` names a log group the stack keeps with retention: one of its own log groups
    with RetentionInDays, one a Custom::LogRetention sets, or such a group of a nested stack
    (through the nested stack's output)."""
    through = nested_output(stack, value)
    if through is not None:
        nested, output = through
        return output is not None and names_a_kept_log_group(nested, output)
    retained = {
        name
        for name, group in stack.of_type(LOG_GROUP).items()
        if "RetentionInDays" in group["Properties"]
    }
    covered = set(stack.of_type("Custom::LogRetention"))
    return bool(set(referenced_names(value)) & (retained | covered))


def log_groups_named_without_retention(stack: Rendered, where: str = "") -> tuple[list[str], int]:
    """(references to a log group the stack does not keep with retention, references seen), in
    the stack and in its nested stacks."""
    problems: list[str] = []
    seen = 0
    for owner, resource in stack.resources.items():
        if resource["Type"] == LOG_GROUP:
            continue
        for path, value in log_group_references(resource.get("Properties", {})):
            seen += 1
            if not names_a_kept_log_group(stack, value):
                problems.append(f"{where}{owner}{path} -> {value}")
    for name, nested in stack.nested.items():
        found, count = log_groups_named_without_retention(nested, f"{where}{name}/")
        problems += found
        seen += count
    return problems, seen


def all_log_groups(stack: Rendered, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every log group of the stack and of its nested stacks, named <nested>/<logical id>."""
    for name, group in stack.of_type(LOG_GROUP).items():
        yield f"{where}{name}", group
    for name, nested in stack.nested.items():
        yield from all_log_groups(nested, f"{where}{name}/")


# --------------------------------------------------------------------------- log retention


def test_every_log_group_of_the_stack_keeps_the_retention_parameter(case: Case) -> None:
    groups = dict(all_log_groups(case.stack))
    assert len(groups) >= 3
    for name, group in groups.items():
        assert group["Properties"].get("RetentionInDays") == "30", name
    nested_groups = {name for name in groups if "/" in name}
    assert bool(nested_groups) is case.variant.express


@pytest.mark.parametrize("platform", [APP_RUNNER, ECS_EXPRESS])
def test_a_new_retention_reaches_every_log_group_and_the_ones_aws_creates(platform: str) -> None:
    stack = render(
        expanded_template(),
        {
            "ImageUri": GOOD_IMAGE,
            "ComputePlatform": platform,
            "Tracing": "false",
            "LogRetentionDays": "7",
            "ApiRateLimit": "100",
        },
    )
    groups = dict(all_log_groups(stack))
    assert {g["Properties"]["RetentionInDays"] for g in groups.values()} == {"7"}
    assert any("/" in name for name in groups) is (platform == ECS_EXPRESS)
    custom = stack.of_type("Custom::LogRetention")
    assert custom
    assert {c["Properties"]["RetentionInDays"] for c in custom.values()} == {"7"}


def test_every_function_has_a_log_group_with_retention_before_its_first_invocation(
    case: Case,
) -> None:
    assert functions_logging_without_retention_first(case.stack) == []


def test_the_log_group_check_catches_an_invoker_created_before_the_log_group(case: Case) -> None:
    stack = case.stack
    resources = dict(stack.resources)
    subscription = dict(resources["JobSubscription"])
    subscription.pop("DependsOn")
    resources["JobSubscription"] = subscription
    planted = Rendered(stack.parameters, stack.conditions, resources, stack.outputs)
    assert functions_logging_without_retention_first(planted) == [
        "HttpsSubscriptionFunction: JobSubscription may invoke it before "
        "HttpsSubscriptionLogGroup exists"
    ]


def test_the_log_group_check_catches_a_function_without_retention(case: Case) -> None:
    resources = dict(case.stack.resources)
    group = json.loads(json.dumps(resources["LogRetentionLogGroup"]))
    del group["Properties"]["RetentionInDays"]
    resources["LogRetentionLogGroup"] = group
    planted = Rendered(case.stack.parameters, case.stack.conditions, resources, case.stack.outputs)
    assert functions_logging_without_retention_first(planted) == [
        "LogRetentionFunction: LogRetentionLogGroup has no RetentionInDays"
    ]


def test_every_app_runner_service_gets_retention_on_its_own_log_groups(case: Case) -> None:
    stack = case.stack
    services = stack.of_type("AWS::AppRunner::Service")
    custom = {
        name: resource
        for name, resource in stack.of_type("Custom::LogRetention").items()
        if resource["Properties"]["ResourceArn"]["Fn::GetAtt"][1] == "ServiceArn"
    }
    owners = sorted(c["Properties"]["ResourceArn"]["Fn::GetAtt"][0] for c in custom.values())
    assert owners == sorted(services)
    for name, resource in custom.items():
        props = resource["Properties"]
        assert name == props["ResourceArn"]["Fn::GetAtt"][0] + "LogRetention"
        assert "LogTypes" not in props, name


def test_auroras_exported_logs_get_the_retention_too(case: Case) -> None:
    stack = case.stack
    props = stack.props("DatabaseLogRetention")
    assert props["ResourceArn"] == getatt("DatabaseCluster", "DBClusterArn")
    exported = stack.props("DatabaseCluster")["EnableCloudwatchLogsExports"]
    assert exported
    assert props["LogTypes"] == exported


def test_every_log_retention_resource_is_served_and_set_alike(case: Case) -> None:
    custom = case.stack.of_type("Custom::LogRetention")
    # App Runner: one per service and Aurora's; ECS Express: the stack owns the services' groups.
    services = 0 if case.variant.express else (2 if case.variant.jobs == "dedicated" else 1)
    assert len(custom) == services + 1
    for name, resource in custom.items():
        props = resource["Properties"]
        assert props["ServiceToken"] == getatt("LogRetentionFunction", "Arn"), name
        assert props["RetentionInDays"] == "30", name
        assert props["OnDelete"] == "Retain", name
        assert 120 < int(props["ServiceTimeout"]) <= 3600, name


def test_every_log_group_a_resource_names_is_kept_with_retention(case: Case) -> None:
    problems, seen = log_groups_named_without_retention(case.stack)
    assert problems == []
    # The job metric filters at least; on ECS Express also each service's AwsLogsConfiguration.
    services = 2 if case.variant.jobs == "dedicated" else 1
    assert seen >= 2 + (services if case.variant.express else 0)


def test_the_log_group_reference_check_follows_a_nested_output_to_its_log_group(
    express_case: Case,
) -> None:
    stack = express_case.stack
    name = job_service(ECS_EXPRESS, express_case.variant.jobs)
    nested = stack.nested[name]
    group = json.loads(json.dumps(nested.resources["LogGroup"]))
    del group["Properties"]["RetentionInDays"]
    planted_nested = Rendered(
        nested.parameters,
        nested.conditions,
        {**nested.resources, "LogGroup": group},
        nested.outputs,
    )
    planted = Rendered(
        stack.parameters,
        stack.conditions,
        stack.resources,
        stack.outputs,
        nested={**stack.nested, name: planted_nested},
    )
    problems, _seen = log_groups_named_without_retention(planted)
    assert (
        f"{name}/Service.PrimaryContainer.AwsLogsConfiguration.LogGroup -> " + str(ref("LogGroup"))
        in problems
    )
    assert f"JobRunsMetricFilter.LogGroupName -> {getatt(name, 'Outputs.LogGroupName')}" in problems


# --------------------------------------------------------------------------- the function's rights


def test_the_log_retention_function_may_touch_exactly_the_log_groups_of_its_resources(
    ops: OpsCase,
) -> None:
    stack, variant = ops.stack, ops.variant
    services = sorted(stack.of_type("AWS::AppRunner::Service"))
    assert bool(services) is not variant.express
    [policy] = stack.props("LogRetentionFunctionRole")["Policies"]
    [statement] = policy["PolicyDocument"]["Statement"]
    expected_actions = ["logs:CreateLogGroup", "logs:PutRetentionPolicy"]
    if variant.service_logs == "Delete":
        expected_actions.append("logs:DeleteLogGroup")
    assert statement["Action"] == expected_actions
    pattern = (
        "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
        "/aws/apprunner/${Service}/*"
    )
    assert statement["Resource"] == [
        {
            "Fn::Sub": [
                pattern,
                {
                    "Service": {
                        "Fn::Select": [
                            1,
                            {"Fn::Split": [":service/", getatt(service, "ServiceArn")]},
                        ]
                    }
                },
            ]
        }
        for service in services
    ] + [
        {
            "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
            "/aws/rds/cluster/${DatabaseCluster}/*"
        }
    ]
    pinned = stack.props("LogRetentionFunction")["Environment"]["Variables"]["RESOURCE_ARNS"]
    if variant.express:
        assert pinned == getatt("DatabaseCluster", "DBClusterArn")
    else:
        arns = ",".join(f"${{{service}.ServiceArn}}" for service in services)
        assert pinned == {"Fn::Sub": f"{arns},${{DatabaseCluster.DBClusterArn}}"}


def test_aws_created_log_groups_follow_the_on_delete_choice(ops: OpsCase) -> None:
    for resource in ops.stack.of_type("Custom::LogRetention").values():
        assert resource["Properties"]["OnDelete"] == ops.variant.service_logs


# --------------------------------------------------------------------------- alarms

Metric = tuple[Any, str, dict[str, Any], str]

# alarm -> (namespace, metric name, dimensions, statistic) of each metric it reads
SHARED_METRICS: dict[str, list[Metric]] = {
    "JobFailuresAlarm": [
        ({"Fn::Sub": "${AWS::StackName}/Jobs"}, "JobFailures", {}, "Sum"),
    ],
    "DeadLetterAlarm": [
        (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": getatt("JobDeadLetterQueue", "QueueName")},
            "Maximum",
        ),
    ],
    "DatabaseCapacityAlarm": [
        ("AWS/RDS", "ACUUtilization", {"DBClusterIdentifier": ref("DatabaseCluster")}, "Maximum"),
    ],
    "DatabaseCpuAlarm": [
        ("AWS/RDS", "CPUUtilization", {"DBClusterIdentifier": ref("DatabaseCluster")}, "Maximum"),
    ],
}
ROTATION_METRICS: dict[str, list[Metric]] = {
    "RotationFollowerAlarm": [
        (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": getatt("RotationFollowerDeadLetterQueue", "QueueName")},
            "Maximum",
        ),
    ],
    "RotationFollowerErrorsAlarm": [
        ("AWS/Lambda", "Errors", {"FunctionName": ref("RotationFollowerFunction")}, "Sum"),
    ],
}
APP_RUNNER_METRICS: dict[str, list[Metric]] = {
    "ApiErrorRateAlarm": [
        ("AWS/AppRunner", "5xxStatusResponses", app_runner_dimensions("ApiService"), "Sum"),
        ("AWS/AppRunner", "Requests", app_runner_dimensions("ApiService"), "Sum"),
    ],
    "ApiLatencyAlarm": [
        ("AWS/AppRunner", "RequestLatency", app_runner_dimensions("ApiService"), "p99"),
    ],
    "ApiNoInstanceAlarm": [
        ("AWS/AppRunner", "Requests", app_runner_dimensions("ApiService"), "Sum"),
        ("AWS/AppRunner", "ActiveInstances", app_runner_dimensions("ApiService"), "Maximum"),
    ],
    "JobServiceNoInstanceAlarm": [
        ("AWS/AppRunner", "Requests", app_runner_dimensions("JobService"), "Sum"),
        ("AWS/AppRunner", "ActiveInstances", app_runner_dimensions("JobService"), "Maximum"),
    ],
}
ELB = "AWS/ApplicationELB"
EXPRESS_METRICS: dict[str, list[Metric]] = {
    # Both target groups of the service (an Express canary moves traffic between them); the
    # load balancer's own 5xx exist per load balancer only.
    "ExpressApiErrorRateAlarm": [
        (ELB, "HTTPCode_Target_5XX_Count", target_group("ExpressApiService", 1), "Sum"),
        (ELB, "HTTPCode_Target_5XX_Count", target_group("ExpressApiService", 2), "Sum"),
        (ELB, "HTTPCode_ELB_5XX_Count", load_balancer("ExpressApiService"), "Sum"),
        (ELB, "RequestCount", target_group("ExpressApiService", 1), "Sum"),
        (ELB, "RequestCount", target_group("ExpressApiService", 2), "Sum"),
    ],
    "ExpressApiLatencyAlarm": [
        (ELB, "TargetResponseTime", target_group("ExpressApiService", 1), "p99"),
        (ELB, "TargetResponseTime", target_group("ExpressApiService", 2), "p99"),
    ],
    "ExpressApiNoHealthyTaskAlarm": [
        (ELB, "HealthyHostCount", target_group("ExpressApiService", 1), "Maximum"),
        (ELB, "HealthyHostCount", target_group("ExpressApiService", 2), "Maximum"),
    ],
    "ExpressJobServiceNoHealthyTaskAlarm": [
        (ELB, "HealthyHostCount", target_group("ExpressJobService", 1), "Maximum"),
        (ELB, "HealthyHostCount", target_group("ExpressJobService", 2), "Maximum"),
    ],
}
EXPECTED_METRICS = {**SHARED_METRICS, **ROTATION_METRICS, **APP_RUNNER_METRICS, **EXPRESS_METRICS}
JOB_SERVICE_ALARMS = {"JobServiceNoInstanceAlarm", "ExpressJobServiceNoHealthyTaskAlarm"}


def expected_alarms(stack: Rendered, platform: str, jobs: str) -> set[str]:
    """The alarms a rendering must have: the shared ones, its platform's (the jobs service's only
    in dedicated mode), and the rotation follower's when the database rotates."""
    compute = set(EXPRESS_METRICS if platform == ECS_EXPRESS else APP_RUNNER_METRICS)
    if jobs != "dedicated":
        compute -= JOB_SERVICE_ALARMS
    rotation = set(ROTATION_METRICS) if stack.conditions["RotateDatabase"] else set()
    return set(SHARED_METRICS) | compute | rotation


def alarm_metrics(props: dict[str, Any]) -> list[Metric]:
    """(namespace, metric, dimensions, statistic) of every metric an alarm reads."""
    if "Metrics" in props:
        found = []
        for query in props["Metrics"]:
            if "MetricStat" in query:
                stat = query["MetricStat"]
                metric = stat["Metric"]
                dimensions = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
                found.append((metric["Namespace"], metric["MetricName"], dimensions, stat["Stat"]))
        return found
    dimensions = {d["Name"]: d["Value"] for d in props.get("Dimensions", [])}
    statistic = props.get("Statistic") or props.get("ExtendedStatistic")
    return [(props["Namespace"], props["MetricName"], dimensions, statistic)]


def test_the_alarms_are_the_documented_ones(case: Case) -> None:
    variant = case.variant
    assert set(case.stack.of_type(ALARM)) == expected_alarms(
        case.stack, variant.platform, variant.jobs
    )
    assert case.stack.conditions["RotateDatabase"] is (variant.delivery == "SecretReference")


def test_every_alarm_reads_the_expected_metrics_of_this_stacks_resources(case: Case) -> None:
    for name, alarm in case.stack.of_type(ALARM).items():
        assert alarm_metrics(alarm["Properties"]) == EXPECTED_METRICS[name], name


def test_the_express_dimensions_are_outputs_of_the_service_they_describe(
    express_case: Case,
) -> None:
    """Every `!GetAtt <nested>.Outputs.<name>` an alarm reads is an output that nested stack has,
    computed from its own Express service."""
    stack = express_case.stack
    for name, alarm in stack.of_type(ALARM).items():
        for _namespace, _metric, dimensions, _stat in alarm_metrics(alarm["Properties"]):
            for value in dimensions.values():
                through = nested_output(stack, value)
                if through is None:
                    continue
                _nested, output = through
                assert output is not None, f"{name}: {value}"
                assert set(referenced_names(output)) == {"Service"}, f"{name}: {output}"


def test_every_alarm_notifies_the_configured_alarm_destinations(ops: OpsCase) -> None:
    expected = {
        "none": [],
        "email": [ref("AlarmTopic")],
        "topic": [ALARM_TOPIC_ARN],
        "both": [ref("AlarmTopic"), ALARM_TOPIC_ARN],
    }[ops.variant.alarms]
    assert ("AlarmTopic" in ops.stack.resources) is (ops.variant.alarms in ("email", "both"))
    alarms = ops.stack.of_type(ALARM)
    assert set(alarms) == expected_alarms(ops.stack, ops.variant.platform, ops.variant.jobs)
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == expected, name


def test_every_expression_alarm_returns_exactly_one_series(case: Case) -> None:
    for name, alarm in case.stack.of_type(ALARM).items():
        queries = alarm["Properties"].get("Metrics")
        if queries is None:
            continue
        returned = [q for q in queries if q.get("ReturnData", True)]
        assert len(returned) == 1, name
        ids = {q["Id"] for q in queries if "MetricStat" in q}
        names = set(re.findall(r"[A-Za-z_]\w*", returned[0]["Expression"]))
        assert names - MATH_FUNCTIONS == ids, name


def headings(markdown: str) -> set[str]:
    """GitHub's anchors for the document's headings."""
    anchors = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def description_text(alarm: dict[str, Any]) -> str:
    description = alarm["Properties"]["AlarmDescription"]
    text = description["Fn::Sub"] if isinstance(description, dict) else description
    return str(text if isinstance(text, str) else text[0])


def test_every_alarm_says_what_it_means_what_to_look_at_first_and_links_its_runbook(
    case: Case,
) -> None:
    anchors = headings(OPERATIONS_DOC.read_text(encoding="utf-8"))
    for name, alarm in case.stack.of_type(ALARM).items():
        if name == "DeadLetterAlarm":
            continue  # it predates this block; docs/operations.md covers it
        text = description_text(alarm)
        assert "Look first at" in text, name
        [anchor] = re.findall(r"Runbook: docs/operations\.md#([\w-]+)$", text)
        assert anchor in anchors, name
        assert len(text) <= 1024, name


def test_both_platforms_alarms_on_the_same_thing_share_its_runbook() -> None:
    """The Express alarm that takes an App Runner alarm's place links the same section."""
    template = expanded_template()["Resources"]
    pairs = {
        "ApiErrorRateAlarm": "ExpressApiErrorRateAlarm",
        "ApiLatencyAlarm": "ExpressApiLatencyAlarm",
        "ApiNoInstanceAlarm": "ExpressApiNoHealthyTaskAlarm",
        "JobServiceNoInstanceAlarm": "ExpressJobServiceNoHealthyTaskAlarm",
    }
    assert set(pairs) == set(APP_RUNNER_METRICS)
    assert set(pairs.values()) == set(EXPRESS_METRICS)
    for app_runner, express in pairs.items():
        runbooks = [
            re.findall(r"Runbook: (\S+)$", description_text(template[name]))
            for name in (app_runner, express)
        ]
        assert runbooks[0] == runbooks[1] != [], (app_runner, express)
        assert template[app_runner]["Condition"] in {"AppRunnerPlatform", "AppRunnerJobService"}
        assert template[express]["Condition"] in {"EcsExpressPlatform", "EcsExpressJobService"}


THRESHOLD_VALUES = {
    "ApiErrorRatePercent": "12",
    "ApiLatencyP99Milliseconds": "750",
    "JobFailureThreshold": "4",
    "DatabaseCapacityAlarmPercent": "80",
    "DatabaseCpuAlarmPercent": "70",
}
SHARED_THRESHOLDS: dict[str, Any] = {
    "JobFailuresAlarm": "4",
    "DeadLetterAlarm": 0,
    "DatabaseCapacityAlarm": "80",
    "DatabaseCpuAlarm": "70",
    "RotationFollowerAlarm": 0,
    "RotationFollowerErrorsAlarm": 0,
}


@pytest.mark.parametrize(
    ("platform", "compute"),
    [
        (
            APP_RUNNER,
            {
                "ApiErrorRateAlarm": ("12", "GreaterThanOrEqualToThreshold"),
                "ApiLatencyAlarm": ("750", "GreaterThanThreshold"),
                "ApiNoInstanceAlarm": (1, "GreaterThanOrEqualToThreshold"),
                "JobServiceNoInstanceAlarm": (1, "GreaterThanOrEqualToThreshold"),
            },
        ),
        (
            ECS_EXPRESS,
            {
                "ExpressApiErrorRateAlarm": ("12", "GreaterThanOrEqualToThreshold"),
                "ExpressApiLatencyAlarm": ("750", "GreaterThanThreshold"),
                # fewer than one healthy task
                "ExpressApiNoHealthyTaskAlarm": (1, "LessThanThreshold"),
                "ExpressJobServiceNoHealthyTaskAlarm": (1, "LessThanThreshold"),
            },
        ),
    ],
)
def test_the_thresholds_are_the_parameters(
    platform: str, compute: dict[str, tuple[Any, str]]
) -> None:
    stack = render(
        expanded_template(),
        {
            "ImageUri": GOOD_IMAGE,
            "ComputePlatform": platform,
            "Tracing": "false",
            **THRESHOLD_VALUES,
        },
    )
    alarms = stack.of_type(ALARM)
    thresholds = {name: a["Properties"]["Threshold"] for name, a in alarms.items()}
    assert thresholds == {
        **{name: threshold for name, (threshold, _operator) in compute.items()},
        **SHARED_THRESHOLDS,
    }
    for name, (_threshold, operator) in compute.items():
        assert alarms[name]["Properties"]["ComparisonOperator"] == operator, name


def test_the_express_latency_alarm_compares_milliseconds_with_the_seconds_elb_reports() -> None:
    stack = render(
        expanded_template(),
        {"ImageUri": GOOD_IMAGE, "ComputePlatform": ECS_EXPRESS, "Tracing": "false"},
    )
    [returned] = [
        q for q in stack.props("ExpressApiLatencyAlarm")["Metrics"] if q.get("ReturnData", True)
    ]
    assert returned["Expression"].replace(" ", "").startswith("1000*")


def test_the_job_alarm_watches_what_the_job_filters_publish_from_the_job_endpoints_logs(
    case: Case,
) -> None:
    stack, variant = case.stack, case.variant
    runs, failures = (
        stack.props(name)["MetricTransformations"][0]
        for name in ("JobRunsMetricFilter", "JobFailuresMetricFilter")
    )
    alarm = stack.props("JobFailuresAlarm")
    assert (failures["MetricNamespace"], failures["MetricName"]) == (
        alarm["Namespace"],
        alarm["MetricName"],
    )
    assert "Dimensions" not in failures
    assert runs["MetricNamespace"] == failures["MetricNamespace"]
    assert [d["Key"] for d in runs["Dimensions"]] == ["Job", "Outcome"]
    service = job_service(variant.platform, variant.jobs)
    if variant.express:
        # The job endpoint's container writes to the nested stack's log group.
        expected = getatt(service, "Outputs.LogGroupName")
        nested = stack.nested[service]
        assert nested.outputs["LogGroupName"]["Value"] == ref("LogGroup")
        [container] = [
            s["Properties"]["PrimaryContainer"]
            for s in nested.of_type("AWS::ECS::ExpressGatewayService").values()
        ]
        assert container["AwsLogsConfiguration"]["LogGroup"] == ref("LogGroup")
    else:
        expected = getatt(f"{service}LogRetention", "ApplicationLogGroup")
    for name in ("JobRunsMetricFilter", "JobFailuresMetricFilter"):
        assert stack.props(name)["LogGroupName"] == expected, name
    assert "log group ${JobLogGroup}" in description_text(stack.resources["JobFailuresAlarm"])
    assert stack.props("JobFailuresAlarm")["AlarmDescription"]["Fn::Sub"][1] == {
        "JobLogGroup": expected
    }


def test_every_function_that_runs_outside_deploys_has_an_errors_alarm(case: Case) -> None:
    assert functions_without_an_errors_alarm(case.stack) == []


def test_the_errors_alarm_check_catches_a_function_nobody_watches(case: Case) -> None:
    resources = dict(case.stack.resources)
    resources["NightlyFunction"] = {"Type": FUNCTION, "Properties": {}}
    planted = Rendered(case.stack.parameters, case.stack.conditions, resources, case.stack.outputs)
    assert functions_without_an_errors_alarm(planted) == ["NightlyFunction"]


# --------------------------------------------------------------------------- the dashboard

_PLACEHOLDER = re.compile(r"\$\{([^!}][^}]*)\}")


def inline_subs(sub: Any) -> tuple[str, dict[str, Any]]:
    """The text of an Fn::Sub with every variable that is itself an Fn::Sub written into it, and
    the remaining variables (the nested ones' included)."""
    text, variables = (sub, {}) if isinstance(sub, str) else (sub[0], dict(sub[1]))
    local: dict[str, Any] = {}
    for name, value in variables.items():
        if isinstance(value, dict) and "Fn::Sub" in value:
            inner, inner_local = inline_subs(value["Fn::Sub"])
            assert not set(inner_local) & (set(local) | set(variables)), name
            text = text.replace(f"${{{name}}}", inner)
            local.update(inner_local)
        else:
            local[name] = value
    return text, local


def dashboard(stack: Rendered) -> tuple[dict[str, Any], set[str], dict[str, Any]]:
    """(body with placeholders replaced by their names, placeholder names, local variables)."""
    text, local = inline_subs(stack.props("Dashboard")["DashboardBody"]["Fn::Sub"])
    names = set(_PLACEHOLDER.findall(text))
    parsed = json.loads(_PLACEHOLDER.sub(lambda m: f"<{m.group(1)}>", text))
    return parsed, names, local


def test_there_is_one_dashboard_on_either_platform_under_one_name(ops: OpsCase) -> None:
    [name] = ops.stack.of_type("AWS::CloudWatch::Dashboard")
    assert name == "Dashboard"
    assert "Condition" not in expanded_template()["Resources"][name]
    assert ops.stack.props(name)["DashboardName"] == {"Fn::Sub": "${AWS::StackName}-operations"}


def test_the_dashboard_body_is_json_naming_only_what_this_variant_has(ops: OpsCase) -> None:
    stack = ops.stack
    parsed, names, local = dashboard(stack)
    assert parsed["widgets"]
    for name in names:
        base = name.split(".", 1)[0]
        assert base in local or base in stack.resources or name in PSEUDO_PARAMETERS, name
    for name, value in local.items():
        for target in referenced_names(value):
            assert target in stack.resources, f"{name} -> {target}"
    assert stack.dangling == []


def metric_rows(parsed: dict[str, Any]) -> list[list[Any]]:
    return [
        row
        for widget in parsed["widgets"]
        if widget["type"] == "metric"
        for row in widget["properties"]["metrics"]
    ]


def widget_of(parsed: dict[str, Any], title: str) -> dict[str, Any]:
    [widget] = [w for w in parsed["widgets"] if w["properties"].get("title") == title]
    return widget


def test_the_dashboard_shows_users_jobs_and_the_database(ops: OpsCase) -> None:
    parsed, _names, local = dashboard(ops.stack)
    shown = {(row[0], row[1]) for row in metric_rows(parsed) if isinstance(row[0], str)}
    assert shown >= {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/RDS", "ServerlessDatabaseCapacity"),
        ("AWS/RDS", "ACUUtilization"),
        ("AWS/RDS", "DatabaseConnections"),
    }
    searches = [
        row[0]["expression"]
        for row in metric_rows(parsed)
        if isinstance(row[0], dict) and row[0]["expression"].startswith("SEARCH(")
    ]
    assert searches == [
        "SEARCH('{\"<AWS::StackName>/Jobs\",Job,Outcome} MetricName=\"JobRuns\"', 'Sum', 300)"
    ]
    jobs = ops.variant.job_service
    if ops.variant.express:
        assert shown >= {
            (ELB, "RequestCount"),
            (ELB, "HTTPCode_Target_5XX_Count"),
            (ELB, "HTTPCode_ELB_5XX_Count"),
            (ELB, "TargetResponseTime"),
            (ELB, "HealthyHostCount"),
        }
        assert not {namespace for namespace, _metric in shown} & {"AWS/AppRunner"}
        for role, service in (("Api", "ExpressApiService"), ("Jobs", jobs)):
            assert local[f"{role}LoadBalancer"] == getatt(service, "Outputs.LoadBalancerDimension")
            for number in (1, 2):
                assert local[f"{role}TargetGroup{number}"] == getatt(
                    service, f"Outputs.TargetGroupDimension{number}"
                )
    else:
        assert shown >= {
            ("AWS/AppRunner", "Requests"),
            ("AWS/AppRunner", "5xxStatusResponses"),
            ("AWS/AppRunner", "RequestLatency"),
            ("AWS/AppRunner", "ActiveInstances"),
        }
        assert not {namespace for namespace, _metric in shown} & {ELB}
        latency = {
            row[-1]["stat"]
            for row in metric_rows(parsed)
            if row[:2] == ["AWS/AppRunner", "RequestLatency"]
        }
        assert latency == {"p50", "p90", "p99"}
        assert local["JobsId"] == getatt(jobs, "ServiceId")
        assert local["JobsName"] == service_name(jobs)
        assert local["ApiName"] == service_name("ApiService")


def test_the_express_dashboard_sums_both_target_groups_and_shows_latency_in_ms(
    express_case: Case,
) -> None:
    parsed, _names, _local = dashboard(express_case.stack)
    for widget in parsed["widgets"]:
        rows = widget["properties"].get("metrics", [])
        queries = {
            row[-1].get("id", f"row{index}"): row
            for index, row in enumerate(rows)
            if isinstance(row[0], str)
        }
        expressions = [row[0] for row in rows if isinstance(row[0], dict)]
        if not any(row[0] == ELB for row in queries.values()):
            continue
        used: set[str] = set()
        for expression in expressions:
            names = set(re.findall(r"[A-Za-z_]\w*", expression["expression"])) - MATH_FUNCTIONS
            assert names <= set(queries), expression
            used |= names
            # Every expression reads one metric in both target groups of one service.
            assert len({queries[n][1] for n in names}) == 1, expression
            groups = [
                re.fullmatch(r"<(\w+)TargetGroup([12])>", row[row.index("TargetGroup") + 1])
                for row in (queries[n] for n in names)
            ]
            assert all(groups), expression
            assert len({g.group(1) for g in groups if g}) == 1, expression
            assert sorted(g.group(2) for g in groups if g) == ["1", "2"], expression
        hidden = {n for n, row in queries.items() if row[-1].get("visible") is False}
        assert hidden == used, widget["properties"]["title"]
    latency = widget_of(parsed, "api: latency (ms)")["properties"]["metrics"]
    returned = [row[0] for row in latency if isinstance(row[0], dict)]
    assert [r["label"] for r in returned] == ["p50", "p90", "p99"]
    assert all(r["expression"].startswith("1000 * ") for r in returned)


def test_every_dashboard_metric_names_a_resource_of_this_stack(ops: OpsCase) -> None:
    parsed, _names, local = dashboard(ops.stack)
    for row in metric_rows(parsed):
        if not isinstance(row[0], str):
            continue
        dimensions = dict(zip(row[2:-1:2], row[3:-1:2], strict=True))
        assert dimensions, row
        for value in dimensions.values():
            placeholder = re.fullmatch(r"<([^>]+)>", value)
            assert placeholder is not None, row
            name = placeholder.group(1)
            assert name in local or name.split(".")[0] in ops.stack.resources, row


def test_the_dashboards_alarm_widget_lists_every_alarm_of_the_stack(case: Case) -> None:
    parsed, _names, _local = dashboard(case.stack)
    [widget] = [w for w in parsed["widgets"] if w["type"] == "alarm"]
    arns = widget["properties"]["alarms"]
    assert all(re.fullmatch(r"<\w+\.Arn>", arn) for arn in arns), arns
    listed = [arn[1:].removesuffix(".Arn>") for arn in arns]
    assert len(listed) == len(set(listed))
    assert set(listed) == set(case.stack.of_type(ALARM))


# --------------------------------------------------------------------------- database availability


def test_a_failover_reader_in_promotion_tier_0_exists_only_when_asked_for(ops: OpsCase) -> None:
    stack = ops.stack
    instances = stack.of_type("AWS::RDS::DBInstance")
    if ops.variant.reader == "false":
        assert set(instances) == {"DatabaseInstance"}
        return
    assert set(instances) == {"DatabaseInstance", "DatabaseReaderInstance"}
    reader = stack.resources["DatabaseReaderInstance"]
    props = reader["Properties"]
    writer = stack.props("DatabaseInstance")
    assert reader["DependsOn"] == "DatabaseInstance"
    assert props["PromotionTier"] == 0
    for key in ("Engine", "DBInstanceClass", "DBClusterIdentifier", "PubliclyAccessible"):
        assert props[key] == writer[key], key
    assert props["DBInstanceClass"] == "db.serverless"
    assert (reader["DeletionPolicy"], reader["UpdateReplacePolicy"]) == ("Delete", "Delete")
