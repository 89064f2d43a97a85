"""Operations wiring: log retention everywhere, alarms on the right metrics sent to the right
place, one dashboard naming only what the stack has, and the optional failover reader.

The checks that concern every resource (log groups, functions) run on all 128 renderings of the
`case` fixture. The alarm and dashboard checks run on their own combinations of the switches that
change them: the jobs service mode, where alarms go, the failover reader and what happens to App
Runner's logs on delete.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.template.conftest import GOOD_IMAGE, Case
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
    }
)
# Property names through which a resource writes to, or reads, a CloudWatch Logs log group.
LOG_GROUP_KEYS = frozenset({"LogGroup", "LogGroupName", "LogGroupArn", "LogDestinationConfigs"})


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def getatt(name: str, attribute: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, attribute]}


def service_name(service: str) -> dict[str, Any]:
    """The service's name, cut from its ARN (…:service/<name>/<id>) as the template does."""
    return {"Fn::Select": [1, {"Fn::Split": ["/", getatt(service, "ServiceArn")]}]}


def app_runner_dimensions(service: str) -> dict[str, Any]:
    return {"ServiceName": service_name(service), "ServiceID": getatt(service, "ServiceId")}


# --------------------------------------------------------------------------- operations variants


@dataclass(frozen=True)
class OpsVariant:
    jobs: str
    alarms: str  # none, email, topic, both
    reader: str
    service_logs: str

    @property
    def overrides(self) -> dict[str, str]:
        values = {
            "ImageUri": GOOD_IMAGE,
            "JobServiceMode": self.jobs,
            "DatabaseFailoverReader": self.reader,
            "ServiceLogsOnDelete": self.service_logs,
        }
        if self.alarms in ("email", "both"):
            values["AlarmEmail"] = "on-call@example.com"
        if self.alarms in ("topic", "both"):
            values["AlarmTopicArn"] = ALARM_TOPIC_ARN
        return values

    @property
    def id(self) -> str:
        return f"{self.jobs}-alarms-{self.alarms}-reader-{self.reader}-logs-{self.service_logs}"

    @property
    def job_service(self) -> str:
        return "JobService" if self.jobs == "dedicated" else "ApiService"


OPS_VARIANTS = [
    OpsVariant(*combo)
    for combo in itertools.product(
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


# --------------------------------------------------------------------------- log retention


def test_every_log_group_of_the_stack_keeps_the_retention_parameter(case: Case) -> None:
    groups = case.stack.of_type(LOG_GROUP)
    assert len(groups) >= 3
    for name, group in groups.items():
        assert group["Properties"].get("RetentionInDays") == "30", name


def test_a_new_retention_reaches_every_log_group_and_app_runners_own() -> None:
    stack = render(
        expanded_template(),
        {"ImageUri": GOOD_IMAGE, "LogRetentionDays": "7", "ApiRateLimit": "100"},
    )
    assert {g["Properties"]["RetentionInDays"] for g in stack.of_type(LOG_GROUP).values()} == {"7"}
    custom = stack.of_type("Custom::LogRetention")
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
    assert len(custom) == (3 if case.variant.jobs == "dedicated" else 2)
    for name, resource in custom.items():
        props = resource["Properties"]
        assert props["ServiceToken"] == getatt("LogRetentionFunction", "Arn"), name
        assert props["RetentionInDays"] == "30", name
        assert props["OnDelete"] == "Retain", name
        assert 120 < int(props["ServiceTimeout"]) <= 3600, name


def test_every_log_group_a_resource_names_is_kept_with_retention(case: Case) -> None:
    stack = case.stack
    retained = set(stack.of_type(LOG_GROUP))
    covered = set(stack.of_type("Custom::LogRetention"))
    seen = 0
    for owner, resource in stack.resources.items():
        if resource["Type"] == LOG_GROUP:
            continue
        for where, value in log_group_references(resource.get("Properties", {})):
            seen += 1
            names = set(referenced_names(value))
            assert names & (retained | covered), f"{owner}{where} -> {value}"
    assert seen >= 2  # the job metric filters at least


# --------------------------------------------------------------------------- the function's rights


def test_the_log_retention_function_may_touch_exactly_the_log_groups_of_its_resources(
    ops: OpsCase,
) -> None:
    stack, variant = ops.stack, ops.variant
    services = sorted(stack.of_type("AWS::AppRunner::Service"))
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
    arns = ",".join(f"${{{service}.ServiceArn}}" for service in services)
    assert pinned == {"Fn::Sub": f"{arns},${{DatabaseCluster.DBClusterArn}}"}


def test_aws_created_log_groups_follow_the_on_delete_choice(ops: OpsCase) -> None:
    for resource in ops.stack.of_type("Custom::LogRetention").values():
        assert resource["Properties"]["OnDelete"] == ops.variant.service_logs


# --------------------------------------------------------------------------- alarms

# alarm -> (namespace, metric name, dimensions, statistic) of each metric it reads
EXPECTED_METRICS: dict[str, list[tuple[Any, str, dict[str, Any], str]]] = {
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


def alarm_metrics(props: dict[str, Any]) -> list[tuple[Any, str, dict[str, Any], str]]:
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


def test_the_alarms_are_the_documented_ones(ops: OpsCase) -> None:
    expected = set(EXPECTED_METRICS) - (
        set() if ops.variant.jobs == "dedicated" else {"JobServiceNoInstanceAlarm"}
    )
    assert set(ops.stack.of_type(ALARM)) == expected


def test_every_alarm_reads_the_expected_metrics_of_this_stacks_resources(ops: OpsCase) -> None:
    for name, alarm in ops.stack.of_type(ALARM).items():
        assert alarm_metrics(alarm["Properties"]) == EXPECTED_METRICS[name], name


def test_every_alarm_notifies_the_configured_alarm_destinations(ops: OpsCase) -> None:
    expected = {
        "none": [],
        "email": [ref("AlarmTopic")],
        "topic": [ALARM_TOPIC_ARN],
        "both": [ref("AlarmTopic"), ALARM_TOPIC_ARN],
    }[ops.variant.alarms]
    assert ("AlarmTopic" in ops.stack.resources) is (ops.variant.alarms in ("email", "both"))
    for name, alarm in ops.stack.of_type(ALARM).items():
        assert alarm["Properties"]["AlarmActions"] == expected, name


def test_every_expression_alarm_returns_exactly_one_series(ops: OpsCase) -> None:
    for name, alarm in ops.stack.of_type(ALARM).items():
        queries = alarm["Properties"].get("Metrics")
        if queries is None:
            continue
        returned = [q for q in queries if q.get("ReturnData", True)]
        assert len(returned) == 1, name
        ids = {q["Id"] for q in queries if "MetricStat" in q}
        names = set(re.findall(r"[A-Za-z_]\w*", returned[0]["Expression"]))
        assert names - {"IF", "FILL", "AND"} == ids, name


def headings(markdown: str) -> set[str]:
    """GitHub's anchors for the document's headings."""
    anchors = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def test_every_alarm_says_what_it_means_what_to_look_at_first_and_links_its_runbook(
    ops: OpsCase,
) -> None:
    anchors = headings(OPERATIONS_DOC.read_text(encoding="utf-8"))
    for name, alarm in ops.stack.of_type(ALARM).items():
        if name == "DeadLetterAlarm":
            continue  # it predates this block; docs/operations.md covers it
        description = alarm["Properties"]["AlarmDescription"]
        text = description["Fn::Sub"] if isinstance(description, dict) else description
        text = text if isinstance(text, str) else text[0]
        assert "Look first at" in text, name
        [anchor] = re.findall(r"Runbook: docs/operations\.md#([\w-]+)$", text)
        assert anchor in anchors, name
        assert len(text) <= 1024, name


def test_the_thresholds_are_the_parameters() -> None:
    values = {
        "ApiErrorRatePercent": "12",
        "ApiLatencyP99Milliseconds": "750",
        "JobFailureThreshold": "4",
        "DatabaseCapacityAlarmPercent": "80",
        "DatabaseCpuAlarmPercent": "70",
    }
    stack = render(expanded_template(), {"ImageUri": GOOD_IMAGE, **values})
    thresholds = {name: a["Properties"]["Threshold"] for name, a in stack.of_type(ALARM).items()}
    assert thresholds == {
        "ApiErrorRateAlarm": "12",
        "ApiLatencyAlarm": "750",
        "ApiNoInstanceAlarm": 1,
        "JobServiceNoInstanceAlarm": 1,
        "JobFailuresAlarm": "4",
        "DeadLetterAlarm": 0,
        "DatabaseCapacityAlarm": "80",
        "DatabaseCpuAlarm": "70",
    }


def test_the_job_alarm_watches_what_the_job_filters_publish_from_the_job_endpoints_logs(
    ops: OpsCase,
) -> None:
    stack = ops.stack
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
    for name in ("JobRunsMetricFilter", "JobFailuresMetricFilter"):
        assert stack.props(name)["LogGroupName"] == getatt(
            f"{ops.variant.job_service}LogRetention", "ApplicationLogGroup"
        )


def test_every_function_that_runs_outside_deploys_has_an_errors_alarm(case: Case) -> None:
    assert functions_without_an_errors_alarm(case.stack) == []


def test_the_errors_alarm_check_catches_a_function_nobody_watches(case: Case) -> None:
    resources = dict(case.stack.resources)
    resources["NightlyFunction"] = {"Type": FUNCTION, "Properties": {}}
    planted = Rendered(case.stack.parameters, case.stack.conditions, resources, case.stack.outputs)
    assert functions_without_an_errors_alarm(planted) == ["NightlyFunction"]


# --------------------------------------------------------------------------- the dashboard

_PLACEHOLDER = re.compile(r"\$\{([^!}][^}]*)\}")


def dashboard(stack: Rendered) -> tuple[dict[str, Any], set[str], dict[str, Any]]:
    """(body with placeholders replaced by their names, placeholder names, local variables)."""
    body = stack.props("Dashboard")["DashboardBody"]["Fn::Sub"]
    text, local = (body, {}) if isinstance(body, str) else body
    names = set(_PLACEHOLDER.findall(text))
    parsed = json.loads(_PLACEHOLDER.sub(lambda m: f"<{m.group(1)}>", text))
    return parsed, names, local


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


def test_the_dashboard_shows_users_jobs_and_the_database(ops: OpsCase) -> None:
    parsed, _names, local = dashboard(ops.stack)
    shown = {(row[0], row[1]) for row in metric_rows(parsed) if isinstance(row[0], str)}
    assert shown >= {
        ("AWS/AppRunner", "Requests"),
        ("AWS/AppRunner", "5xxStatusResponses"),
        ("AWS/AppRunner", "RequestLatency"),
        ("AWS/AppRunner", "ActiveInstances"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/RDS", "ServerlessDatabaseCapacity"),
        ("AWS/RDS", "ACUUtilization"),
        ("AWS/RDS", "DatabaseConnections"),
    }
    latency = {
        row[-1]["stat"]
        for row in metric_rows(parsed)
        if row[:2] == ["AWS/AppRunner", "RequestLatency"]
    }
    assert latency == {"p50", "p90", "p99"}
    [search] = [row[0]["expression"] for row in metric_rows(parsed) if isinstance(row[0], dict)]
    assert search == (
        "SEARCH('{\"<AWS::StackName>/Jobs\",Job,Outcome} MetricName=\"JobRuns\"', 'Sum', 300)"
    )
    jobs_id = local["JobsId"]
    assert jobs_id == getatt(ops.variant.job_service, "ServiceId")
    assert local["JobsName"] == service_name(ops.variant.job_service)
    assert local["ApiName"] == service_name("ApiService")


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


def test_the_dashboards_alarm_widget_lists_every_alarm_of_every_variant(ops: OpsCase) -> None:
    parsed, _names, _local = dashboard(ops.stack)
    [widget] = [w for w in parsed["widgets"] if w["type"] == "alarm"]
    arns = widget["properties"]["alarms"]
    assert all(re.fullmatch(r"<\w+\.Arn>", arn) for arn in arns), arns
    listed = {arn[1:].removesuffix(".Arn>") for arn in arns}
    assert listed == set(ops.stack.of_type(ALARM)) - {"JobServiceNoInstanceAlarm"}


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
