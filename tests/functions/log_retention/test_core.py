"""Custom::LogRetention's pure rules: ARNs, names, retention values, pins. No AWS."""

from __future__ import annotations

import pytest

from log_retention import core
from log_retention.core import PropertyError

ID = "0123456789abcdef0123456789abcdef"
ARN = f"arn:aws:apprunner:eu-west-1:123456789012:service/bookapp-api/{ID}"


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
    service = core.parse_service_arn(arn)
    assert (service.name, service.service_id, service.region, service.arn) == (
        name,
        ID,
        region,
        arn,
    )


def test_the_log_groups_are_app_runners_service_and_application_groups() -> None:
    service = core.parse_service_arn(ARN)
    assert service.prefix == f"/aws/apprunner/bookapp-api/{ID}"
    assert service.log_groups == {
        "service": f"/aws/apprunner/bookapp-api/{ID}/service",
        "application": f"/aws/apprunner/bookapp-api/{ID}/application",
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
        "bookapp-api",
    ],
)
def test_anything_but_an_app_runner_service_arn_is_refused(arn: str) -> None:
    with pytest.raises(PropertyError, match="is not an App Runner service ARN"):
        core.parse_service_arn(arn)


@pytest.mark.parametrize("value", [None, ""])
def test_a_missing_service_arn_says_what_to_pass(value: object) -> None:
    with pytest.raises(PropertyError, match=r"ServiceArn is required.*ServiceArn\)"):
        core.parse_service_arn(value)


def test_a_service_arn_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(PropertyError, match="ServiceArn must be a string, got list"):
        core.parse_service_arn([ARN])


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


def test_the_spec_answers_the_prefix_as_physical_id_and_the_names_as_data() -> None:
    spec = core.parse_properties({"ServiceArn": ARN, "RetentionInDays": "14", "OnDelete": "Delete"})
    assert spec.physical_id == f"/aws/apprunner/bookapp-api/{ID}"
    assert spec.retention_days == 14
    assert spec.on_delete == "Delete"
    assert spec.data() == {
        "ServiceLogGroup": f"/aws/apprunner/bookapp-api/{ID}/service",
        "ApplicationLogGroup": f"/aws/apprunner/bookapp-api/{ID}/application",
        "ServiceName": "bookapp-api",
        "ServiceId": ID,
    }


def test_unknown_properties_are_named() -> None:
    with pytest.raises(PropertyError, match="Unknown properties: LogGroupName, Retention"):
        core.parse_properties(
            {"ServiceArn": ARN, "RetentionInDays": "1", "Retention": "1", "LogGroupName": "x"}
        )


@pytest.mark.parametrize(
    ("physical_id", "expected"),
    [
        (f"/aws/apprunner/bookapp-api/{ID}", ("bookapp-api", ID)),
        ("bookapp_ApiServiceLogRetention_AB12CD34", None),
        (f"/aws/apprunner/bookapp-api/{ID}/service", None),
        (f"/aws/lambda/bookapp-api/{ID}", None),
        ("", None),
        (None, None),
    ],
)
def test_the_physical_id_names_the_service_or_nothing(
    physical_id: object, expected: tuple[str, str] | None
) -> None:
    service = core.parse_physical_id(physical_id)
    assert (None if service is None else (service.name, service.service_id)) == expected


def test_pinned_services_are_read_from_a_comma_separated_list() -> None:
    other = ARN.replace("bookapp-api", "bookapp-jobs")
    pinned = core.pinned_services(f" {ARN} , {other},")
    assert [service.arn for service in pinned] == [ARN, other]


@pytest.mark.parametrize("value", [None, "", " , "])
def test_no_pinned_service_is_a_misconfigured_function(value: str | None) -> None:
    with pytest.raises(PropertyError, match="misconfigured: SERVICE_ARNS"):
        core.pinned_services(value)


def test_a_malformed_pin_names_the_variable() -> None:
    with pytest.raises(PropertyError, match="SERVICE_ARNS 'nope' is not an App Runner service ARN"):
        core.pinned_services(f"{ARN},nope")


def test_only_a_pinned_service_arn_is_accepted() -> None:
    pinned = core.pinned_services(ARN)
    core.require_pinned(core.parse_service_arn(ARN), pinned)
    twin = ARN.replace("123456789012", "210987654321")
    with pytest.raises(PropertyError, match="is not a service of this stack"):
        core.require_pinned(core.parse_service_arn(twin), pinned)


def test_a_physical_id_finds_its_pinned_service_by_name_and_id() -> None:
    pinned = core.pinned_services(ARN)
    found = core.find_pinned(core.Service("bookapp-api", ID), pinned)
    assert found is not None
    assert found.region == "eu-west-1"
    assert core.find_pinned(core.Service("bookapp-api", "f" * 32), pinned) is None


def test_a_service_outside_the_functions_region_is_refused() -> None:
    service = core.parse_service_arn(ARN)
    core.require_region(service, "eu-west-1")
    with pytest.raises(PropertyError, match=r"is in eu-west-1, but .* in us-east-1 only"):
        core.require_region(service, "us-east-1")
