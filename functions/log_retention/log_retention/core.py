"""Parses and validates Custom::LogRetention properties and names the log groups it manages.

Some AWS services create the log groups of a stack's resources themselves, without retention, so
CloudFormation cannot own them: App Runner writes each service's logs to
`/aws/apprunner/<service-name>/<service-id>/service` (service events, deployments) and
`.../application` (the container's stdout and stderr); Aurora exports a cluster's logs to
`/aws/rds/cluster/<cluster-id>/<log type>` (here `postgresql`). Their names exist only once the
resource does. Custom::LogRetention sets their retention after the resource exists. Pure on
purpose (no boto3, no crhelper): every rule that can refuse a template is here.

- Create: `parse_properties` yields a `RetentionSpec` from the resource's ARN (`ResourceArn`: an
  App Runner service `arn:<partition>:apprunner:<region>:<account>:service/<name>/<id>`, or an
  Aurora cluster `arn:<partition>:rds:<region>:<account>:cluster:<id>` with its `LogTypes`). The
  physical id is the groups' common prefix (`/aws/apprunner/<name>/<id>`, `/aws/rds/cluster/<id>`),
  so it changes exactly when the resource does.
- Update: the same; a replaced resource has a new id, hence a new physical id, and CloudFormation
  then sends a Delete for the old one.
- Delete: `parse_physical_id` recovers the resource from the physical id; an id this resource never
  issued (a failed Create) names nothing. The groups are deleted only with `OnDelete: Delete`.

Only the stack's own resources: the function's environment pins their ARNs (`RESOURCE_ARNS`, comma
separated); a ResourceArn that is not one of them is refused, and a Delete for a resource that is
no longer one of them (the old one after a replacement) leaves its log groups alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from cfn_guard.aws import PARTITION, REGION

RESOURCE_ARNS_VARIABLE: Final = "RESOURCE_ARNS"
APP_RUNNER_LOG_TYPES: Final = ("service", "application")
# The values CloudWatch Logs' PutRetentionPolicy accepts.
RETENTION_DAYS: Final = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731}
    | {1096, 1827, 2192, 2557, 2922, 3288, 3653}
)
KNOWN_PROPERTIES: Final = frozenset(
    {"ServiceToken", "ServiceTimeout", "ResourceArn", "RetentionInDays", "OnDelete", "LogTypes"}
)
MAX_LOG_TYPES: Final = 8

# App Runner service names: 4-40 characters, letters, digits, hyphens and underscores; ids: 32 hex.
_SERVICE_NAME = r"[A-Za-z0-9][A-Za-z0-9_-]{3,39}"
_SERVICE_ID = r"[0-9a-f]{32}"
# Aurora cluster identifiers: 1-63 lowercase letters, digits and hyphens, starting with a letter.
_CLUSTER_ID = r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?"
_APP_RUNNER_ARN: Final = re.compile(
    rf"^arn:{PARTITION}:apprunner:(?P<region>{REGION}):\d{{12}}:"
    rf"service/(?P<name>{_SERVICE_NAME})/(?P<id>{_SERVICE_ID})$"
)
_CLUSTER_ARN: Final = re.compile(
    rf"^arn:{PARTITION}:rds:(?P<region>{REGION}):\d{{12}}:cluster:(?P<name>{_CLUSTER_ID})$"
)
_APP_RUNNER_PREFIX: Final = re.compile(
    rf"^/aws/apprunner/(?P<name>{_SERVICE_NAME})/(?P<id>{_SERVICE_ID})$"
)
_CLUSTER_PREFIX: Final = re.compile(rf"^/aws/rds/cluster/(?P<name>{_CLUSTER_ID})$")
_LOG_TYPE: Final = re.compile(r"^[a-z][a-z0-9-]{0,39}$")

Kind = Literal["apprunner", "rds"]
OnDelete = Literal["Retain", "Delete"]


class PropertyError(ValueError):
    """A property (or the function's pinned environment) is wrong; the message is the Reason
    (at most 256 characters, or crhelper keeps only its end)."""


@dataclass(frozen=True)
class Owner:
    """The resource whose log groups an AWS service creates: an App Runner service (name and id)
    or an Aurora cluster (its identifier as `name`)."""

    kind: Kind
    name: str
    owner_id: str = ""
    region: str = ""
    arn: str = ""

    @property
    def prefix(self) -> str:
        """The log groups' common prefix, which is also the resource's physical id."""
        if self.kind == "apprunner":
            return f"/aws/apprunner/{self.name}/{self.owner_id}"
        return f"/aws/rds/cluster/{self.name}"

    def log_groups(self, log_types: Sequence[str]) -> dict[str, str]:
        """{log type: log group name}, e.g. {"service": ..., "application": ...}."""
        return {kind: f"{self.prefix}/{kind}" for kind in log_types}

    def same_owner(self, other: Owner) -> bool:
        return (self.kind, self.name, self.owner_id) == (other.kind, other.name, other.owner_id)


@dataclass(frozen=True)
class RetentionSpec:
    """What the template asks for, validated."""

    owner: Owner
    log_types: tuple[str, ...]
    retention_days: int
    on_delete: OnDelete = "Retain"

    @property
    def physical_id(self) -> str:
        return self.owner.prefix

    @property
    def log_groups(self) -> dict[str, str]:
        return self.owner.log_groups(self.log_types)

    def data(self) -> dict[str, str]:
        """What `!GetAtt` can read: `<LogType>LogGroup` for each group, e.g. ApplicationLogGroup."""
        return {
            f"{kind.replace('-', ' ').title().replace(' ', '')}LogGroup": group
            for kind, group in self.log_groups.items()
        }


def parse_resource_arn(value: object, where: str = "ResourceArn") -> Owner:
    if value in (None, ""):
        raise PropertyError(
            f"{where} is required: an App Runner service ARN (!GetAtt ApiService.ServiceArn) or "
            "an Aurora cluster ARN (!GetAtt DatabaseCluster.DBClusterArn)"
        )
    if not isinstance(value, str):
        raise PropertyError(f"{where} must be a string, got {type(value).__name__}")
    text = value.strip()
    if match := _APP_RUNNER_ARN.match(text):
        return Owner("apprunner", match["name"], match["id"], match["region"], text)
    if match := _CLUSTER_ARN.match(text):
        return Owner("rds", match["name"], "", match["region"], text)
    raise PropertyError(
        f"{where} {value[:100]!r} is neither an App Runner service ARN "
        "(...:apprunner:<region>:<account>:service/<name>/<id>) nor an Aurora cluster ARN "
        "(...:rds:<region>:<account>:cluster:<id>)"
    )


def parse_log_types(value: object, owner: Owner) -> tuple[str, ...]:
    """App Runner's two groups are fixed; an Aurora cluster names the logs it exports."""
    if owner.kind == "apprunner":
        if value not in (None, "", []):
            raise PropertyError(
                "LogTypes is for Aurora clusters; an App Runner service always has its service "
                "and application log groups"
            )
        return APP_RUNNER_LOG_TYPES
    if not isinstance(value, list) or not value:
        raise PropertyError(
            "LogTypes is required for an Aurora cluster: the logs it exports "
            "(EnableCloudwatchLogsExports, e.g. [postgresql])"
        )
    if len(value) > MAX_LOG_TYPES:
        raise PropertyError(f"LogTypes has {len(value)} entries; at most {MAX_LOG_TYPES}")
    types: list[str] = []
    for item in value:
        if not isinstance(item, str) or not _LOG_TYPE.match(item):
            raise PropertyError(f"LogTypes entry {str(item)[:50]!r} is not a log type name")
        if item in types:
            raise PropertyError(f"LogTypes names {item} twice")
        types.append(item)
    return tuple(types)


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
            "ResourceArn, RetentionInDays, OnDelete and (Aurora) LogTypes"
        )
    owner = parse_resource_arn(properties.get("ResourceArn"))
    return RetentionSpec(
        owner=owner,
        log_types=parse_log_types(properties.get("LogTypes"), owner),
        retention_days=parse_retention(properties.get("RetentionInDays")),
        on_delete=parse_on_delete(properties.get("OnDelete")),
    )


def parse_physical_id(value: object) -> Owner | None:
    """The resource a physical id names, or None for an id this resource never issued."""
    if not isinstance(value, str):
        return None
    if match := _APP_RUNNER_PREFIX.match(value):
        return Owner("apprunner", match["name"], match["id"])
    if match := _CLUSTER_PREFIX.match(value):
        return Owner("rds", match["name"])
    return None


def pinned_resources(value: str | None) -> tuple[Owner, ...]:
    """The stack's resources from RESOURCE_ARNS; a missing or malformed list is a template error."""
    items = [item.strip() for item in (value or "").split(",") if item.strip()]
    if not items:
        raise PropertyError(
            f"This function is misconfigured: {RESOURCE_ARNS_VARIABLE} in its environment must "
            "list the ARNs of the stack's resources whose log groups it manages"
        )
    return tuple(parse_resource_arn(item, where=RESOURCE_ARNS_VARIABLE) for item in items)


def find_pinned(owner: Owner, pinned: tuple[Owner, ...]) -> Owner | None:
    """The pinned resource with this kind, name and id (and so its region), if it is one."""
    return next((other for other in pinned if owner.same_owner(other)), None)


def require_pinned(owner: Owner, pinned: tuple[Owner, ...]) -> None:
    if not any(owner.arn == other.arn for other in pinned):
        raise PropertyError(
            f"ResourceArn {owner.arn} is not a resource of this stack "
            f"({RESOURCE_ARNS_VARIABLE}); refused"
        )


def require_region(owner: Owner, region: str) -> None:
    """The log groups live in the resource's region; the function's role covers its own only."""
    if region and owner.region and owner.region != region:
        raise PropertyError(
            f"ResourceArn {owner.arn} is in {owner.region}, but this function manages log "
            f"groups in {region} only"
        )
