"""The SNS calls behind Custom::HttpsSubscription; each takes the client as an argument.

Errors from SNS become `SubscriptionError` with a Reason for the person reading stack events: what
was attempted, on which topic or endpoint (never a query string), and what to do.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from cfn_guard.aws import ACCESS_DENIED_CODES, THROTTLED_CODES, error_code
from https_subscription.core import (
    AttributeChange,
    SubscriptionSpec,
    fit_reason,
    redact_endpoint,
    subscription_topic,
    timeout_reason,
)

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleeper = Callable[[float], None]

_NOT_FOUND = frozenset({"NotFound", "NotFoundException", "ResourceNotFound"})
_PENDING_MESSAGE = "pending confirmation"


class SubscriptionError(RuntimeError):
    """An SNS call failed; the message is the Reason CloudFormation shows."""


class ConfirmationTimeoutError(SubscriptionError):
    """The endpoint did not confirm in time; carries the ARN of the pending subscription."""

    def __init__(self, reason: str, subscription_arn: str) -> None:
        super().__init__(reason)
        self.subscription_arn = subscription_arn


_URL_QUERY = re.compile(r"(https?://[^\s?#\"']+)[?#][^\s\"']*")


def scrub_urls(text: str) -> str:
    """SNS error messages may quote the endpoint: drop any URL's query string and fragment."""
    return _URL_QUERY.sub(r"\1", text)


def _explain(error: Exception, action: str, target: str) -> SubscriptionError:
    """Turn an SNS failure into a Reason; the raw error goes to the log (without query strings)."""
    logger.warning("sns:%s on %s failed: %s", action, target, scrub_urls(str(error)))
    if isinstance(error, ClientError):
        code = error_code(error)
        message = scrub_urls(str(error.response.get("Error", {}).get("Message", "")))[:120]
        # The Reason is built with str.format; SNS messages quote JSON policies.
        message = message.replace("{", "{{").replace("}", "}}")
        code = code.replace("{", "{{").replace("}", "}}")
        if code in ACCESS_DENIED_CODES:
            text = (
                "Access denied: the function's role may not call sns:" + action + " on {endpoint}"
                "; grant it in the template."
            )
        elif code in THROTTLED_CODES:
            text = "SNS throttled sns:" + action + " on {endpoint} after retries; deploy again."
        elif code in _NOT_FOUND:
            text = "sns:" + action + " on {endpoint}: not found (" + message + ")."
        else:
            text = "sns:" + action + " on {endpoint} failed: " + code + " " + message
        return SubscriptionError(fit_reason(text, target))
    return SubscriptionError(
        fit_reason("sns:" + action + " on {endpoint} failed: " + type(error).__name__, target)
    )


def subscribe(client: SNSClient, spec: SubscriptionSpec) -> str:
    """Subscribe and return the subscription ARN (SNS returns the same ARN for a repeat request)."""
    try:
        response = client.subscribe(
            TopicArn=spec.topic_arn,
            Protocol=spec.protocol,
            Endpoint=spec.endpoint,
            Attributes=dict(spec.attributes),
            ReturnSubscriptionArn=True,
        )
    except ClientError as error:
        if error_code(error) in _NOT_FOUND:
            raise SubscriptionError(
                f"Topic {spec.topic_arn} does not exist (or is in another region than the function)"
            ) from None
        raise _explain(error, "Subscribe", spec.topic_arn) from None
    except BotoCoreError as error:
        raise _explain(error, "Subscribe", spec.topic_arn) from None
    arn = response["SubscriptionArn"]
    logger.info("Subscribed %s to %s: %s", spec.endpoint_for_humans, spec.topic_arn, arn)
    return arn


def get_attributes(client: SNSClient, subscription_arn: str) -> Mapping[str, str] | None:
    """The subscription's attributes, or None if SNS does not know it."""
    try:
        return client.get_subscription_attributes(SubscriptionArn=subscription_arn)["Attributes"]
    except ClientError as error:
        if error_code(error) in _NOT_FOUND:
            return None
        raise _explain(error, "GetSubscriptionAttributes", subscription_arn) from None
    except BotoCoreError as error:
        raise _explain(error, "GetSubscriptionAttributes", subscription_arn) from None


def is_pending(attributes: Mapping[str, str]) -> bool:
    return str(attributes.get("PendingConfirmation", "false")).lower() == "true"


def wait_until_confirmed(
    client: SNSClient,
    subscription_arn: str,
    endpoint: str,
    *,
    wait_seconds: float,
    poll_seconds: float,
    clock: Clock = time.monotonic,
    sleep: Sleeper = time.sleep,
) -> int:
    """Poll PendingConfirmation until it is false; return the number of polls.

    Never waits past `wait_seconds`: the caller already subtracted the time it needs to answer.
    """
    deadline = clock() + wait_seconds
    started = clock()
    polls = 0
    while True:
        polls += 1
        attributes = get_attributes(client, subscription_arn)
        if attributes is None:
            raise SubscriptionError(
                fit_reason(
                    f"Subscription {subscription_arn} vanished while waiting for {{endpoint}} to "
                    "confirm; deploy again.",
                    redact_endpoint(endpoint),
                )
            )
        if not is_pending(attributes):
            logger.info("Subscription %s confirmed after %d poll(s)", subscription_arn, polls)
            return polls
        remaining = deadline - clock()
        if remaining <= 0:
            waited = clock() - started
            logger.error(
                "Subscription %s still pending after %.0f s (%d polls)",
                subscription_arn,
                waited,
                polls,
            )
            raise ConfirmationTimeoutError(
                timeout_reason(redact_endpoint(endpoint), max(waited, wait_seconds)),
                subscription_arn,
            )
        sleep(min(poll_seconds, remaining))


def apply_attributes(
    client: SNSClient, subscription_arn: str, changes: tuple[AttributeChange, ...]
) -> bool:
    """Apply the planned changes in order; False if the subscription no longer exists."""
    for change in changes:
        try:
            if change.value is None:
                client.set_subscription_attributes(
                    SubscriptionArn=subscription_arn, AttributeName=change.name
                )
            else:
                client.set_subscription_attributes(
                    SubscriptionArn=subscription_arn,
                    AttributeName=change.name,
                    AttributeValue=change.value,
                )
        except ClientError as error:
            if error_code(error) in _NOT_FOUND:
                return False
            raise _explain(error, "SetSubscriptionAttributes", subscription_arn) from None
        except BotoCoreError as error:
            raise _explain(error, "SetSubscriptionAttributes", subscription_arn) from None
        logger.info("Set %s on %s", change.name, subscription_arn)
    return True


def unsubscribe(client: SNSClient, subscription_arn: str) -> str:
    """Remove a subscription if SNS lets us; return what happened ("removed", "pending", "gone")."""
    attributes = get_attributes(client, subscription_arn)
    if attributes is None:
        logger.info("Subscription %s does not exist; nothing to delete", subscription_arn)
        return "gone"
    if is_pending(attributes):
        logger.warning(
            "Subscription %s is pending confirmation; SNS cannot unsubscribe it and removes it "
            "itself after 48 h",
            subscription_arn,
        )
        return "pending"
    try:
        client.unsubscribe(SubscriptionArn=subscription_arn)
    except ClientError as error:
        code = error_code(error)
        message = str(error.response.get("Error", {}).get("Message", ""))
        if code in _NOT_FOUND:
            return "gone"
        if code.startswith("InvalidParameter") and _PENDING_MESSAGE in message.lower():
            logger.warning(
                "Subscription %s turned out to be pending; left to SNS", subscription_arn
            )
            return "pending"
        raise _explain(error, "Unsubscribe", subscription_arn) from None
    except BotoCoreError as error:
        raise _explain(error, "Unsubscribe", subscription_arn) from None
    logger.info(
        "Unsubscribed %s (topic %s)", subscription_arn, subscription_topic(subscription_arn)
    )
    return "removed"
