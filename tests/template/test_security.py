"""Security wiring of the rendered stack: the functions' pins, TLS on the database, the network
path to it, the api's web ACL and the App Runner roles' trust (issue: security review)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.template.conftest import GOOD_IMAGE, Case
from tests.template.render import Rendered, expanded_template, render, source_template

FUNCTION = "AWS::Lambda::Function"


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def rendered(**overrides: str) -> Rendered:
    return render(expanded_template(), {"ImageUri": GOOD_IMAGE, **overrides})


def environment(stack: Rendered, logical_id: str) -> dict[str, Any]:
    variables: dict[str, Any] = stack.props(logical_id)["Environment"]["Variables"]
    return variables


def test_every_function_is_pinned_to_this_stack_and_runs_the_guard_layer(case: Case) -> None:
    functions = case.stack.of_type(FUNCTION)

    assert functions, "the stack has custom-resource functions"
    for logical_id in functions:
        variables = environment(case.stack, logical_id)
        assert variables["STACK_ID"] == ref("AWS::StackId"), logical_id
        assert "LOCAL_RESPONSE_ORIGIN" not in variables, logical_id
        # SAM names the published version CustomResourceGuardLayer<hash>.
        (layer,) = case.stack.props(logical_id)["Layers"]
        assert layer["Ref"].startswith("CustomResourceGuardLayer"), logical_id
        assert case.stack.resources[layer["Ref"]]["Type"] == "AWS::Lambda::LayerVersion"


def test_the_guard_layer_is_built_from_the_shared_folder_for_the_functions_runtime() -> None:
    layer = source_template()["Resources"]["CustomResourceGuardLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"].rstrip("/") == "functions/common"
    assert layer["Metadata"]["BuildMethod"] == "python3.13"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]


def test_the_subscription_function_is_pinned_to_the_job_topic(case: Case) -> None:
    variables = environment(case.stack, "HttpsSubscriptionFunction")

    assert variables["JOB_TOPIC_ARN"] == ref("JobTopic")
    assert case.stack.props("JobSubscription")["TopicArn"] == ref("JobTopic")


@pytest.mark.parametrize(
    ("version", "family"),
    [
        ("15.15", "aurora-postgresql15"),
        ("16.11", "aurora-postgresql16"),
        ("17.7", "aurora-postgresql17"),
    ],
)
def test_the_cluster_refuses_plain_connections_and_stores_scram_passwords(
    version: str, family: str
) -> None:
    stack = rendered(DatabaseEngineVersion=version)
    group = stack.props("DatabaseClusterParameterGroup")

    assert group["Family"] == family
    assert group["Parameters"]["rds.force_ssl"] == "1"
    assert group["Parameters"]["password_encryption"] == "scram-sha-256"
    assert stack.props("DatabaseCluster")["DBClusterParameterGroupName"] == ref(
        "DatabaseClusterParameterGroup"
    )


def test_the_connector_sends_postgresql_only_to_the_databases_security_group(case: Case) -> None:
    if case.variant.express:
        assert "ConnectorToDatabase" not in case.stack.resources
        return
    connector = case.stack.props("ConnectorSecurityGroup")
    egress_5432 = [
        rule
        for rule in connector.get("SecurityGroupEgress", [])
        if rule["FromPort"] <= 5432 <= rule["ToPort"]
    ]
    to_database = case.stack.props("ConnectorToDatabase")

    assert egress_5432 == []
    assert to_database["GroupId"] == ref("ConnectorSecurityGroup")
    assert to_database["DestinationSecurityGroupId"] == ref("DatabaseSecurityGroup")
    assert (to_database["FromPort"], to_database["ToPort"]) == (5432, 5432)
    assert "CidrIp" not in to_database


def test_no_web_acl_is_made_unless_a_rate_limit_is_given() -> None:
    stack = rendered()

    assert not stack.of_type("AWS::WAFv2::WebACL")
    assert not stack.of_type("AWS::WAFv2::WebACLAssociation")


def test_a_rate_limit_puts_a_rate_based_web_acl_with_logs_in_front_of_the_api_service() -> None:
    stack = rendered(ApiRateLimit="1000")
    acl = stack.props("ApiWebAcl")
    rate = next(r for r in acl["Rules"] if "RateBasedStatement" in r["Statement"])

    assert acl["Scope"] == "REGIONAL"
    assert rate["Statement"]["RateBasedStatement"]["Limit"] == "1000"
    assert rate["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
    assert rate["Action"] == {"Block": {}}
    scope = rate["Statement"]["RateBasedStatement"]["ScopeDownStatement"]
    job_path = scope["NotStatement"]["Statement"]["ByteMatchStatement"]
    assert (job_path["SearchString"], job_path["PositionalConstraint"]) == ("/jobs", "STARTS_WITH")
    association = stack.props("ApiWebAclAssociation")
    assert association["ResourceArn"] == {"Fn::GetAtt": ["ApiService", "ServiceArn"]}
    assert association["WebACLArn"] == {"Fn::GetAtt": ["ApiWebAcl", "Arn"]}
    assert "ExpressWebAclAssociation" not in stack.resources
    assert stack.props("ApiWebAclLogGroup")["LogGroupName"]["Fn::Sub"].startswith("aws-waf-logs-")


@pytest.mark.parametrize("role", ["EcrAccessRole", "InstanceRole"])
def test_app_runner_roles_trust_only_this_accounts_app_runner_where_it_names_the_account(
    case: Case, role: str
) -> None:
    if case.variant.express:
        assert role not in case.stack.resources
        return
    (statement,) = case.stack.props(role)["AssumeRolePolicyDocument"]["Statement"]

    assert statement["Condition"] == {
        "StringEqualsIfExists": {"aws:SourceAccount": ref("AWS::AccountId")}
    }


def test_the_app_connects_with_verify_full_against_the_shipped_bundle(case: Case) -> None:
    variables = case.stack.props("AppEnvironment")["Variables"]
    url = next(v for v in variables if v["Name"] == "DATABASE_URL")

    assert "sslmode=verify-full" in url["Template"]
    assert "sslrootcert=/app/certs/rds-global-bundle.pem" in url["Template"]
    assert "sslmode=require" not in url["Template"]


def test_on_ecs_express_the_web_acl_goes_on_the_load_balancer_express_manages() -> None:
    stack = rendered(ApiRateLimit="1000", ComputePlatform="EcsExpress", Tracing="false")

    association = stack.props("ExpressWebAclAssociation")
    assert association["ResourceArn"] == {
        "Fn::GetAtt": ["ExpressApiService", "Outputs.LoadBalancerArn"]
    }
    assert association["WebACLArn"] == {"Fn::GetAtt": ["ApiWebAcl", "Arn"]}
    assert "ApiWebAclAssociation" not in stack.resources
