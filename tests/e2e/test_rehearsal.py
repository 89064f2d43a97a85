"""End to end: the rehearsal of the deploy and the job flow, with failures on the real processes.

One rehearsal runs per module (PostgreSQL, moto's server, the built functions in the Lambda
runtime, the app). Tests run in any order: each reads what the deploy did or what it did itself,
and one that stops a process or adds a resource puts the stack back as it found it. Update and
Delete of the deployed resources, and the closing, end a rehearsal: test_demo_lifecycle.py has
them, on a rehearsal of its own.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import pytest

from bookapp.jobs import SEED_BOOKS
from bookapp.web import READY_CACHE_SECONDS
from harness.demo import APP_DIR, JOBS, LOG_RETENTION_DAYS, Rehearsal
from harness.lambda_runtime import (
    STACK_ID,
    LambdaFunction,
    custom_resource_event,
    run_custom_resource,
)
from harness.moto_server import moto_client
from harness.processes import PortInUseError, free_port, http_status, wait_until
from tests.e2e.conftest import CONTRACT_VARIABLES, app_log, job_answers, post_envelope
from tests.support.subscriber import CapturingSubscriber

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def _readyz_becomes(rehearsal: Rehearsal, status: int) -> bool:
    """/readyz answers from a probe up to READY_CACHE_SECONDS old: wait for the new state."""
    url = rehearsal.app_url + "/readyz"
    wait_until(
        lambda: http_status(url) == status or None,
        timeout=READY_CACHE_SECONDS + 10,
        what=f"/readyz to answer {status}",
    )
    return True


START_APP = "start the app (APP_ROLE=all) with the App Runner contract"


def test_every_deploy_step_succeeded_in_order(rehearsal: Rehearsal) -> None:
    names = [result.name for result in rehearsal.reporter.results]
    assert all(result.ok for result in rehearsal.reporter.results)
    assert names[0] == "check the sam build output"
    assert names.index("Custom::SecretEnvironment Create, SecretReference") < names.index(START_APP)
    assert names.index(START_APP) < names.index("Custom::HttpsSubscription Create")
    # As the deploy does: the migration runs after the subscription, and the app then works.
    migration = "Custom::JobRun Create: db_migrate through the job topic"
    assert names.index("Custom::HttpsSubscription Create") < names.index(migration)
    assert names.index(migration) < names.index("GET /books")


def test_the_app_runs_with_the_contract_the_built_template_gives_app_runner(
    rehearsal: Rehearsal,
) -> None:
    contract = rehearsal.contract
    assert contract is not None
    assert (contract.platform, contract.service) == ("AppRunner", "ApiService")
    assert contract.source == rehearsal.build_dir / "template.yaml"
    assert set(contract.environment) == CONTRACT_VARIABLES
    assert contract.environment["APP_ROLE"] == "all"
    assert contract.environment["PORT"] == str(rehearsal.app_port)
    assert contract.environment["JOB_TOPIC_ARN"] == rehearsal.resources.topic_arn
    assert contract.secrets == {
        "DATABASE_URL": f"{rehearsal.resources.target_secret_arn}:DATABASE_URL::"
    }
    for name, value in contract.environment.items():
        assert rehearsal.app_environment[name] == value, name


def test_the_deploys_job_run_migrated_the_schema_through_the_app_and_its_report(
    rehearsal: Rehearsal,
) -> None:
    message_id = rehearsal.physical_ids["Migrate"]
    [run] = [run for run in rehearsal.job_runs() if run["message_id"] == message_id]
    assert (run["job"], run["status"], run["attempts"]) == ("db_migrate", "succeeded", 1)
    assert rehearsal.schema_revision() == "0001"
    reported = [
        line
        for line in app_log(rehearsal, every_instance=True)
        if line.get("message_id") == message_id and line["message"] == "job result reported"
    ]
    assert len(reported) == 1
    # The function took its result off the queue.
    assert _queued_results(rehearsal) == []


def test_no_step_printed_a_secret(rehearsal: Rehearsal) -> None:
    assert rehearsal.postgres is not None
    password = rehearsal.postgres.password
    encoded = urllib.parse.quote(password, safe="")
    for result in rehearsal.reporter.results:
        assert password not in result.detail
        assert encoded not in result.detail


def test_the_app_reads_database_url_from_the_target_secret_as_app_runner_would(
    rehearsal: Rehearsal,
) -> None:
    secret = rehearsal.client("secretsmanager").get_secret_value(
        SecretId=rehearsal.resources.target_secret_arn
    )
    document = json.loads(secret["SecretString"])
    assert rehearsal.app_environment["DATABASE_URL"] == document["DATABASE_URL"]
    # The production URL's shape: the server verified by a CA bundle (here the throwaway CA of the
    # rehearsal's PostgreSQL), and the app connected with it (SCRAM, TLS).
    assert rehearsal.postgres is not None
    query = urllib.parse.urlsplit(document["DATABASE_URL"]).query
    assert urllib.parse.parse_qs(query) == {
        "sslmode": ["verify-full"],
        "sslrootcert": [str(rehearsal.postgres.ca_file)],
    }
    assert _readyz_becomes(rehearsal, 200)


def test_the_subscription_is_confirmed_and_points_at_the_job_endpoint(
    rehearsal: Rehearsal,
) -> None:
    arn = rehearsal.physical_ids["JobSubscription"]
    attributes = rehearsal.client("sns").get_subscription_attributes(SubscriptionArn=arn)
    assert attributes["Attributes"]["PendingConfirmation"] == "false"
    assert attributes["Attributes"]["Endpoint"] == f"{rehearsal.app_url}/jobs"


def test_each_job_the_deploy_published_ran_once_and_succeeded(rehearsal: Rehearsal) -> None:
    published = set(rehearsal.message_ids.values())
    runs = [run for run in rehearsal.job_runs() if run["message_id"] in published]
    assert sorted(run["job"] for run in runs) == sorted(JOBS)
    assert {run["status"] for run in runs} == {"succeeded"}
    assert {run["message_id"] for run in runs} == published


def test_books_lists_the_seeded_books(rehearsal: Rehearsal) -> None:
    books, _detail = rehearsal.check_books()
    assert sorted(book["isbn"] for book in books) == sorted(book["isbn"] for book in SEED_BOOKS)
    assert sorted(book["title"] for book in books) == sorted(book["title"] for book in SEED_BOOKS)


def test_a_secret_missing_a_template_field_fails_naming_the_variable(
    rehearsal: Rehearsal,
) -> None:
    secrets = rehearsal.client("secretsmanager")
    incomplete = secrets.create_secret(
        Name="rehearsal-incomplete",
        SecretString=json.dumps({"username": "u", "password": "never-shown-42"}),
    )["ARN"]
    properties = {
        "Delivery": "PlainText",
        "Generation": "1",
        "Variables": [
            {
                "Name": "REPORTING_URL",
                "SecretId": incomplete,
                "Template": "postgresql://{username}:{password}@{host}/{dbname}",
            }
        ],
    }
    body = rehearsal.custom_resource(
        "SecretEnvironmentFunction",
        "Create",
        "Custom::SecretEnvironment",
        "IncompleteEnvironment",
        properties,
    )
    assert body["Status"] == "FAILED"
    assert "REPORTING_URL" in body["Reason"]
    assert "never-shown-42" not in json.dumps(body)


def test_a_subscription_to_an_app_that_is_down_fails_within_its_confirmation_timeout(
    rehearsal: Rehearsal,
) -> None:
    properties = {
        **rehearsal.subscription_properties(),
        "Endpoint": f"http://127.0.0.1:{free_port()}/jobs",  # nothing listens: the app is down
        "ConfirmationTimeoutSeconds": "10",  # the smallest the function accepts
    }
    started = time.monotonic()
    body = rehearsal.custom_resource(
        "HttpsSubscriptionFunction",
        "Create",
        "Custom::HttpsSubscription",
        "DownSubscription",
        properties,
    )
    elapsed = time.monotonic() - started
    assert body["Status"] == "FAILED"
    assert "did not confirm" in body["Reason"]
    assert 10 <= elapsed < 30
    # CloudFormation deletes a resource whose Create failed: the pending subscription is skipped.
    rehearsal.physical_ids["DownSubscription"] = body["PhysicalResourceId"]
    deleted = rehearsal.custom_resource(
        "HttpsSubscriptionFunction",
        "Delete",
        "Custom::HttpsSubscription",
        "DownSubscription",
        properties,
    )
    assert deleted["Status"] == "SUCCESS"
    arn = str(body["PhysicalResourceId"])
    assert rehearsal.sns_proxy is not None
    assert rehearsal.sns_proxy.is_pending(arn)
    # SNS drops a pending subscription after 48 h and never delivers to it; moto would deliver
    # (and fail every Publish on the dead endpoint), so the test plays the expiry.
    rehearsal.client("sns").unsubscribe(SubscriptionArn=arn)


def test_a_forged_notification_is_refused_with_403_and_no_row(
    rehearsal: Rehearsal, capture: CapturingSubscriber
) -> None:
    message_id = rehearsal.publish("test_book_job")
    genuine = capture.envelope_of(message_id)
    forged = {
        **genuine,
        "MessageId": "00000000-0000-4000-8000-000000000403",
        "Message": json.dumps({"job": "db_seed", "payload": {}, "timestamp": 1764115200}),
    }
    status, _body = post_envelope(rehearsal, forged)
    assert status == 403
    assert forged["MessageId"] not in {run["message_id"] for run in rehearsal.job_runs()}


def test_a_notification_with_an_unknown_signature_version_is_refused(
    rehearsal: Rehearsal, capture: CapturingSubscriber
) -> None:
    message_id = rehearsal.publish("test_book_job")
    rehearsal.wait_for_run(message_id, timeout=15)
    # SNS's own signature, under a version the app does not know: refused before any download.
    unknown = {**capture.envelope_of(message_id), "SignatureVersion": "3"}
    status, body = post_envelope(rehearsal, unknown)
    assert (status, body) == (403, {"status": "rejected", "reason": "verification failed"})
    refusals = [
        line
        for line in app_log(rehearsal)
        if line["message"] == "job request rejected" and line.get("check") == "SignatureVersion"
    ]
    assert refusals
    assert "message_id" not in refusals[-1]


def test_a_forged_subscription_confirmation_is_never_confirmed(rehearsal: Rehearsal) -> None:
    # A subscription made through the rehearsal's SNS endpoint: it stays pending, and SNS's
    # SubscriptionConfirmation, with the token that would confirm it, goes to the subscriber.
    assert rehearsal.sns_proxy is not None
    proxy = rehearsal.sns_proxy
    subscriber = CapturingSubscriber("/confirmations")
    arn = moto_client("sns", proxy.url).subscribe(
        TopicArn=rehearsal.resources.topic_arn,
        Protocol="http",
        Endpoint=subscriber.url,
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    try:
        [genuine] = wait_until(
            lambda: (
                [b for b in subscriber.bodies if b["Type"] == "SubscriptionConfirmation"] or None
            ),
            timeout=10,
            what="the SubscriptionConfirmation of the new subscription",
        )
        other = {**genuine, "Token": "0" * len(genuine["Token"])}
        forgeries = {
            "another token": other,
            "another subscribe URL": {**genuine, "SubscribeURL": "https://example.org/confirm"},
            "unknown signature version": {**genuine, "SignatureVersion": "3"},
            "signature cut short": {**genuine, "Signature": genuine["Signature"][:-8]},
            "another topic's": {**genuine, "TopicArn": genuine["TopicArn"] + "-other"},
        }
        for name, forged in forgeries.items():
            status, body = post_envelope(rehearsal, forged)
            assert (status, body["status"]) == (403, "rejected"), name
            assert proxy.is_pending(arn), name
        assert not any(
            line["message"] == "subscription confirmed"
            and line.get("message_id") == genuine["MessageId"]
            for line in app_log(rehearsal)
        )
        # The same confirmation, untampered, does confirm it: the forgeries failed on their
        # signatures, not for want of a valid token.
        status, body = post_envelope(rehearsal, genuine)
        assert (status, body) == (200, {"status": "confirmed"})
        assert not proxy.is_pending(arn)
    finally:
        rehearsal.client("sns").unsubscribe(SubscriptionArn=arn)
        subscriber.close()


def test_the_same_notification_delivered_three_times_runs_once(
    rehearsal: Rehearsal, capture: CapturingSubscriber
) -> None:
    message_id = rehearsal.publish("test_book_job")  # delivery 1, by moto
    envelope = capture.envelope_of(message_id)
    for _ in range(2):  # deliveries 2 and 3: SNS retries reuse the MessageId
        status, _body = post_envelope(rehearsal, envelope)
        assert 200 <= status < 300
    runs = [run for run in rehearsal.job_runs() if run["message_id"] == message_id]
    assert len(runs) == 1
    assert runs[0]["status"] == "succeeded"
    assert runs[0]["attempts"] == 1


def test_a_failing_job_answers_5xx_so_sns_retries_and_each_attempt_is_recorded(
    rehearsal: Rehearsal, capture: CapturingSubscriber
) -> None:
    message_id = rehearsal.publish("test_book_job", {"fail": True})
    envelope = capture.envelope_of(message_id)
    first = rehearsal.wait_for_run(message_id, timeout=15)
    assert first["status"] == "failed"
    status, _body = post_envelope(rehearsal, envelope)  # the retry
    assert status >= 500
    again = [run for run in rehearsal.job_runs() if run["message_id"] == message_id]
    assert len(again) == 1
    assert again[0]["attempts"] == 2


def test_a_job_failing_transiently_answers_5xx_and_the_retry_records_it_succeeded(
    rehearsal: Rehearsal, capture: CapturingSubscriber
) -> None:
    # fail_attempts 1: the first run fails, SNS's retry (attempt 2) succeeds.
    message_id = rehearsal.publish("test_book_job", {"fail_attempts": 1})  # delivery 1, by moto
    envelope = capture.envelope_of(message_id)
    first = rehearsal.wait_for_run(message_id, timeout=15)
    assert (first["status"], first["attempts"]) == ("failed", 1)
    status, body = post_envelope(rehearsal, envelope)  # the retry
    assert status == 200, body
    assert body == {"status": "succeeded", "attempt": 2}
    runs = [run for run in rehearsal.job_runs() if run["message_id"] == message_id]
    assert [(run["status"], run["attempts"]) for run in runs] == [("succeeded", 2)]
    assert job_answers(rehearsal, message_id, count=2) == [500, 200]


def test_a_job_delivered_while_the_database_is_down_gets_503_and_its_retry_succeeds_later(
    rehearsal: Rehearsal, capture: CapturingSubscriber
) -> None:
    # The database is down before the delivery, so the app cannot claim the message: this is a
    # failed claim, not a job interrupted mid-run (tests/app covers that one).
    assert rehearsal.postgres is not None
    assert rehearsal.app is not None
    rehearsal.postgres.stop("immediate")
    try:
        # Published while the database is down: moto delivers once, the app answers 5xx.
        message_id = rehearsal.publish("test_book_job")
        envelope = capture.envelope_of(message_id)
        status, _body = post_envelope(rehearsal, envelope)
        assert status == 503
        assert _readyz_becomes(rehearsal, 503)
        assert http_status(rehearsal.app_url + "/healthz") == 200
        assert rehearsal.app.alive()
    finally:
        rehearsal.postgres.start()
    status, _body = post_envelope(rehearsal, envelope)  # SNS's retry, database back
    assert 200 <= status < 300
    run = rehearsal.wait_for_run(message_id, timeout=15)
    assert run["status"] == "succeeded"
    assert _readyz_becomes(rehearsal, 200)


def test_a_commit_acknowledged_just_before_the_database_crashes_is_kept(
    rehearsal: Rehearsal,
) -> None:
    # The tests take the database away with an immediate stop, a crash. Aurora loses nothing it
    # acknowledged, and neither may the rehearsal's: a job's claim lost this way made SNS's retry
    # run the job a second time.
    pg = rehearsal.postgres
    assert pg is not None
    # A lost commit needs the crash to come within the WAL writer's delay; the setting that
    # prevents it is checked directly.
    assert pg.psql("SHOW synchronous_commit", pg.dbname).strip() == "on"
    pg.psql("CREATE TABLE crash_check (n int); INSERT INTO crash_check VALUES (7)", pg.dbname)
    pg.stop("immediate")
    pg.start()
    try:
        assert pg.psql("SELECT sum(n) FROM crash_check", pg.dbname).strip() == "7"
    finally:
        pg.psql("DROP TABLE IF EXISTS crash_check", pg.dbname)
    assert _readyz_becomes(rehearsal, 200)


def test_a_database_stopped_while_a_job_runs_leaves_the_app_alive_and_the_job_recorded_once(
    rehearsal: Rehearsal, capture: CapturingSubscriber
) -> None:
    # The run has claimed its row when the database goes; the job ends while it is down, and the
    # app keeps retrying to record the outcome (FINISH_RETRY_SECONDS, 60 s) until it is back.
    pg, app = rehearsal.postgres, rehearsal.app
    assert pg is not None
    assert app is not None
    before = {run["message_id"] for run in rehearsal.job_runs()}
    published: list[str] = []
    # moto delivers during Publish and waits for the app's answer: publish from a thread.
    publisher = threading.Thread(
        target=lambda: published.append(rehearsal.publish("test_book_job", {"sleep_seconds": 3})),
        daemon=True,
    )
    publisher.start()

    def running() -> str | None:
        for run in rehearsal.job_runs():
            if run["message_id"] not in before and run["status"] == "running":
                return str(run["message_id"])
        return None

    message_id = wait_until(running, timeout=15, what="the new test_book_job run")

    def logged(message: str) -> bool | None:
        return (
            any(
                line.get("message_id") == message_id and line["message"] == message
                for line in app_log(rehearsal)
            )
            or None
        )

    # The job has read the books and sleeps: the database goes now, mid-run. (A fixed pause
    # after the claim is a race on a loaded machine: too short, the job's read fails; too long,
    # the job has finished and recorded its outcome before the database goes.)
    wait_until(lambda: logged("test_book_job sleeping"), timeout=15, what="the job's sleeping line")
    pg.stop("immediate")
    try:
        assert _readyz_becomes(rehearsal, 503)
        assert http_status(rehearsal.app_url + "/healthz") == 200
        assert app.alive()
        wait_until(
            lambda: logged("job outcome not recorded yet: retrying"),
            timeout=10,
            what="the app retrying to record the outcome",
        )
        assert app.alive()
    finally:
        pg.start()
    publisher.join(timeout=60)
    assert published == [message_id]
    # moto's delivery got its answer once the outcome was recorded.
    assert job_answers(rehearsal, message_id, count=1) == [200]
    status, body = post_envelope(rehearsal, capture.envelope_of(message_id))  # SNS's retry
    assert (status, body) == (200, {"status": "succeeded", "duplicate": True})
    runs = [run for run in rehearsal.job_runs() if run["message_id"] == message_id]
    assert [(run["status"], run["attempts"]) for run in runs] == [("succeeded", 1)]
    ran = [
        line
        for line in app_log(rehearsal)
        if line.get("message_id") == message_id and line["message"] == "test_book_job ran"
    ]
    assert len(ran) == 1
    assert _readyz_becomes(rehearsal, 200)


# -- Custom::JobRun: a failing migration, a timeout, two at once ---------------------------------

FAILING_REVISION = '''
"""A revision that creates a table and then fails inside PostgreSQL."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("shelves", sa.Column("id", sa.Integer, primary_key=True))
    op.execute("SELECT 1 / 0")


def downgrade() -> None:
    op.drop_table("shelves")
'''


def _queued_results(rehearsal: Rehearsal) -> list[dict[str, Any]]:
    """Every result visible on the results queue now, made visible again at once."""
    sqs = rehearsal.client("sqs")
    url = rehearsal.resources.result_queue_url
    found: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=5
        ).get("Messages", [])
        if not messages:
            break
        found.extend(messages)
    for message in found:
        sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    return found


def _table_exists(rehearsal: Rehearsal, name: str) -> bool:
    pg = rehearsal.postgres
    assert pg is not None
    return (
        pg.psql(f"SELECT to_regclass('public.{name}') IS NOT NULL", dbname=pg.dbname).strip() == "t"
    )


def test_a_failing_migration_fails_the_job_run_with_its_error_and_leaves_the_schema_unchanged(
    rehearsal: Rehearsal, tmp_path: Path
) -> None:
    # A new image whose migration fails: the app's source with one more, broken revision.
    broken = tmp_path / "app"
    shutil.copytree(APP_DIR, broken, ignore=shutil.ignore_patterns("__pycache__"))
    (broken / "bookapp" / "migrations" / "versions" / "v0002_shelves.py").write_text(
        FAILING_REVISION
    )
    rehearsal.replace_app(broken)
    try:
        warned: list[dict[str, Any]] = wait_until(
            lambda: [x for x in app_log(rehearsal) if "behind" in x["message"]] or None,
            timeout=15,
            what="the app's warning that its database is behind",
        )
        assert warned[0]["level"] == "WARNING"
        assert "at revision 0001, behind this image's head 0002" in warned[0]["message"]

        body = rehearsal.custom_resource(
            "JobRunFunction",
            "Update",
            "Custom::JobRun",
            "Migrate",
            rehearsal.job_run_properties("bookapp:broken"),
        )

        assert body["Status"] == "FAILED"
        [run] = [
            r for r in rehearsal.job_runs() if r["status"] == "failed" and r["job"] == "db_migrate"
        ]
        assert body["Reason"] == (
            f"Job db_migrate (message {run['message_id']}) failed on attempt 1: "
            "DivisionByZero: division by zero"
        )
        # The migration ran in one transaction: its rollback took the new table with it.
        assert rehearsal.schema_revision() == "0001"
        assert not _table_exists(rehearsal, "shelves")
        assert body["PhysicalResourceId"] == rehearsal.physical_ids["Migrate"]
    finally:
        # CloudFormation rolls the services back to the previous image.
        rehearsal.replace_app(APP_DIR)
    books, _detail = rehearsal.check_books()
    assert len(books) == len(SEED_BOOKS)


def test_a_job_run_that_gets_no_result_fails_after_its_timeout_saying_where_to_look(
    rehearsal: Rehearsal,
) -> None:
    # A topic nothing is subscribed to: the job is published, nobody runs it, no result comes.
    silent = rehearsal.client("sns").create_topic(Name=f"rehearsal-silent-{uuid.uuid4().hex[:6]}")
    topic = silent["TopicArn"]
    assert rehearsal.receiver is not None
    with rehearsal.job_run_function(topic_arn=topic, name="JobRunSilent") as function:
        event = custom_resource_event(
            "Create",
            "Custom::JobRun",
            {**rehearsal.job_run_properties("bookapp:1", timeout=10), "TopicArn": topic},
            function=function,
            receiver=rehearsal.receiver,
            logical_resource_id="SilentJob",
            stack_id=rehearsal.resources.stack_id,
        )
        started = time.monotonic()
        body = run_custom_resource(function, rehearsal.receiver, event, timeout=60)
        elapsed = time.monotonic() - started
    assert body["Status"] == "FAILED"
    message_id = body["PhysicalResourceId"]
    assert body["Reason"].startswith(
        f"Job db_migrate (message {message_id}) reported no result within 10 s."
    )
    assert "application log" in body["Reason"]
    assert "dead-letter queue" in body["Reason"]
    assert 10 <= elapsed < 30


def test_two_job_runs_waiting_at_once_each_get_their_own_result(rehearsal: Rehearsal) -> None:
    assert rehearsal.receiver is not None
    receiver = rehearsal.receiver
    sqs = rehearsal.client("sqs")
    # A result nobody here waits for (a third resource's): both must leave it where it is.
    other = json.dumps(
        {
            "message_id": str(uuid.uuid4()),
            "job": "db_seed",
            "status": "succeeded",
            "attempt": 1,
            "error": None,
            "finished_at": "2026-11-26T08:00:00+00:00",
        }
    )
    sqs.send_message(QueueUrl=rehearsal.resources.result_queue_url, MessageBody=other)
    runs = {
        "MigrateAgain": rehearsal.job_run_properties("bookapp:1"),
        "SlowBookJob": rehearsal.job_run_properties(
            "bookapp:1", job="test_book_job", Payload={"sleep_seconds": 2}
        ),
    }
    bodies: dict[str, dict[str, Any]] = {}
    functions: list[LambdaFunction] = []
    try:
        for index in range(len(runs)):
            function = rehearsal.job_run_function(name=f"JobRunConcurrent{index}").start()
            functions.append(function)

        def invoke(function: LambdaFunction, logical_id: str, props: dict[str, Any]) -> None:
            event = custom_resource_event(
                "Create",
                "Custom::JobRun",
                props,
                function=function,
                receiver=receiver,
                logical_resource_id=logical_id,
                stack_id=rehearsal.resources.stack_id,
            )
            bodies[logical_id] = run_custom_resource(function, receiver, event, timeout=60)

        threads = [
            threading.Thread(target=invoke, args=(function, logical_id, props), daemon=True)
            for function, (logical_id, props) in zip(functions, runs.items(), strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)
    finally:
        for function in functions:
            function.stop()
    assert set(bodies) == set(runs)
    for logical_id, body in bodies.items():
        assert body["Status"] == "SUCCESS", (logical_id, body.get("Reason"))
    by_id = {run["message_id"]: run for run in rehearsal.job_runs()}
    migrate_id = bodies["MigrateAgain"]["Data"]["MessageId"]
    book_id = bodies["SlowBookJob"]["Data"]["MessageId"]
    assert migrate_id != book_id
    assert (by_id[migrate_id]["job"], by_id[migrate_id]["status"]) == ("db_migrate", "succeeded")
    assert (by_id[book_id]["job"], by_id[book_id]["status"]) == ("test_book_job", "succeeded")
    # The other resource's result is still there, visible: neither waiter deleted or hid it.
    left = _queued_results(rehearsal)
    assert [message["Body"] for message in left] == [other]
    for message in left:
        sqs.delete_message(
            QueueUrl=rehearsal.resources.result_queue_url, ReceiptHandle=message["ReceiptHandle"]
        )


def _listening_addresses(table: Path, port: int) -> list[str]:
    """Local addresses (kernel hex) of the LISTEN sockets on `port` in /proc/net/tcp or tcp6."""
    if not table.exists():
        return []
    rows = [line.split() for line in table.read_text().splitlines()[1:]]
    # Columns: sl local_address rem_address st ...; state 0A is LISTEN.
    return [
        row[1].rsplit(":", 1)[0]
        for row in rows
        if row[3] == "0A" and int(row[1].rsplit(":", 1)[1], 16) == port
    ]


def test_the_app_listens_on_loopback_only(rehearsal: Rehearsal) -> None:
    port = rehearsal.app_port
    assert _listening_addresses(Path("/proc/net/tcp"), port) == ["0100007F"]  # 127.0.0.1
    assert _listening_addresses(Path("/proc/net/tcp6"), port) == []


def test_an_app_started_on_a_taken_port_reports_the_clash_and_leaves_no_process(
    rehearsal: Rehearsal,
) -> None:
    running, url = rehearsal.app, rehearsal.app_url
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        with pytest.raises(PortInUseError):
            rehearsal.launch_app(squatter.getsockname()[1])
    clashed = rehearsal.children[-1]
    assert clashed is not running
    assert not clashed.alive()
    assert (rehearsal.app, rehearsal.app_url) == (running, url)
    assert http_status(url + "/healthz") == 200


def test_the_apps_and_the_databases_log_groups_keep_the_stacks_retention(
    rehearsal: Rehearsal,
) -> None:
    service_id = rehearsal.resources.service_arn.rsplit("/", 1)[1]
    prefix = f"/aws/apprunner/rehearsal-api/{service_id}"
    assert rehearsal.log_groups() == {
        f"{prefix}/application": LOG_RETENTION_DAYS,
        f"{prefix}/service": LOG_RETENTION_DAYS,
        "/aws/rds/cluster/rehearsal-database/postgresql": LOG_RETENTION_DAYS,
    }
    assert rehearsal.physical_ids["ApiServiceLogRetention"] == prefix
    assert rehearsal.physical_ids["DatabaseLogRetention"] == "/aws/rds/cluster/rehearsal-database"


def test_the_log_retention_function_refuses_a_service_the_stack_does_not_have(
    rehearsal: Rehearsal,
) -> None:
    stranger = rehearsal.resources.service_arn.replace("rehearsal-api", "someone-elses-api")
    properties = rehearsal.log_retention_properties("ApiServiceLogRetention", 30, "Delete")
    properties["ResourceArn"] = stranger

    body = rehearsal.custom_resource(
        "LogRetentionFunction", "Create", "Custom::LogRetention", "Stranger", properties
    )

    assert body["Status"] == "FAILED"
    assert "is not a resource of this stack" in body["Reason"]
    assert not any("someone-elses-api" in group for group in rehearsal.log_groups())


def _plain_text_request(rehearsal: Rehearsal) -> dict[str, Any]:
    """A PlainText request for the database password: what an intruder would ask for."""
    assert rehearsal.receiver is not None
    function = rehearsal.functions["SecretEnvironmentFunction"]
    return custom_resource_event(
        "Create",
        "Custom::SecretEnvironment",
        {
            "Delivery": "PlainText",
            "Generation": "intruder",
            "Variables": [
                {
                    "Name": "STOLEN",
                    "SecretId": rehearsal.resources.database_secret_arn,
                    "Key": "password",
                }
            ],
        },
        function=function,
        receiver=rehearsal.receiver,
        logical_resource_id="Intruder",
        stack_id=rehearsal.resources.stack_id or STACK_ID,
    )


def test_the_built_function_refuses_a_request_of_another_stack(rehearsal: Rehearsal) -> None:
    assert rehearsal.receiver is not None
    event = _plain_text_request(rehearsal)
    event["StackId"] = STACK_ID.replace("stack/rehearsal/", "stack/intruder/")

    body = run_custom_resource(
        rehearsal.functions["SecretEnvironmentFunction"], rehearsal.receiver, event, timeout=60
    )

    assert body["Status"] == "FAILED"
    assert "serves only stack" in body["Reason"]
    assert body.get("Data") in ({}, None)
    assert rehearsal.postgres is not None
    assert rehearsal.postgres.password not in json.dumps(body)


def test_the_built_function_sends_nothing_to_a_response_url_that_is_not_cloudformations(
    rehearsal: Rehearsal,
) -> None:
    assert rehearsal.receiver is not None
    function = rehearsal.functions["SecretEnvironmentFunction"]
    event = _plain_text_request(rehearsal)
    # Same host, another port: not the configured local origin, not CloudFormation's bucket.
    event["ResponseURL"] = event["ResponseURL"].replace(
        f":{rehearsal.receiver.port}/", f":{rehearsal.receiver.port + 1}/"
    )

    result = function.invoke(event, timeout=60)

    assert result.ok, result.error
    assert rehearsal.receiver.bodies(str(event["RequestId"])) == []
    log = function.log_tail(200)
    assert "is not a CloudFormation response URL" in log
    assert rehearsal.postgres is not None
    assert rehearsal.postgres.password not in log


def test_a_target_naming_the_database_secret_by_partial_arn_is_refused_and_nothing_written(
    rehearsal: Rehearsal,
) -> None:
    secrets = rehearsal.client("secretsmanager")
    database = rehearsal.resources.database_secret_arn
    before = secrets.get_secret_value(SecretId=database)
    partial = database.removesuffix(database[-7:])  # without the "-XXXXXX" Secrets Manager adds
    properties = {
        **rehearsal.secret_environment_properties("SecretReference", "1"),
        "TargetSecretArn": partial,
    }

    body = rehearsal.custom_resource(
        "SecretEnvironmentFunction",
        "Create",
        "Custom::SecretEnvironment",
        "SelfTargetEnvironment",
        properties,
    )

    assert body["Status"] == "FAILED"
    assert "the target must be a secret of its own" in body["Reason"]
    after = secrets.get_secret_value(SecretId=database)
    assert (after["VersionId"], after["SecretString"]) == (
        before["VersionId"],
        before["SecretString"],
    )


def test_delete_of_a_secret_environment_leaves_its_target_secret_and_value(
    rehearsal: Rehearsal,
) -> None:
    secrets = rehearsal.client("secretsmanager")
    # A target of its own, as the template's: created without a value, outside the resource.
    target = secrets.create_secret(Name="rehearsal-delete-check-target")["ARN"]
    properties = {
        **rehearsal.secret_environment_properties("SecretReference", "1"),
        "TargetSecretArn": target,
    }
    try:
        created = rehearsal.custom_resource(
            "SecretEnvironmentFunction",
            "Create",
            "Custom::SecretEnvironment",
            "DeleteCheckEnvironment",
            properties,
        )
        assert created["Status"] == "SUCCESS", created["Reason"]
        written = secrets.get_secret_value(SecretId=target)

        deleted = rehearsal.custom_resource(
            "SecretEnvironmentFunction",
            "Delete",
            "Custom::SecretEnvironment",
            "DeleteCheckEnvironment",
            properties,
        )

        assert deleted["Status"] == "SUCCESS", deleted["Reason"]
        kept = secrets.get_secret_value(SecretId=target)
        assert (kept["VersionId"], kept["SecretString"]) == (
            written["VersionId"],
            written["SecretString"],
        )
        assert "DATABASE_URL" in json.loads(kept["SecretString"])
    finally:
        rehearsal.physical_ids.pop("DeleteCheckEnvironment", None)
        secrets.delete_secret(SecretId=target, ForceDeleteWithoutRecovery=True)


def test_delete_leaves_a_subscription_of_another_topic_alone(rehearsal: Rehearsal) -> None:
    sns = rehearsal.client("sns")
    other_topic = sns.create_topic(Name="rehearsal-someone-else")["TopicArn"]
    foreign = sns.subscribe(
        TopicArn=other_topic,
        Protocol="http",
        Endpoint=f"http://127.0.0.1:{free_port()}/elsewhere",  # never published to
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    # A Delete whose physical id is a subscription of another topic than its TopicArn.
    rehearsal.physical_ids["ForeignSubscription"] = foreign
    try:
        body = rehearsal.custom_resource(
            "HttpsSubscriptionFunction",
            "Delete",
            "Custom::HttpsSubscription",
            "ForeignSubscription",
            rehearsal.subscription_properties(),
        )

        assert body["Status"] == "SUCCESS", body["Reason"]
        assert body["PhysicalResourceId"] == foreign
        listed = sns.list_subscriptions_by_topic(TopicArn=other_topic)["Subscriptions"]
        assert [s["SubscriptionArn"] for s in listed] == [foreign]
        attributes = sns.get_subscription_attributes(SubscriptionArn=foreign)["Attributes"]
        assert attributes["PendingConfirmation"] == "false"
    finally:
        rehearsal.physical_ids.pop("ForeignSubscription", None)
        sns.unsubscribe(SubscriptionArn=foreign)
        sns.delete_topic(TopicArn=other_topic)
