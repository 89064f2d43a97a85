"""The app's job log lines are what the stack's log metric filters count.

The template turns the job endpoint's application log into two metrics (JobRunsMetricFilter:
runs per job and outcome; JobFailuresMetricFilter: failed or rejected runs, which the job alarm
watches). Nothing in the app emits metrics: these tests run real deliveries through the app, take
its JSON log lines from stdout, and apply the template's own filter patterns and transformations
to them (tests/support/metric_filter.py), so renaming a log field or message breaks them here.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import cache
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.support.metric_filter import apply_filter
from tests.template.conftest import GOOD_IMAGE
from tests.template.render import expanded_template, render

from .conftest import Deliver, LoginRefused


@cache
def metric_filters() -> dict[str, dict[str, Any]]:
    stack = render(expanded_template(), {"ImageUri": GOOD_IMAGE})
    return {name: stack.props(name) for name in stack.of_type("AWS::Logs::MetricFilter")}


def published(name: str, lines: list[str]) -> Counter[tuple[tuple[str, str], ...]]:
    """How many data points (value 1 each) the filter publishes per dimension set."""
    spec = metric_filters()[name]
    [transformation] = spec["MetricTransformations"]
    return Counter(d.dimensions for d in apply_filter(spec["FilterPattern"], transformation, lines))


def deliver(
    capsys: pytest.CaptureFixture[str], client: TestClient, envelope: dict[str, str]
) -> list[str]:
    capsys.readouterr()
    body = json.dumps(envelope).encode()
    client.post("/jobs", content=body, headers={"Content-Type": "text/plain; charset=UTF-8"})
    return [line for line in capsys.readouterr().out.splitlines() if line]


def test_the_template_has_exactly_the_two_job_metric_filters() -> None:
    assert set(metric_filters()) == {"JobRunsMetricFilter", "JobFailuresMetricFilter"}


def test_a_succeeded_run_counts_once_per_job_and_outcome_and_is_no_failure(
    capsys: pytest.CaptureFixture[str], client: TestClient, notification: Deliver
) -> None:
    lines = deliver(capsys, client, notification())

    assert published("JobRunsMetricFilter", lines) == {
        (("Job", "test_book_job"), ("Outcome", "succeeded")): 1
    }
    assert published("JobFailuresMetricFilter", lines) == {}


def test_a_failed_run_counts_as_a_failure(
    capsys: pytest.CaptureFixture[str], client: TestClient, notification: Deliver
) -> None:
    lines = deliver(capsys, client, notification(payload={"fail": True}))

    assert published("JobRunsMetricFilter", lines) == {
        (("Job", "test_book_job"), ("Outcome", "failed")): 1
    }
    assert published("JobFailuresMetricFilter", lines) == {(): 1}


def test_each_failed_attempt_counts_and_the_retry_that_succeeds_counts_as_success(
    capsys: pytest.CaptureFixture[str], client: TestClient, notification: Deliver
) -> None:
    envelope = notification(payload={"fail_attempts": 1})
    lines = deliver(capsys, client, envelope) + deliver(capsys, client, envelope)

    assert published("JobRunsMetricFilter", lines) == {
        (("Job", "test_book_job"), ("Outcome", "failed")): 1,
        (("Job", "test_book_job"), ("Outcome", "succeeded")): 1,
    }
    assert published("JobFailuresMetricFilter", lines) == {(): 1}


@pytest.mark.parametrize(
    ("message", "job"),
    [
        # Refused by the job itself (bad payload): a "job finished" line with run_status rejected.
        ({"job": "test_book_job", "payload": {"sleep_seconds": "long"}}, "test_book_job"),
        # Refused before any job runs (no such job): the "job rejected" line.
        ({"job": "no_such_job", "payload": {}}, "no_such_job"),
        ("plain text", "?"),
    ],
)
def test_a_rejected_message_counts_as_rejected_and_as_a_failure(
    capsys: pytest.CaptureFixture[str],
    client: TestClient,
    notification: Deliver,
    message: Any,
    job: str,
) -> None:
    lines = deliver(capsys, client, notification(message=message))

    assert published("JobRunsMetricFilter", lines) == {(("Job", job), ("Outcome", "rejected")): 1}
    assert published("JobFailuresMetricFilter", lines) == {(): 1}


def test_a_duplicate_delivery_of_a_finished_run_counts_nothing_more(
    capsys: pytest.CaptureFixture[str], client: TestClient, notification: Deliver
) -> None:
    envelope = notification()
    deliver(capsys, client, envelope)

    lines = deliver(capsys, client, envelope)

    assert published("JobRunsMetricFilter", lines) == {}
    assert published("JobFailuresMetricFilter", lines) == {}


def test_a_run_the_database_interrupted_counts_nothing_and_its_retry_counts_once(
    capsys: pytest.CaptureFixture[str],
    client: TestClient,
    notification: Deliver,
    login_refused: LoginRefused,
) -> None:
    # A rotation's old instance: its job could not open a connection. Not a failed job.
    envelope = notification(job="login_refused_job")
    interrupted = deliver(capsys, client, envelope)
    retried = deliver(capsys, client, envelope)

    assert published("JobRunsMetricFilter", interrupted) == {}
    assert published("JobFailuresMetricFilter", interrupted) == {}
    assert published("JobRunsMetricFilter", retried) == {
        (("Job", "login_refused_job"), ("Outcome", "succeeded")): 1
    }
    assert login_refused.runs == 2
