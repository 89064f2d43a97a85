"""Which CloudFormation requests a custom-resource function of this stack may serve.

A Lambda function behind a ServiceToken acts for whoever invokes it: anyone allowed to call
`lambda:Invoke`, or to deploy any stack naming the ServiceToken, could otherwise have it resolve
the database password and PUT it to a URL of their choosing, or change subscriptions. So every
function of this stack checks each request before it acts:

1. The ResponseURL must be one of CloudFormation's pre-signed response URLs for the stack's own
   partition and region (HTTPS, the `cloudformation-custom-resource-response-<region without
   dashes>` bucket, in any of the host forms S3 uses). Any other URL gets nothing: the refusal is
   logged and no answer is sent, because sending one would be the leak.
2. The request must come from the stack pinned in the function's environment (`STACK_ID`, set
   from `AWS::StackId` by the template). A request of any other stack is answered FAILED, naming
   the stack that asked and the one the function serves.

The local rehearsal answers to a receiver on loopback; it is admitted only through
`LOCAL_RESPONSE_ORIGIN` (an `https://` origin on a loopback address), which the template never
sets. This module is pure: no boto3, no crhelper.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import SplitResult, urlsplit

STACK_ID_VARIABLE: Final = "STACK_ID"
LOCAL_RESPONSE_ORIGIN_VARIABLE: Final = "LOCAL_RESPONSE_ORIGIN"

_STACK_ARN: Final = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):cloudformation:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d):"
    r"\d{12}:stack/[A-Za-z][A-Za-z0-9-]{0,127}/[0-9a-f-]{36}$"
)
_REGION: Final = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d$")
# The DNS suffix of S3 endpoints in each partition.
_DNS_SUFFIX: Final = {
    "aws": "amazonaws.com",
    "aws-us-gov": "amazonaws.com",
    "aws-cn": "amazonaws.com.cn",
    "aws-iso": "c2s.ic.gov",
    "aws-iso-b": "sc2s.sgov.gov",
}
_MAX_REASON: Final = 400
_MAX_LOGGED_URL: Final = 200


class GuardConfigError(ValueError):
    """The function's own environment is wrong (a template mistake, not a bad request)."""


@dataclass(frozen=True)
class Pins:
    """What the template pinned: the stack served, its partition and region, and (locally only)
    the rehearsal's response origin. `problem` says what is wrong with the environment, if
    anything; such a function refuses every request."""

    stack_id: str
    partition: str
    region: str
    local_origin: SplitResult | None = None
    problem: str | None = None


@dataclass(frozen=True)
class Verdict:
    """`refusal` None: serve the request. Otherwise `send` says whether a FAILED answer with
    `refusal` as Reason may go to the ResponseURL (False: log it and send nothing)."""

    send: bool
    refusal: str | None = None


def _partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    if region.startswith("us-iso-"):
        return "aws-iso"
    return "aws"


def _local_origin(value: str) -> SplitResult:
    try:
        origin = urlsplit(value.strip())
        port = origin.port
        host = ipaddress.ip_address(origin.hostname or "")
    except ValueError:
        raise GuardConfigError(
            f"{LOCAL_RESPONSE_ORIGIN_VARIABLE} must be https://<loopback address>:<port>"
        ) from None
    if (
        origin.scheme != "https"
        or not host.is_loopback
        or port is None
        or origin.username is not None
        or origin.path not in ("", "/")
        or origin.query
        or origin.fragment
    ):
        raise GuardConfigError(
            f"{LOCAL_RESPONSE_ORIGIN_VARIABLE} must be https://<loopback address>:<port>"
        )
    return origin


def pins_from_environment(environ: Mapping[str, str]) -> Pins:
    """The pins from the function's environment; never raises (a problem is carried in Pins)."""
    stack_id = environ.get(STACK_ID_VARIABLE, "").strip()
    match = _STACK_ARN.match(stack_id)
    problem: str | None = None
    if match is not None:
        partition, region = match.group("partition"), match.group("region")
    else:
        region = environ.get("AWS_REGION", "").strip()
        region = region if _REGION.match(region) else ""
        partition = _partition_of(region)
        problem = f"{STACK_ID_VARIABLE} in its environment is not a CloudFormation stack ARN"
    if partition not in _DNS_SUFFIX and problem is None:
        problem = f"partition {partition} is not one this function knows"
    local: SplitResult | None = None
    raw_local = environ.get(LOCAL_RESPONSE_ORIGIN_VARIABLE, "")
    if raw_local.strip():
        try:
            local = _local_origin(raw_local)
        except GuardConfigError as error:
            problem = problem or str(error)
    return Pins(stack_id, partition, region, local, problem)


def _response_hosts(partition: str, region: str) -> tuple[frozenset[str], frozenset[str], str]:
    """(virtual-hosted bucket hosts, path-style S3 hosts, bucket) for CloudFormation's responses."""
    suffix = _DNS_SUFFIX.get(partition)
    if suffix is None or not region:
        return frozenset(), frozenset(), ""
    bucket = f"cloudformation-custom-resource-response-{region.replace('-', '')}"
    endpoints = (
        f"s3.{suffix}",
        f"s3-{region}.{suffix}",
        f"s3.{region}.{suffix}",
        f"s3.dualstack.{region}.{suffix}",
    )
    return frozenset(f"{bucket}.{e}" for e in endpoints), frozenset(endpoints), bucket


def is_response_url(url: object, pins: Pins) -> bool:  # noqa: PLR0911 - one return per rule
    """True for a pre-signed CloudFormation response URL of the pinned partition and region, or
    for a URL under the explicitly configured local origin."""
    if not isinstance(url, str) or len(url) > 8192:
        return False
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme != "https" or parts.username is not None or parts.password is not None:
        return False
    host = (parts.hostname or "").lower()
    if pins.local_origin is not None:
        local = pins.local_origin
        if host == (local.hostname or "").lower() and port == local.port:
            return parts.path.startswith("/")
    if port not in (None, 443) or not parts.path.startswith("/") or "@" in parts.netloc:
        return False
    virtual, path_style, bucket = _response_hosts(pins.partition, pins.region)
    if host in virtual:
        return len(parts.path) > 1
    if host in path_style:
        return parts.path.startswith(f"/{bucket}/") and len(parts.path) > len(bucket) + 2
    return False


def redact_url(url: object) -> str:
    """A URL for a log line or Reason: scheme, host and path only (no query, no credentials),
    capped in length."""
    if not isinstance(url, str):
        return f"<{type(url).__name__}>"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparseable URL>"
    text = f"{parts.scheme}://{host}{port}{parts.path}"
    if len(text) > _MAX_LOGGED_URL:
        text = text[: _MAX_LOGGED_URL - 3] + "..."
    return text


def _cap(text: str) -> str:
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."


def _quoted(value: object) -> str:
    if not isinstance(value, str):
        return f"<{type(value).__name__}>"
    return repr(value[:200] + ("..." if len(value) > 200 else ""))


def check_request(event: Any, pins: Pins) -> Verdict:
    """Decide whether this function may serve `event`, and whether it may answer at all."""
    if not isinstance(event, Mapping):
        return Verdict(send=False, refusal="the event is not a CloudFormation request object")
    url = event.get("ResponseURL")
    if not is_response_url(url, pins):
        where = f"{pins.partition} {pins.region}" if pins.region else "its partition and region"
        return Verdict(
            send=False,
            refusal=_cap(
                f"ResponseURL {redact_url(url)} is not a CloudFormation response URL of "
                f"{where}; nothing was done and no answer was sent"
            ),
        )
    if pins.problem is not None:
        return Verdict(send=True, refusal=_cap(f"This function is misconfigured: {pins.problem}"))
    stack_id = event.get("StackId")
    if stack_id != pins.stack_id:
        return Verdict(
            send=True,
            refusal=_cap(
                f"Refused a request from stack {_quoted(stack_id)}: this function serves only "
                f"stack {pins.stack_id}"
            ),
        )
    return Verdict(send=True)
