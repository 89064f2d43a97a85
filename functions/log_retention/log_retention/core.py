"""Parses and validates Custom::LogRetention properties and names the log groups it manages.

App Runner writes each service's logs to two log groups it creates itself, without retention:
`/aws/apprunner/<service-name>/<service-id>/service` (service events, deployments) and
`.../application` (the container's stdout and stderr). Their names exist only once the service does,
so CloudFormation cannot own them; Custom::LogRetention sets their retention after the service
exists. Pure on purpose (no boto3, no crhelper): every rule that can refuse a template is here.

- Create: `parse_properties` yields a `RetentionSpec` from the service's ARN
  (`arn:<partition>:apprunner:<region>:<account>:service/<name>/<id>`). The physical id is the
  groups' common prefix `/aws/apprunner/<name>/<id>`, so it changes exactly when the service does.
- Update: the same; a replaced service has a new id, hence a new physical id, and CloudFormation
  then sends a Delete for the old one.
- Delete: `parse_physical_id` recovers the service from the physical id; an id this resource never
  issued (a failed Create) names nothing. The groups are deleted only with `OnDelete: Delete`.

Only the stack's own services: the function's environment pins their ARNs (`SERVICE_ARNS`, comma
separated); a ServiceArn that is not one of them is refused, and a Delete for a service that is
no longer one of them (the old service after a replacement) leaves its log groups alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

SERVICE_ARNS_VARIABLE: Final = "SERVICE_ARNS"
LOG_GROUP_KINDS: Final = ("service", "application")
# The values CloudWatch Logs' PutRetentionPolicy accepts.
RETENTION_DAYS: Final = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731}
    | {1096, 1827, 2192, 2557, 2922, 3288, 3653}
)
ON_DELETE_VALUES: Final = ("Retain", "Delete")
KNOWN_PROPERTIES: Final = frozenset(
    {"ServiceToken", "ServiceTimeout", "ServiceArn", "RetentionInDays", "OnDelete"}
)

_PARTITION = r"aws(?:-cn|-us-gov|-iso(?:-[a-z])?|-eusc)?"
_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d+"
# App Runner service names: 4-40 characters, letters, digits, hyphens and underscores; ids: 32 hex.
_NAME = r"[A-Za-z0-9][A-Za-z0-9_-]{3,39}"
_ID = r"[0-9a-f]{32}"
_SERVICE_ARN: Final = re.compile(
    rf"^arn:(?P<partition>{_PARTITION}):apprunner:(?P<region>{_REGION}):(?P<account>\d{{12}}):"
    rf"service/(?P<name>{_NAME})/(?P<id>{_ID})$"
)
_PREFIX: Final = re.compile(rf"^/aws/apprunner/(?P<name>{_NAME})/(?P<id>{_ID})$")

OnDelete = Literal["Retain", "Delete"]


class PropertyError(ValueError):
    """A property (or the function's pinned environment) is wrong; the message is the Reason
    (at most 256 characters, or crhelper keeps only its end)."""


@dataclass(frozen=True)
class Service:
    """An App Runner service, as far as its log groups are concerned."""

    name: str
    service_id: str
    region: str = ""
    arn: str = ""

    @property
    def prefix(self) -> str:
        """The log groups' common prefix, which is also the resource's physical id."""
        return f"/aws/apprunner/{self.name}/{self.service_id}"

    @property
    def log_groups(self) -> dict[str, str]:
        """{"service": ..., "application": ...}: the two groups App Runner writes to."""
        return {kind: f"{self.prefix}/{kind}" for kind in LOG_GROUP_KINDS}

    def same_service(self, other: Service) -> bool:
        return (self.name, self.service_id) == (other.name, other.service_id)


@dataclass(frozen=True)
class RetentionSpec:
    """What the template asks for, validated."""

    service: Service
    retention_days: int
    on_delete: OnDelete = "Retain"

    @property
    def physical_id(self) -> str:
        return self.service.prefix

    def data(self) -> dict[str, str]:
        """The attributes `!GetAtt` can read: the two group names, the service's name and id."""
        groups = self.service.log_groups
        return {
            "ServiceLogGroup": groups["service"],
            "ApplicationLogGroup": groups["application"],
            "ServiceName": self.service.name,
            "ServiceId": self.service.service_id,
        }


def parse_service_arn(value: object, where: str = "ServiceArn") -> Service:
    if value in (None, ""):
        raise PropertyError(
            f"{where} is required: the App Runner service's ARN (!GetAtt ApiService.ServiceArn)"
        )
    if not isinstance(value, str):
        raise PropertyError(f"{where} must be a string, got {type(value).__name__}")
    match = _SERVICE_ARN.match(value.strip())
    if match is None:
        raise PropertyError(
            f"{where} {value[:100]!r} is not an App Runner service ARN "
            "(arn:<partition>:apprunner:<region>:<account>:service/<name>/<32 hex id>)"
        )
    return Service(match["name"], match["id"], match["region"], value.strip())


def parse_retention(value: object) -> int:
    if value in (None, ""):
        raise PropertyError("RetentionInDays is required: days CloudWatch Logs keeps the logs")
    text = str(value).strip()
    if isinstance(value, bool) or not text.removeprefix("-").isdigit():
        raise PropertyError(f"RetentionInDays must be a whole number of days, got {value!r}")
    days = int(text)
    if days not in RETENTION_DAYS:
        allowed = ", ".join(str(d) for d in sorted(RETENTION_DAYS))
        raise PropertyError(f"RetentionInDays {days} is not one CloudWatch Logs accepts: {allowed}")
    return days


def parse_on_delete(value: object) -> OnDelete:
    if value in (None, ""):
        return "Retain"
    if value == "Retain":
        return "Retain"
    if value == "Delete":
        return "Delete"
    raise PropertyError(f'OnDelete must be "Retain" or "Delete", got {value!r}')


def parse_properties(properties: Mapping[str, Any]) -> RetentionSpec:
    unknown = sorted(set(properties) - KNOWN_PROPERTIES)
    if unknown:
        raise PropertyError(
            f"Unknown properties: {', '.join(unknown)}; Custom::LogRetention takes "
            "ServiceArn, RetentionInDays and OnDelete"
        )
    return RetentionSpec(
        service=parse_service_arn(properties.get("ServiceArn")),
        retention_days=parse_retention(properties.get("RetentionInDays")),
        on_delete=parse_on_delete(properties.get("OnDelete")),
    )


def parse_physical_id(value: object) -> Service | None:
    """The service a physical id names, or None for an id this resource never issued."""
    if not isinstance(value, str):
        return None
    match = _PREFIX.match(value)
    return None if match is None else Service(match["name"], match["id"])


def pinned_services(value: str | None) -> tuple[Service, ...]:
    """The stack's services from SERVICE_ARNS; a missing or malformed list is a template error."""
    items = [item.strip() for item in (value or "").split(",") if item.strip()]
    if not items:
        raise PropertyError(
            f"This function is misconfigured: {SERVICE_ARNS_VARIABLE} in its environment must "
            "list the stack's App Runner service ARNs"
        )
    return tuple(parse_service_arn(item, where=SERVICE_ARNS_VARIABLE) for item in items)


def find_pinned(service: Service, pinned: tuple[Service, ...]) -> Service | None:
    """The pinned service with this name and id (and so its region), if it is one."""
    return next((other for other in pinned if service.same_service(other)), None)


def require_pinned(service: Service, pinned: tuple[Service, ...]) -> None:
    if service.arn and not any(service.arn == other.arn for other in pinned):
        raise PropertyError(
            f"ServiceArn {service.arn} is not a service of this stack ({SERVICE_ARNS_VARIABLE}); "
            "refused"
        )


def require_region(service: Service, region: str) -> None:
    """The log groups live in the service's region; the function's role covers its own only."""
    if region and service.region and service.region != region:
        raise PropertyError(
            f"ServiceArn {service.arn} is in {service.region}, but this function manages log "
            f"groups in {region} only"
        )
