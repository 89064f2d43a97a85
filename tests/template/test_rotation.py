"""Rotation of the database credentials and its follower, as the template wires them
(docs/rotation.md): the rotation schedule, the rule that matches only this stack's database secret,
the follower's least privilege, its dead-letter queue and alarm, the Rule against PlainText, and
that turning rotation on changes nothing on the database, its secret or the target secret."""

from __future__ import annotations

from typing import Any

import pytest

from tests.template.conftest import EXISTING_SUBNETS, EXISTING_VPC, GOOD_IMAGE
from tests.template.render import Rendered, expanded_template, render
from tests.template.replacement import ReplacementAnalysis
from tests.template.validate import validate

ROTATION_RESOURCES = {
    "RotationFunctionSecurityGroup",
    "RotationFunctionToDatabase",
    "DatabaseFromRotationFunction",
    "DatabaseRotation",
    "RotationFollowerDeadLetterQueue",
    "RotationFollowerDeadLetterQueuePolicy",
    "RotationFollowerAlarm",
    "RotationFollowerLogGroup",
    "RotationFollowerFunction",
    "RotationFollowerFunctionRole",
    "RotationFollowerFunctionEventInvokeConfig",
    "RotationFollowerRule",
    "RotationFollowerInvokePermission",
}
PROTECTED = ("DatabaseCluster", "DatabaseSecret", "AppEnvironmentSecret", "DatabaseSecurityGroup")


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def getatt(name: str, attribute: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, attribute]}


def rendered(**overrides: str) -> Rendered:
    return render(expanded_template(), {"ImageUri": GOOD_IMAGE, **overrides})


def inline_statements(stack: Rendered, role: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in stack.props(role).get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]


# --------------------------------------------------------------------------- parameters and Rule


def test_rotation_is_on_by_default_every_30_days() -> None:
    stack = rendered()

    assert stack.parameters["DatabaseRotationDays"] == "30"
    assert stack.conditions["RotateDatabase"] is True
    assert set(stack.resources) >= ROTATION_RESOURCES


def test_zero_days_turns_rotation_and_the_follower_off() -> None:
    stack = rendered(DatabaseRotationDays="0")

    assert not ROTATION_RESOURCES & set(stack.resources)
    assert stack.props("AppEnvironment")["Follow"] == "false"


def test_plain_text_delivery_with_rotation_is_refused_by_a_rule_that_says_why() -> None:
    source = expanded_template()

    (error,) = validate(source, {"ImageUri": GOOD_IMAGE, "SecretDelivery": "PlainText"})

    assert error.startswith("rule RotationNeedsSecretReference: DatabaseRotationDays above 0")
    assert "PlainText the password is baked into the services' plain environment" in error
    assert "set DatabaseRotationDays to 0" in error


def test_plain_text_delivery_without_rotation_passes_and_creates_no_rotation() -> None:
    values = {"SecretDelivery": "PlainText", "DatabaseRotationDays": "0"}

    assert validate(expanded_template(), {"ImageUri": GOOD_IMAGE, **values}) == []
    assert not ROTATION_RESOURCES & set(rendered(**values).resources)


def test_even_without_the_rule_plain_text_never_gets_a_rotation() -> None:
    # The condition repeats the Rule, so no variant can rotate what nothing follows.
    stack = rendered(SecretDelivery="PlainText")

    assert stack.conditions["RotateDatabase"] is False
    assert not ROTATION_RESOURCES & set(stack.resources)


@pytest.mark.parametrize(("days", "ok"), [("0", True), ("1", True), ("365", True), ("366", False)])
def test_the_rotation_interval_is_bounded(days: str, ok: bool) -> None:
    errors = validate(expanded_template(), {"ImageUri": GOOD_IMAGE, "DatabaseRotationDays": days})

    assert (errors == []) is ok


# --------------------------------------------------------------------------- the rotation itself


@pytest.mark.parametrize("network", ["create-2", "create-3", "existing"])
def test_the_schedule_rotates_the_database_secret_single_user_from_the_private_subnets(
    network: str,
) -> None:
    if network == "existing":
        stack = rendered(
            NetworkMode="existing",
            ExistingVpcId=EXISTING_VPC,
            ExistingPrivateSubnetIds=",".join(EXISTING_SUBNETS),
            DatabaseRotationDays="14",
        )
        subnets = []
    else:
        zones = network.split("-")[1]
        stack = rendered(AvailabilityZoneCount=zones, DatabaseRotationDays="14")
        subnets = [ref(f"PrivateSubnet{n}") for n in range(1, int(zones) + 1)]
    schedule = stack.props("DatabaseRotation")
    hosted = schedule["HostedRotationLambda"]

    # The attachment's Ref is the secret's ARN, after host and port are in it.
    assert schedule["SecretId"] == ref("DatabaseSecretAttachment")
    assert stack.props("DatabaseSecretAttachment")["SecretId"] == ref("DatabaseSecret")
    assert hosted["RotationType"] == "PostgreSQLSingleUser"
    assert "MasterSecretArn" not in hosted
    assert "SuperuserSecretArn" not in hosted
    assert hosted["VpcSecurityGroupIds"] == ref("RotationFunctionSecurityGroup")
    if network == "existing":  # literals: the renderer joins them as CloudFormation would
        assert hosted["VpcSubnetIds"] == ",".join(EXISTING_SUBNETS)
    else:
        assert hosted["VpcSubnetIds"] == {"Fn::Join": [",", subnets]}
    # The parameter's text; CloudFormation passes a Number parameter through as written.
    assert schedule["RotationRules"] == {"AutomaticallyAfterDays": "14"}
    assert schedule["RotateImmediatelyOnUpdate"] is False


def test_rotated_passwords_avoid_the_same_characters_as_the_generated_one() -> None:
    stack = rendered()
    generated = stack.props("DatabaseSecret")["GenerateSecretString"]["ExcludeCharacters"]

    assert stack.props("DatabaseRotation")["HostedRotationLambda"]["ExcludeCharacters"] == (
        generated
    )


def test_the_rotation_function_reaches_only_the_database_and_https() -> None:
    stack = rendered()
    group = stack.props("RotationFunctionSecurityGroup")

    assert "SecurityGroupIngress" not in group
    rules = group["SecurityGroupEgress"]
    assert [(r["IpProtocol"], r["FromPort"], r["CidrIp"]) for r in rules] == [
        ("tcp", 443, "0.0.0.0/0")
    ]
    egress = stack.props("RotationFunctionToDatabase")
    assert egress["GroupId"] == ref("RotationFunctionSecurityGroup")
    assert egress["DestinationSecurityGroupId"] == ref("DatabaseSecurityGroup")
    assert (egress["FromPort"], egress["ToPort"]) == (5432, 5432)


def test_the_schedule_waits_for_the_follower_so_the_first_rotation_is_followed() -> None:
    depends = rendered().resources["DatabaseRotation"]["DependsOn"]

    assert {"RotationFollowerRule", "RotationFollowerInvokePermission"} <= set(depends)


# --------------------------------------------------------------------------- the follower


def test_the_rule_matches_only_a_new_current_version_of_this_stacks_database_secret() -> None:
    rule = rendered().props("RotationFollowerRule")

    assert rule["EventPattern"] == {
        "source": ["aws.secretsmanager"],
        "detail-type": ["Secret Label Updated"],
        "resources": [ref("DatabaseSecret")],
        "detail": {"labelUpdated": ["AWSCURRENT"]},
    }
    (target,) = rule["Targets"]
    assert target["Arn"] == getatt("RotationFollowerFunction", "Arn")
    assert target["DeadLetterConfig"] == {"Arn": getatt("RotationFollowerDeadLetterQueue", "Arn")}


def test_only_the_rule_may_invoke_the_follower() -> None:
    permission = rendered().props("RotationFollowerInvokePermission")

    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"] == getatt("RotationFollowerRule", "Arn")
    assert permission["SourceAccount"] == ref("AWS::AccountId")


def test_the_follower_is_a_second_handler_of_the_secret_environment_code() -> None:
    stack = rendered()
    follower = stack.props("RotationFollowerFunction")
    resolver = stack.props("SecretEnvironmentFunction")

    assert follower["Code"] == resolver["Code"]
    assert follower["Handler"] == "secret_environment.rotation.handler"
    assert resolver["Handler"] == "secret_environment.handler.handler"


@pytest.mark.parametrize("jobs", ["dedicated", "shared"])
def test_the_follower_reads_app_environments_definition_and_knows_every_service(
    jobs: str,
) -> None:
    stack = rendered(JobServiceMode=jobs)
    variables = stack.props("RotationFollowerFunction")["Environment"]["Variables"]
    services = [getatt("ApiService", "ServiceArn")]
    if jobs == "dedicated":
        services.append(getatt("JobService", "ServiceArn"))

    assert variables["DATABASE_SECRET_ARN"] == ref("DatabaseSecret")
    assert variables["SECRET_ENVIRONMENT_DEFINITION"] == getatt("AppEnvironment", "Definition")
    assert stack.props("AppEnvironment")["Follow"] == "true"
    if jobs == "dedicated":
        assert variables["APPRUNNER_SERVICE_ARNS"] == {"Fn::Join": [",", services]}
    else:
        assert variables["APPRUNNER_SERVICE_ARNS"] == services[0]


@pytest.mark.parametrize("jobs", ["dedicated", "shared"])
def test_the_follower_may_read_the_database_secret_write_the_target_and_redeploy_and_no_more(
    jobs: str,
) -> None:
    stack = rendered(JobServiceMode=jobs)
    services = [getatt("ApiService", "ServiceArn")]
    if jobs == "dedicated":
        services.append(getatt("JobService", "ServiceArn"))

    statements = inline_statements(stack, "RotationFollowerFunctionRole")

    granted = sorted(
        (action, str(resource))
        for statement in statements
        for action in (
            [statement["Action"]]
            if isinstance(statement["Action"], str)
            else [*statement["Action"]]
        )
        for resource in (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        )
    )
    expected = sorted(
        [
            ("secretsmanager:GetSecretValue", str(ref("DatabaseSecret"))),
            ("secretsmanager:GetSecretValue", str(ref("AppEnvironmentSecret"))),
            ("secretsmanager:PutSecretValue", str(ref("AppEnvironmentSecret"))),
            ("sqs:SendMessage", str(getatt("RotationFollowerDeadLetterQueue", "Arn"))),
        ]
        + [
            (action, str(service))
            for service in services
            for action in (
                "apprunner:DescribeService",
                "apprunner:ListOperations",
                "apprunner:StartDeployment",
            )
        ]
    )
    assert granted == expected
    assert all(statement["Effect"] == "Allow" for statement in statements)


def test_what_the_follower_cannot_do_lands_in_its_queue_and_raises_the_alarm() -> None:
    stack = rendered(AlarmEmail="ops@example.org")
    invoke = stack.props("RotationFollowerFunctionEventInvokeConfig")
    alarm = stack.props("RotationFollowerAlarm")

    assert invoke["MaximumRetryAttempts"] == 2
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == getatt(
        "RotationFollowerDeadLetterQueue", "Arn"
    )
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": getatt("RotationFollowerDeadLetterQueue", "QueueName")}
    ]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert alarm["AlarmActions"] == stack.props("DeadLetterAlarm")["AlarmActions"]
    assert alarm["AlarmActions"] == [ref("AlarmTopic")]


def test_only_the_rule_may_send_to_the_follower_queue_and_only_over_tls() -> None:
    policy = rendered().props("RotationFollowerDeadLetterQueuePolicy")["PolicyDocument"]
    allow, deny = policy["Statement"]

    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Condition"] == {
        "ArnEquals": {"aws:SourceArn": getatt("RotationFollowerRule", "Arn")}
    }
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


# --------------------------------------------------------------------------- existing stacks


@pytest.mark.parametrize("name", PROTECTED)
def test_turning_rotation_on_changes_nothing_on_the_database_its_secret_or_the_target(
    name: str,
) -> None:
    off = rendered(DatabaseRotationDays="0")
    on = rendered(DatabaseRotationDays="30")

    assert on.resources[name] == off.resources[name]


def test_turning_rotation_on_updates_app_environment_in_place_for_its_definition() -> None:
    off = rendered(DatabaseRotationDays="0").resources["AppEnvironment"]
    on = rendered(DatabaseRotationDays="30").resources["AppEnvironment"]

    changed = {
        key
        for key in set(off["Properties"]) | set(on["Properties"])
        if off["Properties"].get(key) != on["Properties"].get(key)
    }
    # Follow alone changes: CloudFormation calls Update (the function keeps the physical id), the
    # values and the fingerprint stay, so the services are not updated either.
    assert changed == {"Follow"}


def test_no_rotation_parameter_can_replace_the_database_or_a_secret() -> None:
    expanded = expanded_template()
    for analysis in (ReplacementAnalysis(expanded), ReplacementAnalysis(expanded, True)):
        for name in ("DatabaseCluster", "DatabaseSecret", "AppEnvironmentSecret"):
            assert "DatabaseRotationDays" not in analysis.replacers[name], name
            assert "DatabaseRotationDays" not in analysis.dynamic_reference_parameters(name)
