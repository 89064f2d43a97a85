"""The rules of the rotation follower, free of AWS and boto3 so they can be tested directly.

The follower (`secret_environment.rotation`) runs when Secrets Manager reports that the database
secret has a new AWSCURRENT version. This module reads its configuration from the environment,
decides whether an event is one it serves (this stack's database secret, AWSCURRENT moved), and
decides per service whether it needs a new deployment: a service whose newest deployment started
after the target secret got its current value already reads that value, so a repeated or late
event deploys nothing twice.

Configuration (environment variables, set by the template):

- `DATABASE_SECRET_ARN`: the only secret whose events it follows.
- `SECRET_ENVIRONMENT_DEFINITION`: `!GetAtt AppEnvironment.Definition`, the Variables and target
  of Custom::SecretEnvironment as that resource validated them (see `core.definition`).
- `APPRUNNER_SERVICE_ARNS`: comma-separated App Runner service ARNs to redeploy (may be empty).
- `ECS_SERVICE_ARNS`: comma-separated ECS service ARNs (the service an Express gateway service
  runs, `arn:<partition>:ecs:<region>:<account>:service/<cluster>/<name>`) to redeploy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from secret_environment.core import DefinitionError, Properties, parse_definition

EVENT_SOURCE: Final = "aws.secretsmanager"
DETAIL_TYPE: Final = "Secret Label Updated"
CURRENT_LABEL: Final = "AWSCURRENT"

DATABASE_SECRET_VARIABLE: Final = "DATABASE_SECRET_ARN"  # noqa: S105 - a variable name
DEFINITION_VARIABLE: Final = "SECRET_ENVIRONMENT_DEFINITION"
APPRUNNER_VARIABLE: Final = "APPRUNNER_SERVICE_ARNS"
ECS_VARIABLE: Final = "ECS_SERVICE_ARNS"

SECRET_ARN: Final = re.compile(
    r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+"
)
APPRUNNER_SERVICE_ARN: Final = re.compile(
    r"arn:aws[a-z-]*:apprunner:[a-z0-9-]+:\d{12}:service/[A-Za-z0-9_-]+/[0-9a-f]{32}"
)
ECS_SERVICE_ARN: Final = re.compile(
    r"arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:service/(?P<cluster>[A-Za-z0-9_-]{1,255})"
    r"/(?P<service>[A-Za-z0-9_-]{1,255})"
)

type Action = Literal["deployed", "already-deployed", "not-running", "failed"]


class ConfigError(ValueError):
    """The follower's environment is wrong (a template mistake); the message names the variable."""


@dataclass(frozen=True)
class Config:
    database_secret_arn: str
    properties: Properties
    apprunner_service_arns: tuple[str, ...] = ()
    ecs_service_arns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Trigger:
    """An event the follower serves: the secret and the version that became AWSCURRENT."""

    secret_arn: str
    version_id: str
    event_id: str


@dataclass(frozen=True)
class Ignored:
    """An event the follower does not serve, and why (logged, nothing else happens)."""

    reason: str


@dataclass(frozen=True)
class ServiceOutcome:
    """What the follower did for one service; `detail` never holds a value."""

    service_arn: str
    action: Action
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.action == "failed"


def arn_list(environ: Mapping[str, str], name: str, pattern: re.Pattern[str]) -> tuple[str, ...]:
    """A comma-separated list of ARNs from the environment (empty or unset: none)."""
    items = [item.strip() for item in environ.get(name, "").split(",") if item.strip()]
    for item in items:
        if not pattern.fullmatch(item):
            raise ConfigError(f"{name} holds {item[:200]!r}, which is not a service ARN")
    if len(set(items)) != len(items):
        raise ConfigError(f"{name} names a service twice")
    return tuple(items)


def config_from_environment(environ: Mapping[str, str]) -> Config:
    """The follower's configuration; ConfigError names the variable that is wrong."""
    secret_arn = environ.get(DATABASE_SECRET_VARIABLE, "").strip()
    if not SECRET_ARN.fullmatch(secret_arn):
        raise ConfigError(f"{DATABASE_SECRET_VARIABLE} must be a Secrets Manager secret ARN")
    try:
        properties = parse_definition(environ.get(DEFINITION_VARIABLE, ""))
    except DefinitionError as error:
        raise ConfigError(f"{DEFINITION_VARIABLE}: {error}") from None
    if secret_arn not in {variable.secret_id for variable in properties.variables}:
        raise ConfigError(
            f"{DATABASE_SECRET_VARIABLE} is not a SecretId of the Variables in "
            f"{DEFINITION_VARIABLE}: a rotation of it would change nothing"
        )
    config = Config(
        database_secret_arn=secret_arn,
        properties=properties,
        apprunner_service_arns=arn_list(environ, APPRUNNER_VARIABLE, APPRUNNER_SERVICE_ARN),
        ecs_service_arns=arn_list(environ, ECS_VARIABLE, ECS_SERVICE_ARN),
    )
    if not config.apprunner_service_arns and not config.ecs_service_arns:
        raise ConfigError(f"neither {APPRUNNER_VARIABLE} nor {ECS_VARIABLE} names a service")
    return config


def _text(value: object, limit: int = 200) -> str:
    return value[:limit] if isinstance(value, str) else f"<{type(value).__name__}>"


def check_event(event: Any, config: Config) -> Trigger | Ignored:  # noqa: PLR0911 - one per rule
    """Whether `event` is a "Secret Label Updated" event for AWSCURRENT of our database secret."""
    if not isinstance(event, Mapping):
        return Ignored("the event is not an object")
    if event.get("source") != EVENT_SOURCE or event.get("detail-type") != DETAIL_TYPE:
        return Ignored(
            f"source {_text(event.get('source'))!r}, detail-type "
            f"{_text(event.get('detail-type'))!r}: not a Secrets Manager label update"
        )
    resources = event.get("resources")
    if not isinstance(resources, list) or not all(isinstance(item, str) for item in resources):
        return Ignored("the event has no list of resources")
    if config.database_secret_arn not in resources:
        named = ", ".join(_text(item) for item in resources[:3]) or "no secret"
        return Ignored(f"the event is for {named}, not this stack's database secret")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        return Ignored("the event has no detail")
    if detail.get("labelUpdated") != CURRENT_LABEL:
        return Ignored(f"label {_text(detail.get('labelUpdated'))!r} moved, not {CURRENT_LABEL}")
    version_id = detail.get("versionId")
    if not isinstance(version_id, str) or not version_id:
        return Ignored("the event names no versionId")
    return Trigger(
        secret_arn=config.database_secret_arn,
        version_id=version_id,
        event_id=_text(event.get("id"), 64),
    )


def ecs_cluster_and_service(service_arn: str) -> tuple[str, str]:
    """(cluster, service name) of an ECS service ARN in the long format."""
    match = ECS_SERVICE_ARN.fullmatch(service_arn)
    if match is None:
        raise ConfigError(f"{service_arn[:200]!r} is not an ECS service ARN")
    return match.group("cluster"), match.group("service")


def needs_deployment(newest_start: datetime | None, value_since: datetime | None) -> bool:
    """True unless the service's newest deployment started after the target got its value.

    `value_since` None means the follower has just written the value: every service needs one.
    """
    if value_since is None or newest_start is None:
        return True
    return newest_start < value_since


def failure_summary(outcomes: list[ServiceOutcome]) -> str:
    """One line for the error that sends the event to the dead-letter queue."""
    failed = [outcome for outcome in outcomes if outcome.failed]
    parts = [f"{outcome.service_arn}: {outcome.detail}" for outcome in failed]
    return f"{len(failed)} of {len(outcomes)} services not redeployed: " + "; ".join(parts)
