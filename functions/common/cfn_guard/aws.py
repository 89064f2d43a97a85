"""AWS names and error codes that more than one function of this stack reads the same way.

- ARNs: the partition and region patterns, and the SNS topic ARN (Custom::HttpsSubscription and
  Custom::JobRun both take the job topic, and read its region and account from it).
- Error codes: a ClientError's code, and the codes that mean "access denied" or "throttled"
  across the SNS and SQS APIs. Each function words its own Reason from them; what a function
  treats as "not found" is its own business (it differs per call).

Pure on purpose (no boto3 at run time), so the functions' pure `core` modules may use it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

PARTITION: Final = r"aws(?:-cn|-us-gov|-iso(?:-[a-z])?|-eusc)?"
REGION: Final = r"[a-z]{2}(?:-[a-z]+)+-\d+"
TOPIC_ARN: Final = re.compile(
    rf"^arn:(?P<partition>{PARTITION}):sns:(?P<region>{REGION}):(?P<account>\d{{12}}):"
    r"(?P<name>[A-Za-z0-9_-]{1,256})$"
)

ACCESS_DENIED_CODES: Final = frozenset(
    {"AuthorizationError", "AuthorizationErrorException", "AccessDenied", "AccessDeniedException"}
)
THROTTLED_CODES: Final = frozenset(
    {"Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException"}
)


def topic_region(topic_arn: str) -> str:
    """The region of an SNS topic ARN; ValueError for anything else."""
    match = TOPIC_ARN.match(topic_arn)
    if match is None:
        raise ValueError(f"{topic_arn!r} is not an SNS topic ARN")
    return match.group("region")


def error_code(error: ClientError) -> str:
    """The error code AWS answered ("" when the answer carries none)."""
    return str(error.response.get("Error", {}).get("Code", ""))
