"""Lambda entry of the rotation follower: a database rotation, followed into the running services.

EventBridge invokes it (asynchronously) with Secrets Manager's "Secret Label Updated" event when a
new version of the database secret becomes AWSCURRENT, i.e. when a rotation succeeded. It then

1. checks that the event is for this stack's database secret (`DATABASE_SECRET_ARN`) and for
   AWSCURRENT; anything else is logged and ignored (it returns without any AWS call);
2. resolves the Variables of Custom::SecretEnvironment again with the same code
   (`core.resolve`, `secrets_manager.read_secrets`), from the definition AppEnvironment answered
   (`SECRET_ENVIRONMENT_DEFINITION`), and writes the target secret, which gets a new version only
   when the document differs;
3. starts one new deployment of every App Runner and ECS service whose newest deployment started
   before the target got its value (`deployments`), so new instances read the new DATABASE_URL.

Idempotent: a repeated event finds the target unchanged and every service deployed after the value
was written, so it writes and deploys nothing. What fails (a Secrets Manager error, a service that
could not be redeployed) raises, after the clients' bounded retries: Lambda retries the event twice
and then sends it, with the error, to the on-failure destination (the follower's dead-letter queue,
which has an alarm). Only identifiers, version ids and error codes are logged, never a value.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, Final

import boto3

from cfn_guard import settings
from secret_environment import core, deployments, follow, secrets_manager

if TYPE_CHECKING:
    from mypy_boto3_apprunner import AppRunnerClient
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

LOGGER = logging.getLogger(__name__)

QUIET_LOGGERS: Final = {"botocore": logging.ERROR, "boto3": logging.ERROR, "urllib3": logging.ERROR}
# 4 attempts in all with standard mode's backoff (throttling, 5xx, timeouts), 3 s to connect, 10 s
# to read. Lambda's two asynchronous retries come on top, minutes apart.
BOTO_CONFIG: Final = settings.retry_config(connect_timeout=3, attempts=4)


class FollowError(Exception):
    """The rotation was not followed everywhere; the message (no value) says where and why."""


def _region() -> str | None:
    # Lambda sets AWS_REGION (and AWS_DEFAULT_REGION); boto3 itself reads only the latter.
    return os.environ.get("AWS_REGION") or None


@cache
def secrets_client() -> SecretsManagerClient:
    return boto3.client("secretsmanager", region_name=_region(), config=BOTO_CONFIG)


@cache
def apprunner_client() -> AppRunnerClient:
    return boto3.client("apprunner", region_name=_region(), config=BOTO_CONFIG)


@cache
def ecs_client() -> ECSClient:
    return boto3.client("ecs", region_name=_region(), config=BOTO_CONFIG)


def configure_logging(environ: Mapping[str, str]) -> None:
    # Not a custom resource: an unknown LOG_LEVEL has no answer to fail, so INFO it is.
    try:
        level = settings.log_level(environ)
    except ValueError:
        level = "INFO"
    logging.getLogger().setLevel(level)
    settings.hold_loggers(QUIET_LOGGERS, level)


def handler(event: Any, context: Any) -> dict[str, Any]:  # noqa: ARG001 - Lambda's signature
    """The Lambda handler: follow one rotation event; raise when a part could not be done."""
    configure_logging(os.environ)
    try:
        config = follow.config_from_environment(os.environ)
    except follow.ConfigError as error:
        LOGGER.error("The follower is misconfigured: %s", error)  # noqa: TRY400 - no traceback
        raise FollowError(f"the follower is misconfigured: {error}") from None
    return follow_rotation(event, config, sleep=time.sleep)


def follow_rotation(
    event: Any,
    config: follow.Config,
    *,
    sleep: Callable[[float], None],
    secrets: SecretsManagerClient | None = None,
    apprunner: AppRunnerClient | None = None,
    ecs: ECSClient | None = None,
) -> dict[str, Any]:
    """Steps 1-3 of the module docstring; returns what was done, per service."""
    verdict = follow.check_event(event, config)
    if isinstance(verdict, follow.Ignored):
        LOGGER.warning("Ignored an event: %s", verdict.reason)
        return {"status": "ignored", "reason": verdict.reason}
    LOGGER.info(
        "Following version %s of %s (event %s)",
        verdict.version_id,
        verdict.secret_arn,
        verdict.event_id,
    )
    secrets = secrets or secrets_client()
    properties = config.properties
    if properties.target_secret_arn is None:  # parse_definition refuses this already
        raise FollowError("the definition names no TargetSecretArn")
    try:
        reads = secrets_manager.read_secrets(secrets, core.secret_ids(properties.variables))
        values = core.resolve(properties.variables, reads)
        target = secrets_manager.write_target(
            secrets,
            properties.target_secret_arn,
            core.target_document(values),
            (read.arn for read in reads.values()),
        )
    except core.SecretEnvironmentError as error:
        LOGGER.error("Could not resolve the environment: %s", error)  # noqa: TRY400
        raise FollowError(f"could not resolve the environment: {error}") from None
    database_read = reads.get(config.database_secret_arn)
    if database_read is not None and database_read.version_id != verdict.version_id:
        # A later rotation (or a put) came first: its value is the current one, and is followed.
        LOGGER.info(
            "The event named version %s; version %s is current now and was resolved",
            verdict.version_id,
            database_read.version_id,
        )
    LOGGER.info(
        "Target %s: %s (version %s)",
        target.arn,
        "new version written" if target.written else "already holds these values",
        target.version_id,
    )
    value_since = None if target.written else target.created
    outcomes: list[follow.ServiceOutcome] = []
    for arn in config.apprunner_service_arns:
        outcomes.append(
            deployments.redeploy_app_runner(
                apprunner or apprunner_client(), arn, value_since, sleep=sleep
            )
        )
    for arn in config.ecs_service_arns:
        outcomes.append(deployments.redeploy_ecs(ecs or ecs_client(), arn, value_since))
    for outcome in outcomes:
        log = LOGGER.error if outcome.failed else LOGGER.info
        log("%s: %s (%s)", outcome.service_arn, outcome.action, outcome.detail)
    result = {
        "status": "failed" if any(outcome.failed for outcome in outcomes) else "followed",
        "target_version": target.version_id,
        "target_written": target.written,
        "services": {outcome.service_arn: outcome.action for outcome in outcomes},
    }
    if result["status"] == "failed":
        raise FollowError(follow.failure_summary(outcomes))
    return result
