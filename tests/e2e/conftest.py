"""The rehearsal of `make demo`, run once per module, for the end-to-end tests to inspect and poke.

The fixture fails loudly (with the step that failed) when the deploy part of the rehearsal does;
every test then reads the state of the running stand-ins, or posts to the running app. Tests run
in any order (pytest-randomly shuffles them): each one that changes the stack puts it back.
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from harness.demo import JOB_PATH, Rehearsal, Reporter
from harness.processes import wait_until
from tests.support.subscriber import CapturingSubscriber

# What the built template gives the app's container on either platform (harness/contract.py).
CONTRACT_VARIABLES = {
    "APP_ROLE",
    "PORT",
    "JOB_PATH",
    "JOB_TOPIC_ARN",
    "ENABLE_OTEL",
    "AWS_REGION",
    "SECRETS_FINGERPRINT",
    "JOB_RESULTS_QUEUE_URL",
}


@contextlib.contextmanager
def deployed_rehearsal() -> Iterator[Rehearsal]:
    """A rehearsal after its deploy steps, closed on the way out.

    Fails the test (naming the step that failed) when the deploy does.
    """
    stack = Rehearsal(reporter=Reporter(out=None))
    try:
        stack.deploy()
    except Exception:
        failed = [r for r in stack.reporter.results if not r.ok]
        stack.close()
        step = failed[-1] if failed else None
        pytest.fail(
            f"the rehearsal failed at {step.name!r}: {step.detail}" if step else "no step ran"
        )
    except BaseException:
        # Ctrl-C, SIGTERM (tests/conftest.py) or pytest-timeout: clean up and let it end the run.
        stack.close()
        raise
    try:
        yield stack
    finally:
        stack.close()


@pytest.fixture(scope="module")
def rehearsal() -> Iterator[Rehearsal]:
    with deployed_rehearsal() as stack:
        yield stack


@pytest.fixture(scope="module")
def capture(rehearsal: Rehearsal) -> Iterator[CapturingSubscriber]:
    subscriber = CapturingSubscriber("/capture")
    sns = rehearsal.client("sns")
    arn = sns.subscribe(
        TopicArn=rehearsal.resources.topic_arn,
        Protocol="http",
        Endpoint=subscriber.url,
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    yield subscriber
    if rehearsal.moto is not None and rehearsal.moto.child.alive():
        sns.unsubscribe(SubscriptionArn=arn)
    subscriber.close()


def post_envelope(rehearsal: Rehearsal, envelope: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Delivers `envelope` to the app's job endpoint the way SNS does; returns status and body."""
    request = urllib.request.Request(  # noqa: S310 - loopback
        rehearsal.app_url + JOB_PATH,
        data=json.dumps(envelope).encode(),
        method="POST",
        headers={
            "Content-Type": "text/plain; charset=UTF-8",
            "x-amz-sns-message-type": str(envelope["Type"]),
            "x-amz-sns-message-id": str(envelope["MessageId"]),
            "x-amz-sns-topic-arn": str(envelope["TopicArn"]),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def app_log(rehearsal: Rehearsal, *, every_instance: bool = False) -> list[dict[str, Any]]:
    """The running app's JSON log lines so far (anything else it printed is skipped); with
    `every_instance`, also those of the app processes that ran before it (a test may have
    replaced the app, as a deployment replaces instances)."""
    if rehearsal.app is None:
        raise RuntimeError("the app is not running")
    text = (
        rehearsal.app.log_path.read_text(errors="replace")
        if every_instance
        else rehearsal.app.output()
    )
    entries: list[dict[str, Any]] = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def job_answers(rehearsal: Rehearsal, message_id: str, count: int) -> list[int]:
    """The statuses the job endpoint answered to the deliveries of `message_id`, in order.

    moto does not say what the app answered to its own delivery, so they are read from the app's
    log: its job lines carry the message id and the request id, and its access line for that
    request id carries the status. Waits until `count` answers are logged (the access line is
    written once the response has gone out) and returns them all.
    """

    def logged() -> list[int]:
        lines = app_log(rehearsal)
        # Lines of the delivery's request; the heartbeat thread's "job running" line names it too.
        requests = {
            line["request_id"]
            for line in lines
            if line.get("message_id") == message_id and line.get("request_id") is not None
        }
        return [
            int(line["status_code"])
            for line in lines
            if line.get("logger") == "bookapp.access"
            and line.get("path") == JOB_PATH
            and line.get("request_id") in requests
        ]

    try:
        return wait_until(
            lambda: found if len(found := logged()) >= count else None,
            timeout=10,
            what=f"{count} answers to message {message_id} in the app's log",
        )
    except TimeoutError:
        return logged()  # fewer than expected: the caller's assertion shows which
