"""Job results (DESIGN §2.6): a message with "report": true gets its recorded outcome sent to the
results queue (moto's SQS), through the real app, real PostgreSQL and really signed messages.

Sent only after the outcome is in job_runs; a send that fails answers 5xx and SNS's retry, finding
the run finished, sends it again without running anything; nothing is sent without "report".
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from bookapp import jobs, results
from bookapp.config import ConfigError, load_settings
from bookapp.web import create_app
from tests.support.tls import TLS

from .conftest import Deliver, LoginRefused, job_runs
from .test_job_endpoint import post


def sqs(moto_url: str) -> Any:
    make: Any = boto3.client
    return make("sqs", endpoint_url=moto_url, region_name="us-east-1")


class SendSpy:
    """Wraps the SQS client the app uses: records the job_runs rows at the moment of each send,
    and fails the next `fail` sends."""

    def __init__(self, client: Any, engine: sa.Engine) -> None:
        self.client = client
        self.engine = engine
        self.rows_at_send: list[list[dict[str, Any]]] = []
        self.fail = 0
        self.lock = threading.Lock()

    def send_message(self, **kwargs: Any) -> Any:
        with self.lock:
            self.rows_at_send.append(job_runs(self.engine))
            if self.fail:
                self.fail -= 1
                raise self.client.exceptions.QueueDoesNotExist(
                    {"Error": {"Code": "AWS.SimpleQueueService.NonExistentQueue"}}, "SendMessage"
                )
        return self.client.send_message(**kwargs)


class Outbox:
    """The results queue in moto's SQS, and the spy in front of the app's client."""

    def __init__(self, moto_url: str, engine: sa.Engine) -> None:
        self.client = sqs(moto_url)
        self.url: str = self.client.create_queue(QueueName=f"job-results-{uuid.uuid4().hex[:8]}")[
            "QueueUrl"
        ]
        self.spy = SendSpy(self.client, engine)

    def sent(self) -> list[dict[str, Any]]:
        """Every result on the queue, taken off it."""
        bodies: list[dict[str, Any]] = []
        while True:
            messages = self.client.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                self.client.delete_message(
                    QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"]
                )


@pytest.fixture
def outbox(monkeypatch: pytest.MonkeyPatch, moto_url: str, engine: sa.Engine) -> Iterator[Outbox]:
    box = Outbox(moto_url, engine)
    monkeypatch.setattr(results, "sqs_client", lambda _region: box.spy)
    yield box
    box.client.delete_queue(QueueUrl=box.url)


@pytest.fixture
def reporting_client(
    app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, outbox: Outbox, clean_runs: None
) -> Iterator[TestClient]:
    monkeypatch.setenv("JOB_RESULTS_QUEUE_URL", outbox.url)
    with TestClient(create_app(), raise_server_exceptions=False) as test_client:
        yield test_client


class Runs:
    """A registered job that counts its runs and fails when asked to."""

    def __init__(self) -> None:
        self.count = 0
        self.fail = False

    def __call__(self, payload: Mapping[str, Any], ctx: jobs.JobContext) -> None:
        self.count += 1
        if self.fail:
            raise RuntimeError("report_job failed on purpose")


@pytest.fixture
def report_job(monkeypatch: pytest.MonkeyPatch) -> Runs:
    job = Runs()
    monkeypatch.setitem(jobs.REGISTRY, "report_job", job)
    return job


def reported(job: str, **extra: Any) -> dict[str, Any]:
    return {"job": job, "payload": {}, "timestamp": 1764115200, "report": True, **extra}


def test_a_succeeded_run_is_reported_after_its_outcome_is_recorded(
    reporting_client: TestClient,
    notification: Deliver,
    report_job: Runs,
    outbox: Outbox,
) -> None:
    envelope = notification(message=reported("report_job"))

    response = post(reporting_client, envelope)

    assert response.status_code == 200, response.text
    [result] = outbox.sent()
    [rows] = outbox.spy.rows_at_send
    [row] = rows
    # When the result was sent, the outcome was already recorded.
    assert (row["status"], row["finished_at"] is not None) == ("succeeded", True)
    assert result == {
        "message_id": envelope["MessageId"],
        "job": "report_job",
        "status": "succeeded",
        "attempt": 1,
        "error": None,
        "finished_at": row["finished_at"].isoformat(),
    }


def test_a_run_the_database_interrupted_is_not_reported_and_its_retry_is(
    reporting_client: TestClient,
    notification: Deliver,
    login_refused: LoginRefused,
    outbox: Outbox,
) -> None:
    # A report of "failed" would fail the deploy waiting on it (Custom::JobRun) for a database
    # that was only briefly away: the app answers 503 and reports the retry's outcome instead.
    envelope = notification(message=reported("login_refused_job"))

    assert post(reporting_client, envelope).status_code == 503
    assert outbox.sent() == []

    assert post(reporting_client, envelope).status_code == 200
    [result] = outbox.sent()
    assert (result["status"], result["attempt"]) == ("succeeded", 2)


def test_a_failed_run_is_reported_with_its_error_and_answered_500(
    reporting_client: TestClient,
    notification: Deliver,
    report_job: Runs,
    outbox: Outbox,
) -> None:
    report_job.fail = True
    envelope = notification(message=reported("report_job"))

    response = post(reporting_client, envelope)

    assert response.status_code == 500
    [result] = outbox.sent()
    assert (result["status"], result["attempt"]) == ("failed", 1)
    assert result["error"] == "RuntimeError: report_job failed on purpose"
    [[row]] = outbox.spy.rows_at_send
    assert row["status"] == "failed"


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (reported("no_such_job"), "unknown job 'no_such_job'"),
        (reported("db_seed", payload={"unexpected": 1}), "db_seed takes no payload"),
        (reported("test_book_job", payload="not an object"), '"payload" must be a JSON object'),
    ],
)
def test_a_rejected_run_is_reported_with_the_reason_and_answered_422(
    reporting_client: TestClient,
    notification: Deliver,
    outbox: Outbox,
    message: dict[str, Any],
    error: str,
) -> None:
    envelope = notification(message=message)

    response = post(reporting_client, envelope)

    assert response.status_code == 422
    [result] = outbox.sent()
    assert result["message_id"] == envelope["MessageId"]
    assert result["status"] == "rejected"
    assert result["error"] == error
    [[row]] = outbox.spy.rows_at_send
    assert (row["status"], row["error"]) == ("rejected", error)


def test_a_result_that_cannot_be_sent_answers_503_and_the_retry_sends_it_without_running_again(
    reporting_client: TestClient,
    notification: Deliver,
    report_job: Runs,
    engine: sa.Engine,
    outbox: Outbox,
) -> None:
    outbox.spy.fail = 1
    envelope = notification(message=reported("report_job"))

    first = post(reporting_client, envelope)

    assert first.status_code == 503
    assert first.json() == {"status": "unavailable", "reason": "job result not reported"}
    assert outbox.sent() == []
    [run] = job_runs(engine)
    assert run["status"] == "succeeded"

    retry = post(reporting_client, envelope)  # SNS retries the 503

    assert retry.status_code == 200
    assert retry.json() == {"status": "succeeded", "duplicate": True}
    assert report_job.count == 1
    [result] = outbox.sent()
    assert (result["message_id"], result["status"]) == (envelope["MessageId"], "succeeded")


def test_a_rejection_that_cannot_be_reported_answers_503_and_its_retry_reports_it(
    reporting_client: TestClient,
    notification: Deliver,
    outbox: Outbox,
) -> None:
    outbox.spy.fail = 1
    envelope = notification(message=reported("no_such_job"))

    assert post(reporting_client, envelope).status_code == 503
    assert post(reporting_client, envelope).status_code == 422

    [result] = outbox.sent()
    assert result["status"] == "rejected"


def test_a_finished_run_delivered_again_sends_its_result_again_and_runs_nothing(
    reporting_client: TestClient,
    notification: Deliver,
    report_job: Runs,
    outbox: Outbox,
) -> None:
    envelope = notification(message=reported("report_job"))

    post(reporting_client, envelope)
    post(reporting_client, envelope)

    first, second = outbox.sent()
    assert first == second
    assert report_job.count == 1


def test_nothing_is_reported_for_a_message_without_report(
    reporting_client: TestClient,
    notification: Deliver,
    report_job: Runs,
    outbox: Outbox,
) -> None:
    for message in (
        {"job": "report_job", "payload": {}},
        {"job": "report_job", "payload": {}, "report": False},
    ):
        assert post(reporting_client, notification(message=message)).status_code == 200

    assert outbox.spy.rows_at_send == []
    assert outbox.sent() == []
    assert report_job.count == 2


def test_a_report_that_is_not_a_boolean_is_rejected(
    reporting_client: TestClient, notification: Deliver, outbox: Outbox
) -> None:
    envelope = notification(message={"job": "db_seed", "payload": {}, "report": "yes"})

    response = post(reporting_client, envelope)

    assert response.status_code == 422
    assert response.json()["reason"] == '"report" must be true or false'
    assert outbox.sent() == []


def test_without_a_results_queue_report_is_ignored_and_that_is_logged_once(
    client: TestClient,
    notification: Deliver,
    report_job: Runs,
    outbox: Outbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="bookapp.job_endpoint")

    for _ in range(2):
        response = post(client, notification(message=reported("report_job")))
        assert response.status_code == 200

    assert report_job.count == 2
    assert outbox.spy.rows_at_send == []
    warnings = [r.getMessage() for r in caplog.records if "JOB_RESULTS_QUEUE_URL" in r.getMessage()]
    assert warnings == [
        "a job message asks for its result, but JOB_RESULTS_QUEUE_URL is not set: results are "
        "not reported (logged once)"
    ]


# -- configuration --------------------------------------------------------------------------------

BASE = {"DATABASE_URL": f"postgresql://u:p@db.example:5432/books?{TLS}"}


@pytest.mark.parametrize(
    "url",
    [
        "https://sqs.eu-west-1.amazonaws.com/123456789012/app-JobResultQueue-A1B2C3",
        "http://127.0.0.1:5000/123456789012/rehearsal-job-results",
    ],
)
def test_a_results_queue_url_is_read_from_the_environment(url: str) -> None:
    settings = load_settings({**BASE, "JOB_RESULTS_QUEUE_URL": url, "AWS_REGION": "eu-west-1"})
    assert settings.job_results_queue_url == url
    assert settings.results_region == "eu-west-1"


def test_without_the_variable_no_results_queue_is_set() -> None:
    assert load_settings(BASE).job_results_queue_url is None


@pytest.mark.parametrize(
    "url",
    [
        "sqs.eu-west-1.amazonaws.com/123456789012/q",
        "https://sqs.eu-west-1.amazonaws.com/q",
        "https://sqs.eu-west-1.amazonaws.com/123456789012/q.fifo",
        "https://sqs.eu-west-1.amazonaws.com/123456789012/q?x=1",
    ],
)
def test_a_results_queue_url_that_is_not_a_standard_queue_stops_the_app(url: str) -> None:
    with pytest.raises(ConfigError, match="JOB_RESULTS_QUEUE_URL is not the URL of a standard SQS"):
        load_settings({**BASE, "JOB_RESULTS_QUEUE_URL": url})
