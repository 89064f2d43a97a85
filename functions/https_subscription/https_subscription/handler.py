"""Lambda entry for Custom::HttpsSubscription: crhelper wiring around `core` and `subscriptions`.

- Create: validate the properties, `Subscribe` with ReturnSubscriptionArn and the attributes, then
  wait until `PendingConfirmation` is false (the jobs service confirms when SNS calls it). SUCCESS
  carries physical id = subscription ARN and `Data.SubscriptionArn`. Not confirmed in time: FAILED,
  still with the subscription ARN as physical id, so the Delete CloudFormation sends next finds it.
- Update: a new TopicArn or Endpoint subscribes anew and waits as Create does (a new physical id;
  CloudFormation then deletes the old one). Anything else is applied in place with
  SetSubscriptionAttributes (taken-out attributes are reset), then the wait confirms the
  subscription is still confirmed. A subscription that disappeared is made again.
- Delete: confirmed -> Unsubscribe; pending -> success, logged (SNS cannot remove it; it expires
  after 48 h); not found, or an id that is not a subscription ARN of this topic -> success.

Why the wait runs inside one invocation instead of crhelper's polling: the confirmation normally
arrives seconds after Subscribe, so a bounded loop is simple and needs no EventBridge rules or
lambda:AddPermission rights (which crhelper's poller needs, and it never times out on its own).
The wait is min(ConfirmationTimeoutSeconds, remaining Lambda time - SAFETY_MARGIN_SECONDS), so the
answer is always sent before the Lambda (and ServiceTimeout) ends; with the Lambda's maximum
timeout of 900 s that allows a wait of up to about 14 minutes.

Every step is idempotent: Subscribe returns the same ARN for the same topic, endpoint and
attributes, so a duplicated Create makes one subscription, and Delete of something gone succeeds.

Only its own stack, only its own topic: every request first passes the shared guard (`cfn_guard`:
CloudFormation's response URL, the stack pinned in STACK_ID), and the function then acts only on
the job topic pinned in JOB_TOPIC_ARN. A TopicArn property naming another topic is refused; an
Update or Delete whose physical id is a subscription of another topic refuses it or leaves it
alone. Its role needs some SNS actions on "*", so only this code holds that line.

Environment: STACK_ID and JOB_TOPIC_ARN (from the template), LOG_LEVEL (INFO),
POLL_INTERVAL_SECONDS (5), SAFETY_MARGIN_SECONDS (30).
"""

from __future__ import annotations

import logging
import os
import time
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3

from cfn_guard.aws import topic_region
from cfn_guard.resource import custom_resource
from cfn_guard.serve import serve
from cfn_guard.settings import log_level, retry_config
from https_subscription import core, subscriptions
from https_subscription.core import PropertyError

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

logger = logging.getLogger(__name__)


RETRY_CONFIG = retry_config()


def _settings() -> tuple[str, float, float]:
    level = log_level(os.environ)
    poll = float(os.environ.get("POLL_INTERVAL_SECONDS", "5"))
    margin = float(os.environ.get("SAFETY_MARGIN_SECONDS", "30"))
    if not 0 < poll <= 60:
        raise ValueError("POLL_INTERVAL_SECONDS must be more than 0 and at most 60")
    if not 0 <= margin <= 300:
        raise ValueError("SAFETY_MARGIN_SECONDS must be from 0 to 300")
    return level, poll, margin


_init_error: Exception | None = None
try:
    LOG_LEVEL, POLL_SECONDS, MARGIN_SECONDS = _settings()
except ValueError as error:
    _init_error = error
    LOG_LEVEL, POLL_SECONDS, MARGIN_SECONDS = "INFO", 5.0, 30.0

helper = custom_resource(LOG_LEVEL, init_error=_init_error)

# Injectable for tests: the wait's clock and sleeper.
clock: subscriptions.Clock = time.monotonic
sleep: subscriptions.Sleeper = time.sleep


@cache
def get_client(region: str) -> SNSClient:
    """One SNS client per region (the topic's), created on first use."""
    client: SNSClient = boto3.client("sns", region_name=region, config=RETRY_CONFIG)
    return client


def _remaining_seconds(context: Any) -> float:
    return float(context.get_remaining_time_in_millis()) / 1000.0


def _subscribe_and_wait(spec: core.SubscriptionSpec, context: Any, *, on_create: bool) -> str:
    wait = core.effective_wait(
        spec.confirmation_timeout, _remaining_seconds(context), MARGIN_SECONDS
    )
    if wait < spec.confirmation_timeout:
        logger.warning(
            "Waiting %.0f s instead of %d s: the Lambda has no more time left",
            wait,
            spec.confirmation_timeout,
        )
    client = get_client(spec.region)
    arn = subscriptions.subscribe(client, spec)
    if on_create:
        # Kept on FAILED too (crhelper sends this id when the handler raises), so CloudFormation's
        # Delete after the failed Create finds the subscription if it confirms late.
        helper.PhysicalResourceId = arn
    subscriptions.wait_until_confirmed(
        client,
        arn,
        spec.endpoint,
        wait_seconds=wait,
        poll_seconds=POLL_SECONDS,
        clock=clock,
        sleep=sleep,
    )
    helper.Data["SubscriptionArn"] = arn
    return arn


def _pinned_topic() -> str:
    return core.pinned_topic(os.environ.get(core.TOPIC_VARIABLE))


def _parse(event: dict[str, Any]) -> core.SubscriptionSpec:
    spec = core.parse_properties(event.get("ResourceProperties") or {})
    core.require_pinned_topic(spec.topic_arn, _pinned_topic())
    return spec


@helper.create
def create(event: dict[str, Any], context: Any) -> str:
    spec = _parse(event)
    return _subscribe_and_wait(spec, context, on_create=True)


@helper.update
def update(event: dict[str, Any], context: Any) -> str:
    spec = _parse(event)
    physical_id = event.get("PhysicalResourceId", "")
    plan = core.plan_update(event.get("OldResourceProperties"), spec)
    if plan.replace or not core.is_subscription_arn(physical_id):
        logger.info("Topic or endpoint changed: making a new subscription")
        return _subscribe_and_wait(spec, context, on_create=False)
    # In place: only a subscription of the pinned topic is ever changed.
    core.require_pinned_subscription(physical_id, spec.topic_arn)
    client = get_client(spec.region)
    if plan.removed:
        logger.info("Resetting removed attributes: %s", ", ".join(plan.removed))
    if not subscriptions.apply_attributes(client, physical_id, plan.changes):
        logger.warning("Subscription %s no longer exists: subscribing again", physical_id)
        return _subscribe_and_wait(spec, context, on_create=False)
    wait = core.effective_wait(
        spec.confirmation_timeout, _remaining_seconds(context), MARGIN_SECONDS
    )
    subscriptions.wait_until_confirmed(
        client,
        physical_id,
        spec.endpoint,
        wait_seconds=wait,
        poll_seconds=POLL_SECONDS,
        clock=clock,
        sleep=sleep,
    )
    helper.Data["SubscriptionArn"] = physical_id
    return str(physical_id)


@helper.delete
def delete(event: dict[str, Any], _context: Any) -> None:
    physical_id = event.get("PhysicalResourceId", "")
    if not core.is_subscription_arn(physical_id):
        logger.info(
            "Physical id %r is not a subscription ARN (failed Create): nothing to delete",
            physical_id,
        )
        return
    pinned = _pinned_topic()
    topic = core.subscription_topic(physical_id)
    if topic != pinned:
        logger.warning(
            "Subscription %s is not on this stack's job topic %s: left alone", physical_id, pinned
        )
        return
    client = get_client(topic_region(topic))
    subscriptions.unsubscribe(client, physical_id)


def handler(event: dict[str, Any], context: Any) -> None:
    """Lambda entry point: the guard admits the request, then crhelper answers CloudFormation,
    FAILED with the error as Reason."""
    serve(event, context, helper)


__all__ = ["PropertyError", "handler"]
