"""Lambda entry for Custom::LogRetention: crhelper wiring around `core` and `log_groups`.

- Create: the resource (an App Runner service, or an Aurora cluster with its LogTypes) must be one
  of this stack's (RESOURCE_ARNS); each of its log groups is created if the service that writes it
  has not made it yet, then given `RetentionInDays`. SUCCESS carries the groups' common prefix as
  physical id (`/aws/apprunner/<name>/<id>`, `/aws/rds/cluster/<id>`) and `Data` with
  `<LogType>LogGroup` for each group (ServiceLogGroup, ApplicationLogGroup, PostgresqlLogGroup).
- Update: the same for the new properties. A replaced resource (new id) gets a new physical id,
  and CloudFormation then sends a Delete for the old one; a new RetentionInDays is applied in place.
- Delete: with `OnDelete: Delete`, the groups are deleted (a group already gone is fine); with
  `Retain` (the default) nothing changes, so the logs outlive a failed deploy for diagnosis and
  expire with their retention. A Delete for a resource that is no longer one of this stack's (the
  old one after a replacement: its ARN has left RESOURCE_ARNS, and so has the role's grant) or
  for an id this resource never issued (a failed Create) changes nothing and succeeds.

Every step is idempotent, so a duplicated invocation makes the same groups with the same retention.
Only its own stack: every request first passes the shared guard (`cfn_guard`: CloudFormation's
response URL, the stack pinned in STACK_ID). Its IAM role covers exactly the log groups of the
stack's current resources.

Environment: STACK_ID and RESOURCE_ARNS (from the template), LOG_LEVEL (INFO).
"""

from __future__ import annotations

import logging
import os
from functools import cache
from typing import TYPE_CHECKING, Any, Final

import boto3

from cfn_guard.resource import custom_resource
from cfn_guard.serve import serve
from cfn_guard.settings import log_level, retry_config
from log_retention import core, log_groups

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient

logger = logging.getLogger(__name__)


RETRY_CONFIG: Final = retry_config()

_init_error: Exception | None = None
try:
    LOG_LEVEL = log_level(os.environ)
except ValueError as error:
    _init_error = error
    LOG_LEVEL = "INFO"

helper = custom_resource(LOG_LEVEL, init_error=_init_error)


@cache
def get_client(region: str) -> CloudWatchLogsClient:
    """One CloudWatch Logs client per region (the resource's), created on first use."""
    client: CloudWatchLogsClient = boto3.client("logs", region_name=region, config=RETRY_CONFIG)
    return client


def _pinned() -> tuple[core.Owner, ...]:
    return core.pinned_resources(os.environ.get(core.RESOURCE_ARNS_VARIABLE))


def _apply(event: dict[str, Any], *, on_create: bool) -> core.RetentionSpec:
    spec = core.parse_properties(event.get("ResourceProperties") or {})
    core.require_pinned(spec.owner, _pinned())
    core.require_region(spec.owner, os.environ.get("AWS_REGION", ""))
    if on_create:
        # Kept on FAILED too (crhelper sends this id when the handler raises), so the Delete
        # that follows a failed Create knows which groups it may have made.
        helper.PhysicalResourceId = spec.physical_id
    client = get_client(spec.owner.region)
    for group in spec.log_groups.values():
        log_groups.apply_retention(client, group, spec.retention_days)
    helper.Data.update(spec.data())
    return spec


@helper.create
def create(event: dict[str, Any], _context: Any) -> str:
    spec = _apply(event, on_create=True)
    return spec.physical_id


@helper.update
def update(event: dict[str, Any], _context: Any) -> str:
    spec = _apply(event, on_create=False)
    if spec.physical_id != event.get("PhysicalResourceId"):
        logger.info(
            "Resource changed from %s to %s: CloudFormation deletes the old one next",
            event.get("PhysicalResourceId"),
            spec.physical_id,
        )
    return spec.physical_id


@helper.delete
def delete(event: dict[str, Any], _context: Any) -> None:
    physical_id = event.get("PhysicalResourceId")
    owner = core.parse_physical_id(physical_id)
    if owner is None:
        logger.info("Physical id %r names no resource (failed Create): nothing to do", physical_id)
        return
    properties = event.get("ResourceProperties") or {}
    try:
        on_delete = core.parse_on_delete(properties.get("OnDelete"))
        log_types = core.parse_log_types(properties.get("LogTypes"), owner)
    except core.PropertyError as error:
        logger.warning("%s: keeping the log groups under %s", error, owner.prefix)
        return
    if on_delete == "Retain":
        logger.info(
            "OnDelete Retain: the log groups under %s stay (with their retention)", physical_id
        )
        return
    pinned = core.find_pinned(owner, _pinned())
    if pinned is None:
        logger.info(
            "%s is no longer a resource of this stack (replaced): its log groups stay and expire "
            "with their retention",
            owner.prefix,
        )
        return
    client = get_client(pinned.region)
    for group in owner.log_groups(log_types).values():
        log_groups.delete_log_group(client, group)


def handler(event: dict[str, Any], context: Any) -> None:
    """Lambda entry point: the guard admits the request, then crhelper answers CloudFormation,
    FAILED with the error as Reason."""
    serve(event, context, helper)


__all__ = ["handler"]
