"""Lambda entry of Custom::SecretEnvironment: crhelper wiring around `core` and `secrets_manager`.

Create and Update resolve every variable from Secrets Manager (AWSCURRENT), then either write the
values as one JSON document into `TargetSecretArn` and answer App Runner references
(`SecretReference`), or answer the values themselves with NoEcho (`PlainText`). Both answer the
`Fingerprint`. Update keeps the physical id, so it never replaces the resource. Delete changes
nothing: the target secret belongs to the template and CloudFormation deletes it with the stack,
so Delete succeeds for any id, including the one of a failed Create.

Only its own stack: every request first passes the shared guard (`cfn_guard`): a ResponseURL that
is not CloudFormation's gets no answer at all, a request of another stack than STACK_ID gets FAILED.
Which secrets it may read and write is its IAM role's business (the template grants the database
secret and the target secret only), so the resource itself stays general.

Secret safety: crhelper logs the event and the whole response body (the PlainText values) at DEBUG,
so its loggers are held at INFO or above whatever LOG_LEVEL says, botocore's at ERROR, and only our
own exception messages, which hold no values, reach a Reason or a log line.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, Final

import boto3

from cfn_guard import settings
from cfn_guard.resource import custom_resource
from cfn_guard.serve import serve
from secret_environment import core, secrets_manager

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

LOGGER = logging.getLogger(__name__)


# Loggers that would print request or response bodies below these levels.
QUIET_LOGGERS: Final = {"crhelper": logging.INFO, "botocore": logging.ERROR, "boto3": logging.ERROR}
# 3 attempts in all (standard mode backs off up to a few seconds), 3 s to connect, 10 s to read.
# Worst case per call stays well under the function's timeout.
BOTO_CONFIG: Final = settings.retry_config(connect_timeout=3)


def quiet_loggers(level: str) -> None:
    """Hold the loggers that print bodies at a level where they print none."""
    settings.hold_loggers(QUIET_LOGGERS, level)


@cache
def secrets_client() -> SecretsManagerClient:
    """Created on first use and reused while the Lambda environment lives."""
    # Lambda sets AWS_REGION (and AWS_DEFAULT_REGION); boto3 itself reads only the latter.
    region = os.environ.get("AWS_REGION") or None
    return boto3.client("secretsmanager", region_name=region, config=BOTO_CONFIG)


def start_up() -> None:
    quiet_loggers(LOG_LEVEL)
    settings.log_level(os.environ)


try:
    LOG_LEVEL = settings.log_level(os.environ)
except ValueError:
    LOG_LEVEL = "INFO"
helper = custom_resource(LOG_LEVEL, json_logging=False)
try:
    start_up()
except Exception as error:  # crhelper then answers FAILED, with this message, to every request
    helper.init_failure(error)


def handler(event: dict[str, Any], context: Any) -> None:
    """The Lambda handler: the guard admits the request, then crhelper runs it."""
    serve(event, context, _run)


def _run(event: dict[str, Any], context: Any) -> None:
    # NoEcho is crhelper state that outlives a request, so reset it first.
    helper.NoEcho = False
    quiet_loggers(LOG_LEVEL)
    helper(event, context)


@helper.create
@helper.update
def create_or_update(event: dict[str, Any], _context: Any) -> str:
    physical_id = str(
        event.get("PhysicalResourceId")
        or core.physical_id(event["StackId"], event["LogicalResourceId"])
    )
    # crhelper answers a failure with this id too (instead of a random one), so a retried or
    # duplicate Create answers the same id either way.
    helper.PhysicalResourceId = physical_id
    try:
        data, no_echo = resolve(event, physical_id)
    except core.SecretEnvironmentError as failure:
        # crhelper logs this message (safe by construction) and sends it as the Reason.
        raise core.SecretEnvironmentError(core.limit_reason(str(failure))) from None
    except Exception as failure:
        # An unexpected message might quote what it was working on: log where, not what.
        LOGGER.error(  # noqa: TRY400 - exc_info would print the message
            "%s %s failed with %s at\n%s",
            event["RequestType"],
            physical_id,
            type(failure).__name__,
            "".join(traceback.format_tb(failure.__traceback__)),
        )
        raise core.SecretEnvironmentError(
            f"internal error ({type(failure).__name__}); see the function's log"
        ) from None
    helper.NoEcho = no_echo
    helper.Data.update(data)
    return physical_id


def resolve(event: Mapping[str, Any], physical_id: str) -> tuple[dict[str, str], bool]:
    """The response Data and NoEcho for a Create or Update."""
    properties = core.parse_properties(event["ResourceProperties"])
    client = secrets_client()
    reads = secrets_manager.read_secrets(client, core.secret_ids(properties.variables))
    values = core.resolve(properties.variables, reads)
    fingerprint = core.fingerprint(properties.variables, reads)
    names = list(values)

    if properties.delivery == core.SECRET_REFERENCE:
        if properties.target_secret_arn is None:  # parse_properties refuses this already
            raise core.PropertyError("TargetSecretArn is required with Delivery SecretReference")
        target = secrets_manager.write_target(
            client,
            properties.target_secret_arn,
            core.target_document(values),
            (read.arn for read in reads.values()),
        )
        data = {name: core.app_runner_reference(target.arn, name) for name in names}
        data[core.FINGERPRINT_ATTRIBUTE] = fingerprint
        if properties.follow:
            data[core.DEFINITION_ATTRIBUTE] = core.definition(properties)
        LOGGER.info(
            "Resolved %s into %s (%s); fingerprint %s",
            ", ".join(names),
            target.arn,
            "new version" if target.written else "unchanged",
            fingerprint,
        )
        return data, False

    data = {**values, core.FINGERPRINT_ATTRIBUTE: fingerprint}
    size = core.response_size(
        physical_resource_id=physical_id,
        stack_id=event["StackId"],
        request_id=event["RequestId"],
        logical_resource_id=event["LogicalResourceId"],
        data=data,
        no_echo=True,
    )
    core.check_response_size(size, names)
    LOGGER.info(
        "Resolved %s as PlainText (%d-byte response); fingerprint %s",
        ", ".join(names),
        size,
        fingerprint,
    )
    return data, True


@helper.delete
def delete(event: dict[str, Any], _context: Any) -> str:
    physical_id = str(
        event.get("PhysicalResourceId")
        or core.physical_id(event["StackId"], event["LogicalResourceId"])
    )
    LOGGER.info("Delete %s: nothing to remove (the target secret is the template's)", physical_id)
    return physical_id
