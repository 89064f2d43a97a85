"""Fixtures for Custom::HttpsSubscription: moto's SNS with pending state, a fake clock, the handler.

moto confirms HTTP/S subscriptions at once and never sends a SubscriptionConfirmation, so
`pending_subscriptions` makes every new subscription start pending in moto's backend, and the fake
sleeper confirms it after a chosen number of polls (or never). No test sleeps for real.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.sns.models import SNSBackend, sns_backends

from tests.support.clock import FakeClock

ACCOUNT = "123456789012"
REGION = "us-east-1"
TOPIC_NAME = "bookapp-JobTopic-Q1w2E3r4T5y6"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC_NAME}"
QUEUE_NAME = "bookapp-JobDeadLetterQueue-Z9x8C7v6B5n4"

__all__ = ["FakeClock"]


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def subscription_handler(
    monkeypatch: pytest.MonkeyPatch, fake_clock: FakeClock
) -> Iterator[ModuleType]:
    # Imported here, not at the top: crhelper builds boto3 clients at import (needs the fake env).
    from https_subscription import handler as module  # noqa: PLC0415

    get_client = module.get_client  # tests may replace it; the cache is cleared on the original
    get_client.cache_clear()
    # The function manages subscriptions of this one topic only (the template pins it).
    monkeypatch.setenv("JOB_TOPIC_ARN", TOPIC_ARN)
    monkeypatch.setattr(module, "clock", fake_clock.clock)
    monkeypatch.setattr(module, "sleep", fake_clock.sleep)
    # crhelper sleeps before answering a Delete (to let logs flush); not in tests.
    monkeypatch.setattr(module.helper, "_sleep_on_delete", 0)
    yield module
    get_client.cache_clear()


@pytest.fixture
def aws() -> Iterator[None]:
    """moto with the job topic and its dead-letter queue, as the template makes them."""
    with mock_aws():
        boto3.client("sns", region_name=REGION).create_topic(Name=TOPIC_NAME)
        boto3.client("sqs", region_name=REGION).create_queue(QueueName=QUEUE_NAME)
        yield


def sns_backend() -> SNSBackend:
    backend: SNSBackend = sns_backends[ACCOUNT][REGION]
    return backend


@dataclass
class PendingControl:
    """New subscriptions start pending; `confirm_after` polls (sleeps) they become confirmed."""

    fake_clock: FakeClock
    confirm_after: int | None = None  # None: never

    def tick(self) -> None:
        if self.confirm_after is not None and len(self.fake_clock.sleeps) >= self.confirm_after:
            for subscription in sns_backend().subscriptions.values():
                subscription.attributes["PendingConfirmation"] = "false"


@pytest.fixture
def pending_subscriptions(
    aws: None, monkeypatch: pytest.MonkeyPatch, fake_clock: FakeClock
) -> PendingControl:
    control = PendingControl(fake_clock)
    original = SNSBackend.subscribe

    def subscribe(self: SNSBackend, *args: Any, **kwargs: Any) -> Any:
        known = set(self.subscriptions)
        subscription = original(self, *args, **kwargs)
        if subscription.arn not in known:
            subscription.attributes["PendingConfirmation"] = "true"
        return subscription

    monkeypatch.setattr(SNSBackend, "subscribe", subscribe)
    fake_clock.on_sleep = control.tick
    return control
