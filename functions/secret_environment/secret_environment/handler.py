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
from botocore.config import Config
from crhelper import CfnResource

from cfn_guard.serve import serve
from secret_environment import core, secrets_manager

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

LOGGER = logging.getLogger(__name__)


def _without_polling_clients(**options: Any) -> CfnResource:
    """A CfnResource without the lambda, events and logs clients crhelper makes for its polling
    mode, which this function does not use: they cost tens of milliseconds of every cold start.
    crhelper skips them when AWS_SAM_LOCAL is set, so it is set around the constructor only and
    crhelper's copy of it is restored afterwards."""
    previous = os.environ.get("AWS_SAM_LOCAL")
    os.environ["AWS_SAM_LOCAL"] = "true"
    try:
        resource = CfnResource(**options)
    finally:
        if previous is None:
            del os.environ["AWS_SAM_LOCAL"]
        else:
            os.environ["AWS_SAM_LOCAL"] = previous
    resource._sam_local = previous  # type: ignore[attr-defined]  # crhelper keeps no annotation
    return resource


LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Loggers that would print request or response bodies below these levels.
QUIET_LOGGERS: Final = {"crhelper": logging.INFO, "botocore": logging.ERROR, "boto3": logging.ERROR}
# crhelper waits this long on Delete so CloudWatch Logs can flush; its default is 120 s.
SLEEP_ON_DELETE_SECONDS: Final = 5
# Bounded: 3 attempts in all (standard mode backs off up to a few seconds), 3 s to connect, 10 s to
# read. Worst case per call stays well under the function's timeout.
BOTO_CONFIG: Final = Config(
    retries={"total_max_attempts": 3, "mode": "standard"},
    connect_timeout=3,
    read_timeout=10,
)


def log_level(environ: Mapping[str, str]) -> str:
    """LOG_LEVEL from the environment (INFO when unset); an unknown name is a start-up error."""
    level = environ.get("LOG_LEVEL", "").strip().upper() or "INFO"
    if level not in LOG_LEVELS:
        raise ValueError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
    return level


def quiet_loggers(level: str) -> None:
    """Hold the loggers that print bodies at a level where they print none."""
    for name, floor in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(floor, logging.getLevelNamesMapping()[level]))


@cache
def secrets_client() -> SecretsManagerClient:
    """Created on first use and reused while the Lambda environment lives."""
    # Lambda sets AWS_REGION (and AWS_DEFAULT_REGION); boto3 itself reads only the latter.
    region = os.environ.get("AWS_REGION") or None
    return boto3.client("secretsmanager", region_name=region, config=BOTO_CONFIG)


def start_up() -> None:
    quiet_loggers(LOG_LEVEL)
    log_level(os.environ)


try:
    LOG_LEVEL = log_level(os.environ)
except ValueError:
    LOG_LEVEL = "INFO"
helper = _without_polling_clients(
    json_logging=False,
    log_level=LOG_LEVEL,
    boto_level="ERROR",
    sleep_on_delete=SLEEP_ON_DELETE_SECONDS,
)
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
