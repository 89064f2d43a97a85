"""End to end: the database password rotates under load and the built follower follows it.

A rehearsal of its own (PostgreSQL, moto, the built functions, the app) and `harness.rotation`:
the password is rotated the way AWS's single-user PostgreSQL rotation function does it, the
"Secret Label Updated" event goes to the built follower in the Lambda runtime, the follower writes
the target secret and calls StartDeployment on a local App Runner stand-in, which starts a new app
instance reading the new DATABASE_URL and moves traffic to it. Meanwhile one thread reads the books
API and another publishes jobs that SNS (moto) pushes to the job endpoint, both through the front
door; every request that does not succeed is counted.

The goal is zero. With single-user rotation the old password stops working at setSecret, so the old
instance fails the few requests that need a new database connection before the new instance takes
the traffic (1 or 2 in about 400 here; docs/rotation.md). What is asserted: none fails once the new
instance serves, every failure is the old instance's 503 (no crash, no lost connection), no job
delivery that failed is lost or counted as a failed job (unclaimed, or its run recorded as
interrupted: SNS's retry runs it), and there are at most a handful.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import pytest

from harness.demo import Rehearsal
from harness.processes import http_status
from harness.rotation import SERVICE_ARN, RotationRehearsal

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


@dataclass
class Load:
    """Steady traffic through the front door: GET /books, and jobs published to the topic."""

    url: str
    sns: Any
    topic_arn: str
    books: list[tuple[float, int]] = field(default_factory=list)  # (started, status)
    publish_errors: list[str] = field(default_factory=list)
    message_ids: list[tuple[float, str]] = field(default_factory=list)  # (published, id)
    stopping: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for target in (self._read_books, self._publish_jobs):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _read_books(self) -> None:
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                with urllib.request.urlopen(f"{self.url}/books", timeout=10) as response:  # noqa: S310
                    self.books.append((started, response.status))
            except urllib.error.HTTPError as error:
                self.books.append((started, error.code))
            except OSError:
                self.books.append((started, 0))
            time.sleep(0.02)

    def _publish_jobs(self) -> None:
        while not self.stopping.is_set():
            message = {"job": "test_book_job", "payload": {}, "timestamp": int(time.time())}
            started = time.monotonic()
            try:
                published = self.sns.publish(
                    TopicArn=self.topic_arn,
                    Message=json.dumps(message),
                    MessageAttributes={
                        "job": {"DataType": "String", "StringValue": "test_book_job"}
                    },
                )
                self.message_ids.append((started, published["MessageId"]))
            except Exception as error:  # counted as a failed delivery
                self.publish_errors.append(type(error).__name__)
            time.sleep(0.1)


@dataclass
class Outcome:
    load: Load
    rotated_at: float
    follower_result: Any
    repeated_result: Any
    old_url: str = field(repr=False)
    new_password: str = field(repr=False)
    target_versions_after_first: int = 0
    target_versions_after_repeat: int = 0


@pytest.fixture(scope="module")
def rotation(rehearsal: Rehearsal) -> RotationRehearsal:
    rotation = RotationRehearsal(rehearsal)
    rotation.start()
    return rotation


@pytest.fixture(scope="module")
def outcome(rehearsal: Rehearsal, rotation: RotationRehearsal) -> Outcome:
    assert rotation.front_door is not None
    assert rotation.app_runner is not None
    secrets = rehearsal.client("secretsmanager")
    target = rehearsal.resources.target_secret_arn
    load = Load(rotation.front_door.url, rehearsal.client("sns"), rehearsal.resources.topic_arn)
    load.start()
    try:
        time.sleep(2)  # steady state: every worker holds its pooled connections
        rotated_at = time.monotonic()
        rotated = rotation.rotate()
        time.sleep(1)  # the window: the old password no longer opens a connection
        first = rotation.deliver(rotation.event(rotated.version_id))
        rotation.app_runner.wait_idle(timeout=90)
        after_first = len(secrets.list_secret_version_ids(SecretId=target)["Versions"])
        time.sleep(2)  # traffic on the new instance
        repeated = rotation.deliver(rotation.event(rotated.version_id))
        after_repeat = len(secrets.list_secret_version_ids(SecretId=target)["Versions"])
    finally:
        load.stop()
    return Outcome(
        load=load,
        rotated_at=rotated_at,
        follower_result=first,
        repeated_result=repeated,
        old_url=rotated.old_database_url,
        new_password=rotated.new_password,
        target_versions_after_first=after_first,
        target_versions_after_repeat=after_repeat,
    )


def test_the_follower_wrote_the_new_password_and_started_exactly_one_deployment(
    rehearsal: Rehearsal, rotation: RotationRehearsal, outcome: Outcome
) -> None:
    assert rotation.app_runner is not None
    assert outcome.follower_result["status"] == "followed"
    assert outcome.follower_result["target_written"] is True
    assert outcome.follower_result["services"] == {SERVICE_ARN: "deployed"}
    document = json.loads(
        rehearsal.client("secretsmanager").get_secret_value(
            SecretId=rehearsal.resources.target_secret_arn
        )["SecretString"]
    )
    assert rotation.password_in(document["DATABASE_URL"]) == outcome.new_password
    assert rotation.password_in(rehearsal.app_environment["DATABASE_URL"]) == outcome.new_password
    assert rotation.app_runner.start_deployments(SERVICE_ARN) == 1
    assert rotation.app_runner.errors == []


def test_a_repeated_event_writes_nothing_and_deploys_nothing(
    rotation: RotationRehearsal, outcome: Outcome
) -> None:
    assert rotation.app_runner is not None
    assert outcome.repeated_result["target_written"] is False
    assert outcome.repeated_result["services"] == {SERVICE_ARN: "already-deployed"}
    assert outcome.target_versions_after_repeat == outcome.target_versions_after_first
    assert rotation.app_runner.start_deployments(SERVICE_ARN) == 1


def test_requests_fail_only_in_the_window_and_only_as_the_old_instances_503(
    rehearsal: Rehearsal, rotation: RotationRehearsal, outcome: Outcome
) -> None:
    assert rotation.front_door is not None
    switched = rotation.front_door.switched_at
    assert switched is not None
    load = outcome.load
    runs = {run["message_id"]: run for run in rehearsal.job_runs()}
    failed_books = [(at, status) for at, status in load.books if status != 200]
    failed_jobs = [
        (at, message_id)
        for at, message_id in load.message_ids
        if runs.get(message_id, {}).get("status") != "succeeded"
        or runs[message_id]["attempts"] != 1
    ]
    failures = len(failed_books) + len(failed_jobs) + len(load.publish_errors)
    summary = (
        f"{failures} failed of {len(load.books)} book reads and {len(load.message_ids)} jobs: "
        f"books {[status for _, status in failed_books]}, jobs {len(failed_jobs)}, "
        f"publish errors {load.publish_errors[:5]}"
    )
    print(f"rotation under load: {summary}")  # the number docs/rotation.md reports

    assert len(load.books) > 50, "the books load did not run"
    assert len(load.message_ids) > 20, "the job load did not run"
    assert rotation.drain_timeouts == 0
    # Once the new instance serves, nothing fails.
    assert [at for at, _ in failed_books + failed_jobs if at > switched] == [], summary
    # Before, only the old instance's answer to a failed new connection: 503, never a dropped
    # connection (0) or a crash.
    assert {status for _, status in failed_books} <= {503}, summary
    assert load.publish_errors == [], summary
    # No job is lost and none counts as failed: a delivery that failed in the window is one SNS
    # delivers again. Either it was answered 503 before its claim (no run recorded), or it was
    # claimed on a pooled connection and the job then needed a new one (on a busy pool), which
    # the old password no longer opens: the app records that run as interrupted (failed, so the
    # retry claims it at once, but no "job finished" line counts it) and answers 503 too. Never
    # a run left running (the retry would wait for the lease) or recorded as succeeded.
    interrupted = "interrupted, database unavailable: "
    assert [
        runs[message_id]
        for _, message_id in failed_jobs
        if message_id in runs
        and (
            runs[message_id]["status"] != "failed"
            or runs[message_id]["attempts"] != 1
            or not str(runs[message_id]["error"]).startswith(interrupted)
        )
    ] == []
    # In the window the old instance kept serving on the connections it held: most requests
    # there succeeded.
    window = [status for at, status in load.books if outcome.rotated_at <= at <= switched]
    assert len(window) > 10, "the window saw too little traffic to judge"
    assert sum(status != 200 for status in window) * 4 < len(window), summary


def test_an_instance_still_holding_the_old_password_answers_503_and_stays_alive(
    rehearsal: Rehearsal, outcome: Outcome
) -> None:
    # An instance that started before the follower wrote the target (or a stale one): its new
    # connections fail authentication. That is a 503, not a crash.
    saved = (rehearsal.app, rehearsal.app_port, rehearsal.app_environment)
    try:
        rehearsal.start_app(overrides={"DATABASE_URL": outcome.old_url})
        stale = rehearsal.app
        assert stale is not None
        assert http_status(f"{rehearsal.app_url}/books", timeout=15) == 503
        assert http_status(f"{rehearsal.app_url}/readyz", timeout=15) == 503
        assert http_status(f"{rehearsal.app_url}/healthz") == 200
        assert stale.alive()
        log = stale.output()
        assert urllib.parse.quote(outcome.new_password, safe="") not in log
        assert "password authentication failed" in log or "OperationalError" in log
        stale.stop()
    finally:
        rehearsal.app, rehearsal.app_port, rehearsal.app_environment = saved
