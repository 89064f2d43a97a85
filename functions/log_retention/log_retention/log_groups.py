"""The CloudWatch Logs calls behind Custom::LogRetention; each takes the client as an argument.

Errors become `LogGroupError` with a Reason for the person reading stack events: which call on
which log group failed, and what to do about it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient

logger = logging.getLogger(__name__)

_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
_THROTTLED = frozenset({"Throttling", "ThrottlingException", "ServiceUnavailableException"})
# Someone else (App Runner itself) made the group first, or is making it right now.
_ALREADY_THERE = frozenset({"ResourceAlreadyExistsException", "OperationAbortedException"})
_NOT_FOUND = "ResourceNotFoundException"


class LogGroupError(RuntimeError):
    """A CloudWatch Logs call failed; the message is the Reason CloudFormation shows."""


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _explain(error: Exception, action: str, group: str) -> LogGroupError:
    logger.warning("logs:%s on %s failed: %s", action, group, error)
    if isinstance(error, ClientError):
        code = _code(error)
        # crhelper keeps only the last 240 characters of a longer Reason.
        message = str(error.response.get("Error", {}).get("Message", ""))[:60]
        if code in _DENIED:
            return LogGroupError(
                f"Access denied: the function's role may not call logs:{action} on log group "
                f"{group}; grant it in the template"
            )
        if code in _THROTTLED:
            return LogGroupError(
                f"CloudWatch Logs refused logs:{action} on {group} ({code}: {message}); "
                "retry the deploy"
            )
        return LogGroupError(f"logs:{action} on {group} failed: {code}: {message}")
    return LogGroupError(
        f"logs:{action} on {group} failed: {type(error).__name__}: {str(error)[:60]}"
    )


def apply_retention(client: CloudWatchLogsClient, group: str, days: int) -> bool:
    """Make sure `group` exists and keeps its events `days` days; True if this call created it."""
    created = True
    try:
        client.create_log_group(logGroupName=group)
    except ClientError as error:
        if _code(error) not in _ALREADY_THERE:
            raise _explain(error, "CreateLogGroup", group) from None
        created = False
    except BotoCoreError as error:
        raise _explain(error, "CreateLogGroup", group) from None
    try:
        client.put_retention_policy(logGroupName=group, retentionInDays=days)
    except (ClientError, BotoCoreError) as error:
        raise _explain(error, "PutRetentionPolicy", group) from None
    logger.info("%s: retention %d days (%s)", group, days, "created" if created else "existed")
    return created


def delete_log_group(client: CloudWatchLogsClient, group: str) -> bool:
    """Delete `group`; False if it was already gone."""
    try:
        client.delete_log_group(logGroupName=group)
    except ClientError as error:
        if _code(error) == _NOT_FOUND:
            logger.info("%s was already deleted", group)
            return False
        raise _explain(error, "DeleteLogGroup", group) from None
    except BotoCoreError as error:
        raise _explain(error, "DeleteLogGroup", group) from None
    logger.info("%s deleted", group)
    return True
