"""Parses and validates Custom::HttpsSubscription properties and plans what an event must change.

Pure on purpose (no boto3, no crhelper): every rule that can refuse a template is here, so it is
checked before any AWS call and tested without AWS.

- Create: `parse_properties` yields a `SubscriptionSpec`: the topic, the endpoint, the wait, and the
  subscription attributes SNS should get with `Subscribe`.
- Update: `plan_update` decides between replacement (the topic or the endpoint changed: a new
  subscription, a new physical id; CloudFormation then deletes the old one) and an in-place
  change, listing the `SetSubscriptionAttributes` calls in a safe order, including resets for
  attributes that were taken out of the template.
- Delete needs no properties: `is_subscription_arn` tells a subscription ARN from an id this
  resource never issued (after a failed Create, CloudFormation sends whatever id the failure
  response carried).

CloudFormation passes every scalar of a custom resource's properties as a string ("3", "true"), so
numbers and booleans are parsed here, and JSON policies may arrive as objects or as JSON strings.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from cfn_guard.aws import PARTITION, REGION, TOPIC_ARN, topic_region

DEFAULT_CONFIRMATION_TIMEOUT: Final = 600
MIN_CONFIRMATION_TIMEOUT: Final = 10
MAX_CONFIRMATION_TIMEOUT: Final = 3600
# The response must reach CloudFormation before ServiceTimeout ends.
SERVICE_TIMEOUT_MARGIN: Final = 30
MAX_TOTAL_RETRY_SECONDS: Final = 3600
MAX_REASON: Final = 256
PENDING_EXPIRY_HOURS: Final = 48

_SUBSCRIPTION_RE: Final = re.compile(
    rf"^(?P<topic>arn:{PARTITION}:sns:{REGION}:\d{{12}}:[A-Za-z0-9_-]{{1,256}}):"
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_QUEUE_RE: Final = re.compile(
    rf"^arn:(?P<partition>{PARTITION}):sqs:(?P<region>{REGION}):(?P<account>\d{{12}}):"
    r"(?P<name>[A-Za-z0-9_-]{1,80})$"
)
_HOST_RE: Final = re.compile(r"^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$")

# Attribute names this resource manages on a subscription, in the order Subscribe sends them.
MANAGED_ATTRIBUTES: Final = ("DeliveryPolicy", "RedrivePolicy", "FilterPolicy", "FilterPolicyScope")
# What SetSubscriptionAttributes takes to take an attribute out again. None means "send no
# AttributeValue": SNS refuses an empty string for RedrivePolicy; an empty object removes a
# filter policy (and SNS then drops its scope); an empty string removes a delivery policy.
RESET_VALUES: Final[Mapping[str, str | None]] = {
    "DeliveryPolicy": "",
    "RedrivePolicy": None,
    "FilterPolicy": "{}",
}

KNOWN_PROPERTIES: Final = frozenset(
    {
        "ServiceToken",
        "ServiceTimeout",
        "TopicArn",
        "Endpoint",
        "AllowInsecureEndpoint",
        "ConfirmationTimeoutSeconds",
        "DeliveryPolicy",
        "RedrivePolicy",
        "FilterPolicy",
        "FilterPolicyScope",
        "RawMessageDelivery",
    }
)

_BACKOFF_FUNCTIONS: Final = frozenset({"arithmetic", "exponential", "geometric", "linear"})
_RETRY_KEYS: Final = frozenset(
    {
        "minDelayTarget",
        "maxDelayTarget",
        "numRetries",
        "numNoDelayRetries",
        "numMinDelayRetries",
        "numMaxDelayRetries",
        "backoffFunction",
    }
)
_CONTENT_TYPES: Final = frozenset(
    {"text/plain", "text/plain; charset=UTF-8", "application/json", "application/xml"}
)
_FILTER_SCOPES: Final = frozenset({"MessageAttributes", "MessageBody"})
_MAX_FILTER_KEYS: Final = 5


class PropertyError(ValueError):
    """A property is missing or invalid; the message is the Reason CloudFormation shows."""


@dataclass(frozen=True)
class SubscriptionSpec:
    """What the template asks for, validated and normalised."""

    topic_arn: str
    endpoint: str
    protocol: str
    confirmation_timeout: int
    attributes: Mapping[str, str] = field(default_factory=dict)

    @property
    def region(self) -> str:
        return topic_region(self.topic_arn)

    @property
    def endpoint_for_humans(self) -> str:
        return redact_endpoint(self.endpoint)


@dataclass(frozen=True)
class AttributeChange:
    """One SetSubscriptionAttributes call; value None sends no AttributeValue."""

    name: str
    value: str | None


@dataclass(frozen=True)
class UpdatePlan:
    replace: bool
    changes: tuple[AttributeChange, ...] = ()
    removed: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------- ARNs, URLs


def is_subscription_arn(value: object) -> bool:
    return isinstance(value, str) and _SUBSCRIPTION_RE.match(value) is not None


def subscription_topic(subscription_arn: str) -> str:
    match = _SUBSCRIPTION_RE.match(subscription_arn)
    if match is None:
        raise PropertyError(f"{subscription_arn!r} is not an SNS subscription ARN")
    return match.group("topic")


TOPIC_VARIABLE: Final = "JOB_TOPIC_ARN"


def pinned_topic(value: str | None) -> str:
    """The job topic pinned in the function's environment (JOB_TOPIC_ARN, set by the template)."""
    topic = (value or "").strip()
    if TOPIC_ARN.match(topic) is None:
        raise PropertyError(
            f"This function is misconfigured: {TOPIC_VARIABLE} in its environment is not an SNS "
            "topic ARN, so it manages no subscription"
        )
    return topic


def require_pinned_topic(topic_arn: str, pinned: str) -> None:
    """Refuse a TopicArn that is not the stack's own job topic."""
    if topic_arn != pinned:
        raise PropertyError(
            f"TopicArn {topic_arn} is not this stack's job topic {pinned}: this function "
            "subscribes endpoints to that topic only"
        )


def require_pinned_subscription(subscription_arn: str, pinned: str) -> None:
    """Refuse to change a subscription of any topic but the stack's own job topic."""
    if subscription_topic(subscription_arn) != pinned:
        raise PropertyError(
            f"Subscription {subscription_arn} is not on this stack's job topic {pinned}: "
            "refused, nothing was changed"
        )


def redact_endpoint(endpoint: str) -> str:
    """scheme://host/path: a query string may carry a token, so it never reaches logs or Reasons."""
    try:
        parts = urlsplit(endpoint)
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return "<unparseable endpoint>"
    suffix = "?…" if parts.query else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}{suffix}"


def fit_reason(template: str, endpoint: str) -> str:
    """Fill `{endpoint}` into a Reason, shortening the endpoint so the whole fits 256 characters.

    crhelper keeps only the *last* 240 characters of a longer Reason, which would cut off its start.
    """
    text = template.format(endpoint=endpoint)
    if len(text) <= MAX_REASON:
        return text
    room = MAX_REASON - len(template.format(endpoint=""))
    short = endpoint[: max(room - 1, 8)] + "…"
    return template.format(endpoint=short)[:MAX_REASON]


# ---------------------------------------------------------------------------------- scalars


def _integer(value: object, where: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool):
        raise PropertyError(f"{where} must be a whole number, got {value!r}")
    if isinstance(value, int):
        number = value
    elif (isinstance(value, float) and value.is_integer()) or (
        isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value)
    ):
        number = int(value)
    else:
        raise PropertyError(f"{where} must be a whole number, got {value!r}")
    if number < low or (high is not None and number > high):
        bounds = f"from {low} to {high}" if high is not None else f"{low} or more"
        raise PropertyError(f"{where} must be {bounds}, got {number}")
    return number


def _boolean(value: object, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise PropertyError(f'{where} must be "true" or "false", got {value!r}')


def _json_object(value: object, where: str) -> dict[str, Any]:
    """A policy given as a YAML/JSON object or as a JSON string."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise PropertyError(f"{where} is not valid JSON: {error.msg}") from None
    if not isinstance(value, dict):
        raise PropertyError(f"{where} must be an object, got {type(value).__name__}")
    return value


def _reject_unknown(obj: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise PropertyError(
            f"{where} has unknown key(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )


# ---------------------------------------------------------------------------------- properties


def parse_topic_arn(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PropertyError("TopicArn is required: the ARN of the SNS topic (!Ref JobTopic)")
    match = TOPIC_ARN.match(value.strip())
    if match is None:
        raise PropertyError(
            f"TopicArn {value!r} is not an SNS topic ARN "
            "(arn:<partition>:sns:<region>:<account>:<name>)"
        )
    if match.group("name").endswith("-fifo") or value.endswith(".fifo"):
        raise PropertyError("TopicArn is a FIFO topic; FIFO topics cannot deliver to HTTP/S")
    return value.strip()


def parse_endpoint(value: object, allow_insecure: bool) -> tuple[str, str]:
    """Return (endpoint, protocol)."""
    if not isinstance(value, str) or not value.strip():
        raise PropertyError('Endpoint is required: the URL SNS posts to ("https://host/path")')
    endpoint = value.strip()
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        raise PropertyError("Endpoint is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme == "http":
        if not allow_insecure:
            raise PropertyError(
                f"Endpoint {redact_endpoint(endpoint)} is plain http; SNS must push jobs over "
                'https (set AllowInsecureEndpoint: "true" only for a local stack)'
            )
    elif scheme != "https":
        raise PropertyError(
            f"Endpoint must start with https:// (got scheme {parts.scheme or 'none'!r})"
        )
    if parts.username is not None or parts.password is not None:
        raise PropertyError("Endpoint must not carry credentials (user:password@host)")
    if not parts.hostname or not _HOST_RE.match(parts.netloc):
        raise PropertyError(f"Endpoint {redact_endpoint(endpoint)} has no valid host name")
    if port == 0:
        raise PropertyError("Endpoint has an invalid port")
    if parts.fragment:
        raise PropertyError("Endpoint must not have a #fragment")
    if any(c.isspace() for c in endpoint):
        raise PropertyError("Endpoint must not contain white space")
    return endpoint, scheme


def parse_delivery_policy(value: object) -> dict[str, Any]:
    """Validate an HTTP/S subscription delivery policy as SNS defines it; numbers become int."""
    policy = _json_object(value, "DeliveryPolicy")
    _reject_unknown(
        policy,
        frozenset({"healthyRetryPolicy", "throttlePolicy", "requestPolicy"}),
        "DeliveryPolicy",
    )
    if not policy:
        raise PropertyError("DeliveryPolicy is empty; leave it out to use SNS's default")
    result: dict[str, Any] = {}
    if "healthyRetryPolicy" in policy:
        result["healthyRetryPolicy"] = _retry_policy(policy["healthyRetryPolicy"])
    if "throttlePolicy" in policy:
        throttle = _json_object(policy["throttlePolicy"], "DeliveryPolicy.throttlePolicy")
        where = "DeliveryPolicy.throttlePolicy"
        _reject_unknown(throttle, frozenset({"maxReceivesPerSecond"}), where)
        if "maxReceivesPerSecond" not in throttle:
            raise PropertyError(f"{where}.maxReceivesPerSecond is required")
        result["throttlePolicy"] = {
            "maxReceivesPerSecond": _integer(
                throttle["maxReceivesPerSecond"], f"{where}.maxReceivesPerSecond", 1
            )
        }
    if "requestPolicy" in policy:
        request = _json_object(policy["requestPolicy"], "DeliveryPolicy.requestPolicy")
        where = "DeliveryPolicy.requestPolicy"
        _reject_unknown(request, frozenset({"headerContentType"}), where)
        content_type = request.get("headerContentType")
        if content_type not in _CONTENT_TYPES:
            raise PropertyError(
                f"{where}.headerContentType must be one of {', '.join(sorted(_CONTENT_TYPES))}"
            )
        result["requestPolicy"] = {"headerContentType": content_type}
    return result


def _retry_policy(value: object) -> dict[str, Any]:
    where = "DeliveryPolicy.healthyRetryPolicy"
    retry = _json_object(value, where)
    _reject_unknown(retry, _RETRY_KEYS, where)
    for required in ("minDelayTarget", "maxDelayTarget", "numRetries"):
        if required not in retry:
            raise PropertyError(f"{where}.{required} is required")
    max_delay = _integer(retry["maxDelayTarget"], f"{where}.maxDelayTarget", 1, 3600)
    min_delay = _integer(retry["minDelayTarget"], f"{where}.minDelayTarget", 1, max_delay)
    num_retries = _integer(retry["numRetries"], f"{where}.numRetries", 0, 100)
    phases = {
        key: _integer(retry.get(key, 0), f"{where}.{key}", 0, 100)
        for key in ("numNoDelayRetries", "numMinDelayRetries", "numMaxDelayRetries")
    }
    if sum(phases.values()) > num_retries:
        raise PropertyError(
            f"{where}: numNoDelayRetries + numMinDelayRetries + numMaxDelayRetries "
            f"({sum(phases.values())}) exceed numRetries ({num_retries})"
        )
    result: dict[str, Any] = {
        "minDelayTarget": min_delay,
        "maxDelayTarget": max_delay,
        "numRetries": num_retries,
        **{key: number for key, number in phases.items() if key in retry},
    }
    if "backoffFunction" in retry:
        backoff = retry["backoffFunction"]
        if not isinstance(backoff, str) or backoff.lower() not in _BACKOFF_FUNCTIONS:
            raise PropertyError(
                f"{where}.backoffFunction must be one of {', '.join(sorted(_BACKOFF_FUNCTIONS))}, "
                f"got {backoff!r}"
            )
        result["backoffFunction"] = backoff.lower()
    least = minimum_retry_seconds(result)
    if least > MAX_TOTAL_RETRY_SECONDS:
        raise PropertyError(
            f"{where} retries for at least {least} s; SNS allows at most "
            f"{MAX_TOTAL_RETRY_SECONDS} s in total for HTTP/S"
        )
    return result


def minimum_retry_seconds(retry: Mapping[str, Any]) -> int:
    """The least time the retries can take: every backoff delay lies between min and max delay.

    SNS checks the exact total (which depends on the backoff curve) when it gets the policy; this
    bound refuses every policy that must exceed the limit, and never one that might not.
    """
    min_delay = int(retry["minDelayTarget"])
    max_delay = int(retry["maxDelayTarget"])
    num_min = int(retry.get("numMinDelayRetries", 0))
    num_max = int(retry.get("numMaxDelayRetries", 0))
    backoff = int(retry["numRetries"]) - int(retry.get("numNoDelayRetries", 0)) - num_min - num_max
    return num_min * min_delay + backoff * min_delay + num_max * max_delay


def parse_redrive_policy(value: object, topic_arn: str) -> dict[str, str]:
    policy = _json_object(value, "RedrivePolicy")
    _reject_unknown(policy, frozenset({"deadLetterTargetArn"}), "RedrivePolicy")
    target = policy.get("deadLetterTargetArn")
    if not isinstance(target, str) or not target:
        raise PropertyError("RedrivePolicy.deadLetterTargetArn is required: an SQS queue ARN")
    match = _QUEUE_RE.match(target)
    if match is None:
        raise PropertyError(
            f"RedrivePolicy.deadLetterTargetArn {target!r} is not an SQS queue ARN "
            "(arn:<partition>:sqs:<region>:<account>:<queue>)"
        )
    topic = TOPIC_ARN.match(topic_arn)
    assert topic is not None  # noqa: S101 - parse_topic_arn ran first
    for part in ("partition", "region", "account"):
        if match.group(part) != topic.group(part):
            raise PropertyError(
                f"RedrivePolicy.deadLetterTargetArn must be in the topic's {part} "
                f"({topic.group(part)}), got {match.group(part)}"
            )
    if match.group("name").endswith(".fifo"):
        raise PropertyError(
            "RedrivePolicy.deadLetterTargetArn is a FIFO queue; "
            "a standard topic needs a standard queue"
        )
    return {"deadLetterTargetArn": target}


def parse_filter_policy(value: object, scope: str) -> dict[str, Any]:
    policy = _json_object(value, "FilterPolicy")
    if not policy:
        raise PropertyError("FilterPolicy is empty; leave it out to receive every message")
    policy = dict(_restore_filter_types(policy))
    top_keys = [key for key in policy if key != "$or"]
    if len(top_keys) > _MAX_FILTER_KEYS:
        raise PropertyError(
            f"FilterPolicy has {len(top_keys)} keys; SNS allows at most {_MAX_FILTER_KEYS}"
        )
    _check_filter_node(policy, scope, "FilterPolicy")
    return policy


def _check_filter_node(node: Mapping[str, Any], scope: str, where: str) -> None:
    for key, rule in node.items():
        path = f"{where}.{key}"
        if key == "$or":
            if (
                not isinstance(rule, list)
                or len(rule) < 2
                or not all(isinstance(r, dict) for r in rule)
            ):
                raise PropertyError(f"{path} must be a list of at least two objects")
            for index, branch in enumerate(rule):
                _check_filter_node(branch, scope, f"{path}[{index}]")
        elif isinstance(rule, dict):
            if scope != "MessageBody":
                raise PropertyError(
                    f"{path} is nested; nesting needs FilterPolicyScope MessageBody"
                )
            _check_filter_node(rule, scope, path)
        elif not isinstance(rule, list) or not rule:
            raise PropertyError(f"{path} must be a non-empty list of values or operators")


def _restore_filter_types(node: Any) -> Any:
    """Undo CloudFormation's stringification where SNS needs real numbers and booleans.

    In `{"numeric": [">", 5]}` the operands must be numbers and in `{"exists": true}` the value a
    boolean; CloudFormation delivers both as strings. Plain string matches are left alone.
    """
    if isinstance(node, list):
        return [_restore_filter_types(item) for item in node]
    if not isinstance(node, dict):
        return node
    restored: dict[str, Any] = {}
    for key, value in node.items():
        if key == "numeric" and isinstance(value, list):
            restored[key] = [_number_or_text(item) for item in value]
        elif key == "exists" and isinstance(value, str) and value.lower() in {"true", "false"}:
            restored[key] = value.lower() == "true"
        else:
            restored[key] = _restore_filter_types(value)
    return restored


def _number_or_text(value: Any) -> Any:
    if isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value):
        number = float(value)
        return int(number) if number.is_integer() and "." not in value else number
    return value


def parse_properties(props: Mapping[str, Any]) -> SubscriptionSpec:
    """Validate ResourceProperties; raise PropertyError with a Reason a person can act on."""
    if not isinstance(props, Mapping):
        raise PropertyError("ResourceProperties must be an object")
    unknown = sorted(set(props) - KNOWN_PROPERTIES)
    if unknown:
        raise PropertyError(
            f"Unknown propert{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(KNOWN_PROPERTIES - {'ServiceToken'}))}"
        )
    if "RawMessageDelivery" in props and _boolean(
        props["RawMessageDelivery"], "RawMessageDelivery"
    ):
        raise PropertyError(
            "RawMessageDelivery is refused: raw delivery drops the signed JSON envelope "
            "the jobs service verifies"
        )
    topic_arn = parse_topic_arn(props.get("TopicArn"))
    allow_insecure = _boolean(props.get("AllowInsecureEndpoint", "false"), "AllowInsecureEndpoint")
    endpoint, protocol = parse_endpoint(props.get("Endpoint"), allow_insecure)

    timeout = _integer(
        props.get("ConfirmationTimeoutSeconds", DEFAULT_CONFIRMATION_TIMEOUT),
        "ConfirmationTimeoutSeconds",
        MIN_CONFIRMATION_TIMEOUT,
        MAX_CONFIRMATION_TIMEOUT,
    )
    if "ServiceTimeout" in props:
        service_timeout = _integer(props["ServiceTimeout"], "ServiceTimeout", 1, 3600)
        if timeout > service_timeout - SERVICE_TIMEOUT_MARGIN:
            raise PropertyError(
                f"ConfirmationTimeoutSeconds ({timeout}) must be at most ServiceTimeout - "
                f"{SERVICE_TIMEOUT_MARGIN} ({service_timeout - SERVICE_TIMEOUT_MARGIN}), so the "
                "answer reaches CloudFormation in time"
            )

    attributes: dict[str, str] = {}
    if "DeliveryPolicy" in props:
        attributes["DeliveryPolicy"] = _dump(parse_delivery_policy(props["DeliveryPolicy"]))
    if "RedrivePolicy" in props:
        attributes["RedrivePolicy"] = _dump(parse_redrive_policy(props["RedrivePolicy"], topic_arn))
    scope = props.get("FilterPolicyScope")
    if scope is not None and scope not in _FILTER_SCOPES:
        raise PropertyError(
            f"FilterPolicyScope must be MessageAttributes or MessageBody, got {scope!r}"
        )
    if "FilterPolicy" in props:
        attributes["FilterPolicy"] = _dump(
            parse_filter_policy(props["FilterPolicy"], scope or "MessageAttributes")
        )
        if scope is not None:
            attributes["FilterPolicyScope"] = scope
    elif scope is not None:
        raise PropertyError("FilterPolicyScope needs a FilterPolicy")
    return SubscriptionSpec(topic_arn, endpoint, protocol, timeout, attributes)


def _dump(value: Mapping[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


# ---------------------------------------------------------------------------------- updates


def _lenient_old(old_props: Mapping[str, Any] | None) -> tuple[str | None, str | None, set[str]]:
    """Topic, endpoint and attribute names of the previous properties, even if they were invalid."""
    if not isinstance(old_props, Mapping):
        return None, None, set(MANAGED_ATTRIBUTES)
    topic = old_props.get("TopicArn")
    endpoint = old_props.get("Endpoint")
    try:
        old = parse_properties(old_props)
    except PropertyError:
        # Unknown what was applied: reset whatever the new properties do not set.
        return (
            topic.strip() if isinstance(topic, str) else None,
            endpoint.strip() if isinstance(endpoint, str) else None,
            set(MANAGED_ATTRIBUTES),
        )
    return old.topic_arn, old.endpoint, set(old.attributes)


def plan_update(old_props: Mapping[str, Any] | None, new: SubscriptionSpec) -> UpdatePlan:
    """Replacement when the topic or the endpoint changed; otherwise the attribute calls, ordered.

    Every wanted attribute is set again (cheap, and it repairs drift); attributes that the old
    properties had and the new ones lack are reset. Filter scope order matters: MessageBody accepts
    any policy, so it goes first; MessageAttributes refuses nested policies, so it goes last.
    """
    old_topic, old_endpoint, old_names = _lenient_old(old_props)
    if old_topic != new.topic_arn or old_endpoint != new.endpoint:
        return UpdatePlan(replace=True)
    wanted = dict(new.attributes)
    scope = wanted.pop("FilterPolicyScope", None)
    if "FilterPolicy" in wanted and scope is None and "FilterPolicyScope" in old_names:
        scope = "MessageAttributes"  # the default again, once the scope was taken out
    changes: list[AttributeChange] = []
    removed: list[str] = []
    if scope == "MessageBody":
        changes.append(AttributeChange("FilterPolicyScope", scope))
    for name in MANAGED_ATTRIBUTES:
        if name == "FilterPolicyScope":
            continue
        if name in wanted:
            changes.append(AttributeChange(name, wanted[name]))
        elif name in old_names:
            changes.append(AttributeChange(name, RESET_VALUES[name]))
            removed.append(name)
    if scope == "MessageAttributes":
        changes.append(AttributeChange("FilterPolicyScope", scope))
    return UpdatePlan(replace=False, changes=tuple(changes), removed=tuple(removed))


def effective_wait(confirmation_timeout: int, remaining_seconds: float, margin: float) -> float:
    """How long this invocation may wait: the asked timeout, capped so the answer is always sent."""
    return max(0.0, min(float(confirmation_timeout), remaining_seconds - margin))


def timeout_reason(endpoint: str, waited_seconds: float) -> str:
    return fit_reason(
        "{endpoint} did not confirm the SNS subscription within "
        f"{math.ceil(waited_seconds)} s. See the jobs service's logs for the "
        "SubscriptionConfirmation; SNS drops the pending subscription after "
        f"{PENDING_EXPIRY_HOURS} h.",
        endpoint,
    )
