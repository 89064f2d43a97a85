"""Custom::LogRetention's pure rules: ARNs, names, retention values, pins. No AWS."""

from __future__ import annotations

import pytest

from log_retention import core
from log_retention.core import PropertyError

ID = "0123456789abcdef0123456789abcdef"
ARN = f"arn:aws:apprunner:eu-west-1:123456789012:service/bookapp-api/{ID}"
CLUSTER = "bookapp-databasecluster-q1w2e3r4t5y6"
CLUSTER_ARN = f"arn:aws:rds:eu-west-1:123456789012:cluster:{CLUSTER}"


@pytest.mark.parametrize(
    ("arn", "region", "name"),
    [
        (ARN, "eu-west-1", "bookapp-api"),
        (
            f"arn:aws-cn:apprunner:cn-north-1:123456789012:service/Api_Service-1/{ID}",
            "cn-north-1",
            "Api_Service-1",
        ),
        (
            f"arn:aws-us-gov:apprunner:us-gov-west-1:123456789012:service/svc1/{ID}",
            "us-gov-west-1",
            "svc1",
        ),
    ],
)
def test_a_service_arn_gives_the_name_id_and_region(arn: str, region: str, name: str) -> None:
    owner = core.parse_resource_arn(arn)
    assert (owner.kind, owner.name, owner.owner_id, owner.region, owner.arn) == (
        "apprunner",
        name,
        ID,
        region,
        arn,
    )


def test_a_cluster_arn_gives_the_cluster_id_and_region() -> None:
    owner = core.parse_resource_arn(CLUSTER_ARN)
    assert (owner.kind, owner.name, owner.owner_id, owner.region) == (
        "rds",
        CLUSTER,
        "",
        "eu-west-1",
    )


def test_app_runners_groups_are_the_service_and_application_groups() -> None:
    spec = core.parse_properties({"ResourceArn": ARN, "RetentionInDays": "14"})
    assert spec.physical_id == f"/aws/apprunner/bookapp-api/{ID}"
    assert spec.log_groups == {
        "service": f"/aws/apprunner/bookapp-api/{ID}/service",
        "application": f"/aws/apprunner/bookapp-api/{ID}/application",
    }
    assert spec.data() == {
        "ServiceLogGroup": f"/aws/apprunner/bookapp-api/{ID}/service",
        "ApplicationLogGroup": f"/aws/apprunner/bookapp-api/{ID}/application",
    }


def test_auroras_groups_are_one_per_exported_log_type() -> None:
    spec = core.parse_properties(
        {
            "ResourceArn": CLUSTER_ARN,
            "RetentionInDays": "14",
            "LogTypes": ["postgresql", "iam-db-auth-error"],
        }
    )
    assert spec.physical_id == f"/aws/rds/cluster/{CLUSTER}"
    assert spec.data() == {
        "PostgresqlLogGroup": f"/aws/rds/cluster/{CLUSTER}/postgresql",
        "IamDbAuthErrorLogGroup": f"/aws/rds/cluster/{CLUSTER}/iam-db-auth-error",
    }


@pytest.mark.parametrize(
    "arn",
    [
        f"arn:aws:apprunner:eu-west-1:123456789012:service/bookapp-api/{ID}/extra",
        f"arn:aws:apprunner:eu-west-1:123456789012:service/bookapp-api/{ID.upper()}",
        f"arn:aws:apprunner:eu-west-1:123456789012:service/bookapp-api/{ID[:-1]}",
        f"arn:aws:apprunner:eu-west-1:123456789012:connection/bookapp-api/{ID}",
        f"arn:aws:apprunner:eu-west-1:12345678901:service/bookapp-api/{ID}",
        f"arn:aws:apprunner:eu-west-1:123456789012:service/abc/{ID}",
        f"arn:aws:apprunner:eu-west-1:123456789012:service/{'a' * 41}/{ID}",
        f"arn:aws:apprunner:eu-west-1:123456789012:service/-api/{ID}",
        f"arn:aws:apprunner:eu-west-1:123456789012:service/api.v2/{ID}",
        "arn:aws:rds:eu-west-1:123456789012:db:bookapp-instance",
        "arn:aws:rds:eu-west-1:123456789012:cluster:Bookapp",
        "arn:aws:rds:eu-west-1:123456789012:cluster:bookapp-",
        "arn:aws:rds:eu-west-1:123456789012:cluster:../x",
        "bookapp-api",
    ],
)
def test_anything_but_a_service_or_cluster_arn_is_refused(arn: str) -> None:
    with pytest.raises(PropertyError, match="is neither an App Runner service ARN"):
        core.parse_resource_arn(arn)


@pytest.mark.parametrize("value", [None, ""])
def test_a_missing_resource_arn_says_what_to_pass(value: object) -> None:
    with pytest.raises(PropertyError, match=r"ResourceArn is required.*ServiceArn\)"):
        core.parse_resource_arn(value)


def test_a_resource_arn_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(PropertyError, match="ResourceArn must be a string, got list"):
        core.parse_resource_arn([ARN])


def test_log_types_are_refused_for_an_app_runner_service() -> None:
    with pytest.raises(PropertyError, match="LogTypes is for Aurora clusters"):
        core.parse_log_types(["application"], core.parse_resource_arn(ARN))


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "LogTypes is required for an Aurora cluster"),
        ("postgresql", "LogTypes is required for an Aurora cluster"),
        ([], "LogTypes is required for an Aurora cluster"),
        (["postgresql", "postgresql"], "LogTypes names postgresql twice"),
        (["PostgreSQL"], "is not a log type name"),
        (["a/b"], "is not a log type name"),
        ([1], "is not a log type name"),
        ([f"t{n}" for n in range(9)], "at most 8"),
    ],
)
def test_a_cluster_needs_well_formed_log_types(value: object, reason: str) -> None:
    with pytest.raises(PropertyError, match=reason):
        core.parse_log_types(value, core.parse_resource_arn(CLUSTER_ARN))


@pytest.mark.parametrize(("value", "days"), [("1", 1), ("30", 30), (365, 365), ("3653", 3653)])
def test_every_retention_cloudwatch_accepts_is_taken(value: object, days: int) -> None:
    assert core.parse_retention(value) == days


@pytest.mark.parametrize("value", ["0", "2", "8", "366", "3654", "-1"])
def test_a_retention_cloudwatch_refuses_is_refused_with_the_allowed_values(value: str) -> None:
    with pytest.raises(PropertyError, match=r"is not one CloudWatch Logs accepts: 1, 3, 5, 7"):
        core.parse_retention(value)


@pytest.mark.parametrize("value", ["thirty", "30.5", True, "1e2"])
def test_a_retention_that_is_not_a_whole_number_is_refused(value: object) -> None:
    with pytest.raises(PropertyError, match="must be a whole number of days"):
        core.parse_retention(value)


@pytest.mark.parametrize(("value", "expected"), [(None, "Retain"), ("", "Retain")])
def test_on_delete_defaults_to_retain(value: object, expected: str) -> None:
    assert core.parse_on_delete(value) == expected


@pytest.mark.parametrize("value", ["Retain", "Delete"])
def test_on_delete_takes_retain_or_delete(value: str) -> None:
    assert core.parse_on_delete(value) == value


@pytest.mark.parametrize("value", ["delete", "true", "Snapshot", True])
def test_on_delete_takes_nothing_else(value: object) -> None:
    with pytest.raises(PropertyError, match='OnDelete must be "Retain" or "Delete"'):
        core.parse_on_delete(value)


def test_unknown_properties_are_named() -> None:
    with pytest.raises(PropertyError, match="Unknown properties: LogGroupName, ServiceArn"):
        core.parse_properties(
            {"ResourceArn": ARN, "RetentionInDays": "1", "ServiceArn": ARN, "LogGroupName": "x"}
        )


@pytest.mark.parametrize(
    ("physical_id", "expected"),
    [
        (f"/aws/apprunner/bookapp-api/{ID}", ("apprunner", "bookapp-api", ID)),
        (f"/aws/rds/cluster/{CLUSTER}", ("rds", CLUSTER, "")),
        ("bookapp_ApiServiceLogRetention_AB12CD34", None),
        (f"/aws/apprunner/bookapp-api/{ID}/service", None),
        (f"/aws/rds/cluster/{CLUSTER}/postgresql", None),
        (f"/aws/lambda/bookapp-api/{ID}", None),
        ("", None),
        (None, None),
    ],
)
def test_the_physical_id_names_the_resource_or_nothing(
    physical_id: object, expected: tuple[str, str, str] | None
) -> None:
    owner = core.parse_physical_id(physical_id)
    assert (None if owner is None else (owner.kind, owner.name, owner.owner_id)) == expected


def test_pinned_resources_are_read_from_a_comma_separated_list() -> None:
    other = ARN.replace("bookapp-api", "bookapp-jobs")
    pinned = core.pinned_resources(f" {ARN} , {other},{CLUSTER_ARN}")
    assert [owner.arn for owner in pinned] == [ARN, other, CLUSTER_ARN]


@pytest.mark.parametrize("value", [None, "", " , "])
def test_no_pinned_resource_is_a_misconfigured_function(value: str | None) -> None:
    with pytest.raises(PropertyError, match="misconfigured: RESOURCE_ARNS"):
        core.pinned_resources(value)


def test_a_malformed_pin_names_the_variable() -> None:
    with pytest.raises(PropertyError, match="RESOURCE_ARNS 'nope' is neither"):
        core.pinned_resources(f"{ARN},nope")


def test_only_a_pinned_resource_arn_is_accepted() -> None:
    pinned = core.pinned_resources(f"{ARN},{CLUSTER_ARN}")
    core.require_pinned(core.parse_resource_arn(ARN), pinned)
    core.require_pinned(core.parse_resource_arn(CLUSTER_ARN), pinned)
    twin = ARN.replace("123456789012", "210987654321")
    with pytest.raises(PropertyError, match="is not a resource of this stack"):
        core.require_pinned(core.parse_resource_arn(twin), pinned)


def test_a_physical_id_finds_its_pinned_resource_by_kind_name_and_id() -> None:
    pinned = core.pinned_resources(f"{ARN},{CLUSTER_ARN}")
    found = core.find_pinned(core.Owner("apprunner", "bookapp-api", ID), pinned)
    assert found is not None
    assert found.region == "eu-west-1"
    assert core.find_pinned(core.Owner("rds", CLUSTER), pinned) is not None
    assert core.find_pinned(core.Owner("apprunner", "bookapp-api", "f" * 32), pinned) is None
    assert core.find_pinned(core.Owner("rds", "bookapp-api"), pinned) is None


def test_a_resource_outside_the_functions_region_is_refused() -> None:
    owner = core.parse_resource_arn(ARN)
    core.require_region(owner, "eu-west-1")
    with pytest.raises(PropertyError, match=r"is in eu-west-1, but .* in us-east-1 only"):
        core.require_region(owner, "us-east-1")
