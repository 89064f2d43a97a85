"""Recording a run's outcome, as a unit: the write is retried with backoff while the database is
away, for FINISH_RETRY_SECONDS, and an outcome that was never recorded answers 503 so that SNS
delivers again. No database and no waiting: the recording call and the clock are stand-ins.

The same guarantees against a real PostgreSQL that stops and starts are in test_job_endpoint.py
(both) and tests/e2e (the retry, through the running app).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
import sqlalchemy as sa

from bookapp import job_endpoint, jobs, runs
from bookapp.job_endpoint import FINISH_RETRY_SECONDS, JobEndpoint
from bookapp.sns import CertificateCache, Verifier

TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:book-jobs"
DATABASE_AWAY = sa.exc.OperationalError("UPDATE job_runs", {}, RuntimeError("server closed"))


class FakeTime:
    """job_endpoint's clock: sleeping moves it on at once."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(job_endpoint, "time", fake)
    return fake


@pytest.fixture
def endpoint() -> JobEndpoint:
    # An engine that is never connected: every database call below is a stand-in.
    engine = sa.create_engine("postgresql+psycopg://nobody@/nothing?host=/nonexistent")
    verifier = Verifier(TOPIC_ARN, CertificateCache(lambda _url: b""))
    return JobEndpoint(engine, verifier, lambda _arn, _token: None)


def _finish_that_fails(times: int, calls: list[tuple[Any, ...]]) -> Any:
    def finish(*args: Any) -> bool:
        calls.append(args)
        if len(calls) <= times:
            raise DATABASE_AWAY
        return True

    return finish


def test_the_outcome_write_is_retried_with_growing_delays_until_it_is_recorded(
    endpoint: JobEndpoint, clock: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(runs, "finish", _finish_that_fails(4, calls))
    recorded = endpoint._finish("count_job", "m-1", 1, "succeeded", None)
    assert recorded is True
    assert len(calls) == 5
    assert {call[1:] for call in calls} == {("m-1", 1, "succeeded", None)}
    assert clock.sleeps == [0.25, 0.5, 1.0, 2.0]


def test_the_delay_between_attempts_stops_growing_and_the_retries_stop_at_the_deadline(
    endpoint: JobEndpoint, clock: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(runs, "finish", _finish_that_fails(10_000, calls))
    assert endpoint._finish("count_job", "m-1", 1, "failed", "boom") is None
    assert max(clock.sleeps) == 2.0
    assert sum(clock.sleeps) == pytest.approx(FINISH_RETRY_SECONDS)
    assert len(calls) == len(clock.sleeps) + 1


def test_a_run_whose_outcome_is_never_recorded_answers_503_so_sns_delivers_again(
    endpoint: JobEndpoint, clock: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[int] = []

    def job(_payload: Mapping[str, Any], context: jobs.JobContext) -> None:
        ran.append(context.attempt)

    monkeypatch.setitem(jobs.REGISTRY, "count_job", job)
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(runs, "finish", _finish_that_fails(10_000, calls))
    outcome = endpoint._run("m-2", "count_job", {}, 1, False)
    assert (outcome.status, outcome.body) == (
        503,
        {"status": "unavailable", "reason": "database unavailable"},
    )
    assert ran == [1]
    assert clock.now - 1000.0 >= FINISH_RETRY_SECONDS


def test_a_run_recorded_on_a_later_attempt_answers_with_its_outcome(
    endpoint: JobEndpoint, clock: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(jobs.REGISTRY, "count_job", lambda _payload, _context: None)
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(runs, "finish", _finish_that_fails(3, calls))
    outcome = endpoint._run("m-3", "count_job", {}, 1, False)
    assert (outcome.status, outcome.body) == (200, {"status": "succeeded", "attempt": 1})
    assert len(calls) == 4
