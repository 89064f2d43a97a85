"""The SNS job endpoint through the real ASGI app, real PostgreSQL and really signed messages.

What is rejected (and leaves no trace), what is confirmed, and how each notification runs exactly
once however often and however concurrently SNS delivers it.
"""

from __future__ import annotations

import datetime
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from bookapp import aws, job_endpoint, jobs
from bookapp.sns import MAX_BODY_BYTES
from harness.postgres import PostgresServer
from harness.sns_signing import (
    CertificateServer,
    MessageType,
    Signer,
    TestCA,
    build_envelope,
    sign_envelope,
)

from .conftest import (
    OTHER_TOPIC_ARN,
    TOPIC_ARN,
    Deliver,
    LoginRefused,
    job_runs,
    run_concurrently,
)


def post(client: TestClient, envelope: Mapping[str, Any] | bytes, path: str = "/jobs") -> Any:
    body = envelope if isinstance(envelope, bytes) else json.dumps(envelope).encode()
    # SNS posts JSON as text/plain; the endpoint must not depend on the Content-Type.
    return client.post(path, content=body, headers={"Content-Type": "text/plain; charset=UTF-8"})


class Counter:
    """A registered job that counts its runs and can fail or sleep on demand."""

    def __init__(self, fail_first: int = 0, sleep: float = 0.0) -> None:
        self.runs = 0
        self.fail_first = fail_first
        self.sleep = sleep
        self.lock = threading.Lock()

    def __call__(self, payload: Mapping[str, Any], ctx: jobs.JobContext) -> None:
        with self.lock:
            self.runs += 1
            run = self.runs
        time.sleep(self.sleep)
        if run <= self.fail_first:
            raise RuntimeError("transient failure on purpose")


@pytest.fixture
def counter(monkeypatch: pytest.MonkeyPatch) -> Counter:
    job = Counter()
    monkeypatch.setitem(jobs.REGISTRY, "count_job", job)
    return job


# -- rejections: the right status and no row ----------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
def test_signed_notification_runs_its_job_with_either_signature_version(
    client: TestClient, notification: Deliver, engine: sa.Engine, version: str
) -> None:
    envelope = notification(signature_version=version)
    response = post(client, envelope)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "succeeded"
    [run] = job_runs(engine)
    assert run["message_id"] == envelope["MessageId"]
    assert (run["job"], run["status"], run["attempts"]) == ("test_book_job", "succeeded", 1)
    assert run["finished_at"] is not None


REJECTIONS = [
    "forged message",
    "signature of another message",
    "unknown signature version",
    "signature not base64",
    "wrong topic",
    "http certificate URL",
    "certificate URL with credentials",
    "foreign certificate host",
    "look-alike certificate host",
    "certificate host of another region",
    "certificate URL not .pem",
    "certificate URL not an SNS certificate's",
    "certificate URL with a port",
    "certificate URL with a query",
    "certificate not published",
    "older than the message age window",
    "from the future",
]
MESSAGE_TYPES = ["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"]
Build = Callable[..., dict[str, str]]


def tampered(  # noqa: PLR0912 - one branch per rejection case
    case: str, make: Build, signer: Signer, cert_url: str
) -> dict[str, str]:
    """An envelope (of whatever type `make` builds) that fails exactly one check."""
    host = "sns.us-east-1.amazonaws.com"
    now = datetime.datetime.now(datetime.UTC)
    envelope: dict[str, str]
    match case:
        case "forged message":
            envelope = make()
            if envelope["Type"] == "Notification":
                envelope["Message"] = json.dumps({"job": "db_seed", "payload": {}})
            else:  # a token of the forger's choosing: it would confirm another subscription
                envelope["Token"] = uuid.uuid4().hex * 4
        case "signature of another message":
            envelope = make()
            envelope["Signature"] = make()["Signature"]
        case "unknown signature version":
            envelope = make()
            sign_envelope(envelope, signer, "3")
        case "signature not base64":
            envelope = {**make(), "Signature": "***"}
        case "wrong topic":
            envelope = make(topic_arn=OTHER_TOPIC_ARN)
        case "http certificate URL":
            envelope = make(cert_url=cert_url.replace("https://", "http://"))
        case "certificate URL with credentials":
            envelope = make(cert_url=cert_url.replace(host, f"user@{host}"))
        case "foreign certificate host":
            envelope = make(cert_url=cert_url.replace(host, "example.org"))
        case "look-alike certificate host":
            envelope = make(cert_url=cert_url.replace(host, f"{host}.example.org"))
        case "certificate host of another region":
            envelope = make(cert_url=cert_url.replace(host, "sns.eu-west-1.amazonaws.com"))
        case "certificate URL not an SNS certificate's":
            envelope = make(cert_url=cert_url.replace("Service-", "Service-x"))
        case "certificate URL not .pem":
            envelope = make(cert_url=cert_url + ".txt")
        case "certificate URL with a port":
            envelope = make(cert_url=cert_url.replace(host, f"{host}:8443"))
        case "certificate URL with a query":
            envelope = make(cert_url=cert_url + "?x=1")
        case "certificate not published":
            unpublished = f"SimpleNotificationService-{uuid.uuid4().hex}.pem"
            envelope = make(cert_url=cert_url.rsplit("/", 1)[0] + "/" + unpublished)
        case "older than the message age window":
            # Signed for real, by SNS's key: a captured message replayed after SNS's retries.
            envelope = make(timestamp=now - datetime.timedelta(seconds=3901))
        case "from the future":
            envelope = make(timestamp=now + datetime.timedelta(seconds=301))
        case _:
            raise AssertionError(case)
    return envelope


@pytest.fixture
def builders(notification: Deliver, signer: Signer, cert_url: str) -> dict[str, Build]:
    """One envelope builder per message type, each signed by the test CA's SNS certificate."""

    def confirmation(kind: MessageType) -> Build:
        def make(**overrides: Any) -> dict[str, str]:
            return build_envelope(
                kind,
                signer=overrides.pop("signer", signer),
                cert_url=overrides.pop("cert_url", cert_url),
                topic_arn=overrides.pop("topic_arn", TOPIC_ARN),
                **overrides,
            )

        return make

    return {
        "Notification": notification,
        "SubscriptionConfirmation": confirmation("SubscriptionConfirmation"),
        "UnsubscribeConfirmation": confirmation("UnsubscribeConfirmation"),
    }


@pytest.fixture
def tamper(builders: dict[str, Build], signer: Signer, cert_url: str) -> Callable[..., Any]:
    return lambda case, kind="Notification": tampered(case, builders[kind], signer, cert_url)


@pytest.fixture
def confirm_calls(moto_url: str) -> list[dict[str, Any]]:
    """Every ConfirmSubscription the app's SNS client makes (to moto, behind the cert server)."""
    calls: list[dict[str, Any]] = []
    aws.sns_client("us-east-1").meta.events.register(
        "provide-client-params.sns.ConfirmSubscription",
        lambda params, **_: calls.append(dict(params)),
    )
    return calls


@pytest.mark.parametrize("kind", MESSAGE_TYPES)
@pytest.mark.usefixtures("counter")
def test_every_message_type_untampered_passes_the_checks_the_corpus_breaks(
    client: TestClient,
    builders: dict[str, Build],
    confirm_calls: list[dict[str, Any]],
    kind: str,
) -> None:
    # The corpus is only worth something if the same envelope, untampered, is accepted.
    aws.sns_client("us-east-1").create_topic(Name=TOPIC_ARN.rsplit(":", 1)[1])
    envelope = builders[kind]()
    response = post(client, envelope)
    assert response.status_code == 200, response.text
    assert len(confirm_calls) == (kind == "SubscriptionConfirmation")


@pytest.mark.parametrize("case", REJECTIONS)
@pytest.mark.parametrize("kind", MESSAGE_TYPES)
@pytest.mark.usefixtures("counter")
def test_a_tampered_message_of_any_type_answers_403_and_changes_nothing(
    *,
    client: TestClient,
    tamper: Callable[..., Any],
    engine: sa.Engine,
    confirm_calls: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    case: str,
    kind: str,
) -> None:
    envelope = tamper(case, kind)
    assert envelope["Type"] == kind
    capsys.readouterr()
    response = post(client, envelope)
    assert response.status_code == 403, (case, response.text)
    assert response.json() == {"status": "rejected", "reason": "verification failed"}
    assert job_runs(engine) == []
    assert confirm_calls == []  # never confirmed
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    # Nothing of the unverified message is logged but the check and the type.
    assert [line["message"] for line in lines if line["level"] == "WARNING"] == [
        "job request rejected"
    ]
    assert not any(envelope["MessageId"] in json.dumps(line) for line in lines), lines


def test_notification_signed_with_an_expired_certificate_is_rejected(
    client: TestClient,
    notification: Deliver,
    ca: TestCA,
    cert_server: CertificateServer,
    engine: sa.Engine,
) -> None:
    expired = ca.issue_signer(expired=True)
    envelope = notification(signer=expired, cert_url=cert_server.publish(expired))
    assert post(client, envelope).status_code == 403
    assert job_runs(engine) == []


def test_certificate_is_downloaded_once_and_then_served_from_the_cache(
    client: TestClient, ca: TestCA, cert_server: CertificateServer, notification: Deliver
) -> None:
    fresh = ca.issue_signer()
    url = cert_server.publish(fresh)
    for _ in range(3):
        assert post(client, notification(signer=fresh, cert_url=url)).status_code == 200
    assert cert_server.hits(url) == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b"[]", 400),
        (b'{"Type": "Notification"}', 400),
        (b'{"Type": "Advertisement", "MessageId": "x"}', 400),
        (b"\xff\xfe", 400),
        (b"{" + b" " * MAX_BODY_BYTES + b"}", 413),
    ],
    ids=["not-json", "not-an-object", "missing-fields", "unknown-type", "not-utf8", "oversized"],
)
def test_malformed_or_oversized_body_is_rejected_without_side_effects(
    client: TestClient, engine: sa.Engine, body: bytes, status: int
) -> None:
    assert post(client, body).status_code == status
    assert job_runs(engine) == []


def test_notification_with_a_missing_field_is_rejected_as_malformed(
    client: TestClient, notification: Deliver, engine: sa.Engine
) -> None:
    envelope = notification()
    del envelope["Timestamp"]
    assert post(client, envelope).status_code == 400
    assert job_runs(engine) == []


# -- confirmations ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.usefixtures("moto_url")
def test_subscription_confirmation_is_confirmed_with_authenticate_on_unsubscribe(
    client: TestClient, signer: Signer, cert_url: str, engine: sa.Engine, version: str
) -> None:
    sns = aws.sns_client("us-east-1")
    sns.create_topic(Name=TOPIC_ARN.rsplit(":", 1)[1])
    calls: list[dict[str, Any]] = []
    sns.meta.events.register(
        "provide-client-params.sns.ConfirmSubscription",
        lambda params, **_: calls.append(dict(params)),
    )
    envelope = build_envelope(
        "SubscriptionConfirmation",
        signer=signer,
        cert_url=cert_url,
        topic_arn=TOPIC_ARN,
        signature_version=version,
    )
    assert envelope["SignatureVersion"] == version
    response = post(client, envelope)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "confirmed"}
    assert calls == [
        {"TopicArn": TOPIC_ARN, "Token": envelope["Token"], "AuthenticateOnUnsubscribe": "true"}
    ]
    assert job_runs(engine) == []


def test_subscription_confirmation_that_sns_refuses_answers_503_so_it_is_retried(
    client: TestClient, signer: Signer, cert_url: str
) -> None:
    # A topic moto does not know: ConfirmSubscription fails with NotFound.
    envelope = build_envelope(
        "SubscriptionConfirmation",
        signer=signer,
        cert_url=cert_url,
        topic_arn=TOPIC_ARN,
    )
    sns = aws.sns_client("us-east-1")
    sns.delete_topic(TopicArn=TOPIC_ARN)
    assert post(client, envelope).status_code == 503


def test_subscription_confirmation_from_another_topic_is_not_confirmed(
    client: TestClient, signer: Signer, cert_url: str
) -> None:
    calls: list[object] = []
    aws.sns_client("us-east-1").meta.events.register(
        "provide-client-params.sns.ConfirmSubscription", lambda **kw: calls.append(kw)
    )
    envelope = build_envelope(
        "SubscriptionConfirmation", signer=signer, cert_url=cert_url, topic_arn=OTHER_TOPIC_ARN
    )
    assert post(client, envelope).status_code == 403
    assert calls == []


@pytest.mark.parametrize("version", ["1", "2"])
def test_unsubscribe_confirmation_is_acknowledged_and_nothing_runs(
    client: TestClient, signer: Signer, cert_url: str, engine: sa.Engine, version: str
) -> None:
    envelope = build_envelope(
        "UnsubscribeConfirmation",
        signer=signer,
        cert_url=cert_url,
        topic_arn=TOPIC_ARN,
        signature_version=version,
    )
    assert envelope["SignatureVersion"] == version
    response = post(client, envelope)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "acknowledged"}
    assert job_runs(engine) == []


# -- jobs that cannot work: recorded, answered 4xx (SNS must not retry) -------------------------


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"job": "no_such_job", "payload": {}}, "unknown job 'no_such_job'"),
        ({"job": "test_book_job", "payload": {"sleep_seconds": "long"}}, "sleep_seconds"),
        ({"job": "db_seed", "payload": {"unexpected": 1}}, "takes no payload"),
        ({"payload": {}}, '"job" name'),
        ("plain text", "not JSON"),
        # PostgreSQL cannot store NUL in text or jsonb: retrying could never record it.
        ({"job": "test_book_job", "payload": {"note": "a\u0000b"}}, "NUL character"),
        ({"job": "test_\u0000job", "payload": {}}, "NUL character"),
    ],
)
def test_job_that_can_never_run_is_recorded_as_rejected_and_answered_422(
    client: TestClient, notification: Deliver, engine: sa.Engine, message: Any, reason: str
) -> None:
    envelope = notification(message=message)
    response = post(client, envelope)
    assert response.status_code == 422
    assert reason in response.json()["reason"]
    [run] = job_runs(engine)
    assert run["status"] == "rejected"
    assert reason in run["error"]
    # A duplicate delivery gets the same answer and does not run anything.
    assert post(client, envelope).status_code == 422
    assert len(job_runs(engine)) == 1


# -- idempotency --------------------------------------------------------------------------------


def test_same_notification_delivered_at_once_runs_the_job_once(
    client: TestClient, notification: Deliver, engine: sa.Engine, counter: Counter
) -> None:
    counter.sleep = 1.0  # longer than the deliveries take to arrive
    envelope = notification(job="count_job")
    statuses = run_concurrently(6, lambda: post(client, envelope).status_code)
    assert sorted(statuses) == [200] + [503] * 5
    assert counter.runs == 1
    [run] = job_runs(engine)
    assert (run["status"], run["attempts"]) == ("succeeded", 1)
    # SNS retries the 503s later: they find the finished run and do not run it again.
    assert post(client, envelope).json() == {"status": "succeeded", "duplicate": True}
    assert counter.runs == 1


def test_retry_after_a_failure_runs_the_job_again_and_counts_attempts(
    client: TestClient, notification: Deliver, engine: sa.Engine, counter: Counter
) -> None:
    counter.fail_first = 2
    envelope = notification(job="count_job")
    first, second, third = (post(client, envelope) for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (500, 500, 200)
    assert "transient failure" not in first.text  # the error is recorded, not sent back
    [run] = job_runs(engine)
    assert (run["status"], run["attempts"], run["error"]) == ("succeeded", 3, None)
    assert counter.runs == 3


def test_failed_run_records_the_error(
    client: TestClient, notification: Deliver, engine: sa.Engine
) -> None:
    assert post(client, notification(payload={"fail": True})).status_code == 500
    [run] = job_runs(engine)
    assert run["status"] == "failed"
    assert "RuntimeError: test_book_job failed on request" in run["error"]


def test_test_book_job_fails_its_first_fail_attempts_runs_and_then_succeeds(
    client: TestClient, notification: Deliver, engine: sa.Engine
) -> None:
    envelope = notification(payload={"fail_attempts": 2})
    statuses = [post(client, envelope).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    [run] = job_runs(engine)
    assert (run["status"], run["attempts"], run["error"]) == ("succeeded", 3, None)
    assert post(client, envelope).json() == {"status": "succeeded", "duplicate": True}


def test_test_book_job_records_which_attempt_failed_on_request(
    client: TestClient, notification: Deliver, engine: sa.Engine
) -> None:
    assert post(client, notification(payload={"fail_attempts": 1})).status_code == 500
    [run] = job_runs(engine)
    assert run["status"] == "failed"
    assert "attempt 1, payload fail_attempts=1" in run["error"]


@pytest.mark.parametrize("value", [-1, 11, 1.5, True, "2", None])
def test_test_book_job_refuses_fail_attempts_outside_0_to_10(
    client: TestClient, notification: Deliver, engine: sa.Engine, value: Any
) -> None:
    response = post(client, notification(payload={"fail_attempts": value}))
    assert response.status_code == 422
    assert "fail_attempts must be a whole number from 0 to 10" in response.json()["reason"]
    [run] = job_runs(engine)
    assert run["status"] == "rejected"


def _insert_running(engine: sa.Engine, message_id: str, heartbeat_age_s: int) -> None:
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO job_runs (message_id, job, payload, status, attempts, started_at, "
                "heartbeat_at) VALUES (:m, 'count_job', '{}', 'running', 1, "
                "now() - make_interval(secs => :age), now() - make_interval(secs => :age))"
            ),
            {"m": message_id, "age": heartbeat_age_s},
        )


def test_delivery_while_the_job_runs_elsewhere_answers_503(
    client: TestClient, notification: Deliver, engine: sa.Engine, counter: Counter
) -> None:
    envelope = notification(job="count_job")
    _insert_running(engine, envelope["MessageId"], heartbeat_age_s=100)
    response = post(client, envelope)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "20"
    assert counter.runs == 0


def test_run_silent_for_longer_than_the_request_limit_is_abandoned_and_runs_again(
    client: TestClient, notification: Deliver, engine: sa.Engine, counter: Counter
) -> None:
    envelope = notification(job="count_job")
    _insert_running(engine, envelope["MessageId"], heartbeat_age_s=121)
    assert post(client, envelope).status_code == 200
    assert counter.runs == 1
    [run] = job_runs(engine)
    assert (run["status"], run["attempts"]) == ("succeeded", 2)


def test_database_outage_answers_503_and_the_retry_runs_the_job(
    client: TestClient, notification: Deliver, engine: sa.Engine, pg: PostgresServer
) -> None:
    envelope = notification()
    pg.stop()
    try:
        assert post(client, envelope).status_code == 503
    finally:
        pg.start()
    assert post(client, envelope).status_code == 200
    assert [r["status"] for r in job_runs(engine)] == ["succeeded"]


def test_a_job_the_database_refuses_to_log_in_is_interrupted_with_503_and_the_retry_runs_it(
    capsys: pytest.CaptureFixture[str],
    client: TestClient,
    notification: Deliver,
    engine: sa.Engine,
    login_refused: LoginRefused,
) -> None:
    # As on an old instance after a rotation: the claim used a pooled connection, the job needs a
    # new one, and the server refuses the old password. Not the job's failure: SNS should retry.
    envelope = notification(job="login_refused_job")
    capsys.readouterr()
    first = post(client, envelope)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    assert first.status_code == 503
    assert first.headers["Retry-After"] == "20"
    assert first.json() == {"status": "unavailable", "reason": "database unavailable", "attempt": 1}
    [run] = job_runs(engine)
    assert run["status"] == "failed"  # claimable again at once
    assert run["error"].startswith("interrupted, database unavailable: OperationalError: ")
    assert "rotated-away" not in run["error"]
    messages = [line["message"] for line in lines if line["logger"] == "bookapp.job_endpoint"]
    # Neither "job finished" (the metric filters count it) nor "job failed".
    assert messages == ["job interrupted: database unavailable"]

    second = post(client, envelope)
    assert second.status_code == 200
    assert second.json() == {"status": "succeeded", "attempt": 2}
    assert login_refused.runs == 2


def _statement_timeout(payload: Mapping[str, Any], ctx: jobs.JobContext) -> None:
    with ctx.engine.begin() as connection:
        connection.exec_driver_sql("SET LOCAL statement_timeout = '50ms'")
        connection.exec_driver_sql("SELECT pg_sleep(2)")


def _too_many_parameters(payload: Mapping[str, Any], ctx: jobs.JobContext) -> None:
    count = 70_000
    with ctx.engine.connect() as connection:
        connection.exec_driver_sql(
            f"SELECT 1 WHERE 1 IN ({', '.join(['%s'] * count)})", tuple(range(count))
        )


@pytest.mark.parametrize(
    ("job", "error"),
    [
        # A statement timeout is an OperationalError too, but the database was there.
        (_statement_timeout, "QueryCanceled: "),
        # psycopg refuses more than 65,535 parameters with an OperationalError that has no
        # SQLSTATE, as a refused connection has: the job would fail so on every retry.
        (_too_many_parameters, "OperationalError: "),
    ],
    ids=["statement timeout", "too many parameters"],
)
def test_a_job_whose_own_statement_fails_is_a_failed_job_answered_500(
    *,
    client: TestClient,
    notification: Deliver,
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    job: jobs.JobFunction,
    error: str,
) -> None:
    monkeypatch.setitem(jobs.REGISTRY, "own_failure_job", job)
    response = post(client, notification(job="own_failure_job"))
    assert response.status_code == 500
    [run] = job_runs(engine)
    assert run["status"] == "failed"
    assert run["error"].startswith(error)


def test_job_path_is_configurable(
    app_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    notification: Deliver,
    clean_runs: None,
) -> None:
    from bookapp.web import create_app  # noqa: PLC0415

    monkeypatch.setenv("JOB_PATH", "/hooks/sns")
    with TestClient(create_app()) as client:
        assert post(client, notification(), path="/hooks/sns").status_code == 200
        assert post(client, notification(), path="/jobs").status_code == 404


def test_job_logs_are_json_lines_with_request_and_message_ids(
    capsys: pytest.CaptureFixture[str], client: TestClient, notification: Deliver
) -> None:
    envelope = notification()
    capsys.readouterr()
    post(client, envelope)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    finished = [line for line in lines if line["message"] == "job finished"]
    assert finished, lines
    assert finished[0]["message_id"] == envelope["MessageId"]
    assert finished[0]["run_status"] == "succeeded"
    assert len(finished[0]["request_id"]) == 32
    assert all(line["level"] in {"INFO", "WARNING", "ERROR"} for line in lines)


def test_a_quick_job_logs_one_line_for_its_run_besides_the_access_line(
    capsys: pytest.CaptureFixture[str], client: TestClient, notification: Deliver
) -> None:
    envelope = notification()
    capsys.readouterr()
    post(client, envelope)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    # The job's own lines (bookapp.jobs) and the test client's aside: the app's for a delivery.
    endpoint = [
        line
        for line in lines
        if line["logger"].startswith("bookapp.") and line["logger"] != "bookapp.jobs"
    ]
    assert [line["message"] for line in endpoint] == ["job finished", "request"], lines
    assert endpoint[0]["attempt"] == 1
    assert endpoint[0]["duration_ms"] >= 0


def test_rejection_log_names_the_failed_check(
    capsys: pytest.CaptureFixture[str], client: TestClient, notification: Deliver
) -> None:
    capsys.readouterr()
    post(client, notification(topic_arn=OTHER_TOPIC_ARN))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    [rejected] = [line for line in lines if line["message"] == "job request rejected"]
    assert rejected["check"] == "TopicArn"


def _wait_for(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_database_lost_while_the_job_runs_records_the_outcome_when_it_is_back(
    *,
    client: TestClient,
    notification: Deliver,
    engine: sa.Engine,
    pg: PostgresServer,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    envelope = notification(payload={"sleep_seconds": 3})
    capsys.readouterr()
    answers: list[Any] = []
    delivery = threading.Thread(target=lambda: answers.append(post(client, envelope)))
    delivery.start()

    def logged(message: str) -> bool:
        return any(record.getMessage() == message for record in list(caplog.records))

    # The job has read its books and sleeps: the database goes now, mid-run (a fixed pause
    # after the claim is a race on a loaded machine, either way).
    _wait_for(lambda: logged("test_book_job sleeping"), 10)
    pg.stop()
    try:
        # The job ends meanwhile; recording its outcome fails and is retried.
        _wait_for(lambda: logged("job outcome not recorded yet: retrying"), 10)
    finally:
        pg.start()
    delivery.join(timeout=60)
    assert [a.status_code for a in answers] == [200], [a.text for a in answers]
    # SNS retries (its 15 s passed long ago): the outcome is there, nothing runs again.
    assert post(client, envelope).json() == {"status": "succeeded", "duplicate": True}
    [run] = job_runs(engine)
    assert (run["status"], run["attempts"]) == ("succeeded", 1)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    assert [line["message"] for line in lines].count("test_book_job ran") == 1
    assert any(line["message"] == "job outcome not recorded yet: retrying" for line in lines)


def test_outcome_that_cannot_be_recorded_in_time_answers_503(
    client: TestClient,
    notification: Deliver,
    pg: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(job_endpoint, "FINISH_RETRY_SECONDS", 1.0)
    counter_stops_database = Counter()

    def job(payload: Mapping[str, Any], ctx: jobs.JobContext) -> None:
        counter_stops_database(payload, ctx)
        pg.stop()

    monkeypatch.setitem(jobs.REGISTRY, "count_job", job)
    try:
        response = post(client, notification(job="count_job"))
    finally:
        pg.start()
    assert response.status_code == 503
    assert response.json()["reason"] == "database unavailable"
    assert counter_stops_database.runs == 1


def test_run_taken_over_by_another_attempt_answers_200_superseded_and_records_nothing(
    client: TestClient,
    notification: Deliver,
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def overtaken(payload: Mapping[str, Any], ctx: jobs.JobContext) -> None:
        # As if this run's lease had expired and a later delivery had claimed it (attempt 2).
        with ctx.engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE job_runs SET attempts = 2 WHERE message_id = :m"),
                {"m": ctx.message_id},
            )

    monkeypatch.setitem(jobs.REGISTRY, "count_job", overtaken)
    capsys.readouterr()
    response = post(client, notification(job="count_job"))
    assert response.status_code == 200
    assert response.json() == {"status": "succeeded", "attempt": 1, "superseded": True}
    [run] = job_runs(engine)
    assert (run["status"], run["attempts"], run["finished_at"]) == ("running", 2, None)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    [warning] = [line for line in lines if line["level"] == "WARNING"]
    assert warning["message"] == "outcome not recorded: attempt 1 no longer owns the run"


def test_a_job_failing_with_a_nul_in_its_error_is_recorded_as_failed_and_retried(
    client: TestClient, notification: Deliver, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fails_with_nul(payload: Mapping[str, Any], context: Any) -> None:
        raise RuntimeError("broken\x00value")

    monkeypatch.setitem(jobs.REGISTRY, "nul_failure", fails_with_nul)
    response = post(client, notification("nul_failure"))
    assert response.status_code == 500
    [run] = job_runs(engine)
    assert run["status"] == "failed"
    assert run["error"] == "RuntimeError: broken\\0value"
