"""The job_runs record directly: heartbeats, leases and who may finish a run.

The heartbeat keeps a long run (longer than SNS's 15 s timeout and App Runner's 120 s limit) from
being taken for abandoned, and only the owning attempt may record the outcome.
"""

from __future__ import annotations

import time
import uuid

import pytest
import sqlalchemy as sa

from bookapp import runs


@pytest.mark.usefixtures("clean_runs")
def test_heartbeat_keeps_a_long_run_claimed(engine: sa.Engine) -> None:
    message_id = str(uuid.uuid4())
    first = runs.claim(engine, message_id, "test_book_job", {})
    assert first.attempt == 1
    with runs.Heartbeat(engine, message_id, 1, interval=0.1):
        time.sleep(1.3)
        # With a 1 s lease the run would be abandoned without the heartbeat.
        again = runs.claim(engine, message_id, "test_book_job", {}, lease=1.0)
    assert (again.attempt, again.status) == (None, "running")


@pytest.mark.usefixtures("clean_runs")
def test_silent_run_is_claimed_again_after_its_lease(engine: sa.Engine) -> None:
    message_id = str(uuid.uuid4())
    runs.claim(engine, message_id, "test_book_job", {})
    time.sleep(1.1)
    assert runs.claim(engine, message_id, "test_book_job", {}, lease=1.0).attempt == 2


@pytest.mark.usefixtures("clean_runs")
def test_only_the_owning_attempt_records_the_outcome(engine: sa.Engine) -> None:
    message_id = str(uuid.uuid4())
    runs.claim(engine, message_id, "test_book_job", {})
    time.sleep(1.1)
    runs.claim(engine, message_id, "test_book_job", {}, lease=1.0)
    assert runs.finish(engine, message_id, 1, "succeeded") is False
    assert runs.finish(engine, message_id, 2, "succeeded") is True


@pytest.mark.usefixtures("clean_runs")
def test_lease_is_read_when_claiming_so_it_can_be_changed(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    message_id = str(uuid.uuid4())
    runs.claim(engine, message_id, "test_book_job", {})
    monkeypatch.setattr(runs, "LEASE_SECONDS", 0.5)
    time.sleep(0.6)
    assert runs.claim(engine, message_id, "test_book_job", {}).attempt == 2
