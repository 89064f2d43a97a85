"""End to end: the rehearsal of the deploy and the job flow, with failures on the real processes.

One rehearsal runs per module (PostgreSQL, moto's server, both built functions in the Lambda
runtime, the app). Tests run in file order: the deploy checks, then the failure cases on the
running stack, then Update and Delete of the custom resources, then the check that nothing is
left behind.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from bookapp.jobs import SEED_BOOKS
from harness.demo import JOBS, LOG_RETENTION_DAYS, Rehearsal
from harness.lambda_runtime import STACK_ID, custom_resource_event, run_custom_resource
from harness.processes import PortInUseError, free_port, http_status, wait_until
from tests.e2e.conftest import app_log, job_answers, post_envelope
from tests.support.subscriber import CapturingSubscriber

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def test_every_deploy_step_succeeded_in_order(rehearsal: Rehearsal) -> None:
    names = [result.name for result in rehearsal.reporter.results]
    assert all(result.ok for result in rehearsal.reporter.results)
    assert names[0] == "check the sam build output"
    assert names.index("Custom::SecretEnvironment Create, SecretReference") < names.index(
        "start the app (APP_ROLE=all)"
    )
    assert names.index("start the app (APP_ROLE=all)") < names.index(
        "Custom::HttpsSubscription Create"
    )


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
    assert "sslmode=require" in document["DATABASE_URL"]


def test_the_subscription_is_confirmed_and_points_at_the_job_endpoint(
    rehearsal: Rehearsal,
) -> None:
    arn = rehearsal.physical_ids["JobSubscription"]
    attributes = rehearsal.client("sns").get_subscription_attributes(SubscriptionArn=arn)
    assert attributes["Attributes"]["PendingConfirmation"] == "false"
    assert attributes["Attributes"]["Endpoint"] == f"{rehearsal.app_url}/jobs"


def test_each_published_job_ran_once_and_succeeded(rehearsal: Rehearsal) -> None:
    runs = rehearsal.job_runs()
    assert sorted(run["job"] for run in runs) == sorted(JOBS)
    assert {run["status"] for run in runs} == {"succeeded"}
    assert {run["message_id"] for run in runs} == set(rehearsal.message_ids.values())


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
        assert http_status(rehearsal.app_url + "/readyz") == 503
        assert http_status(rehearsal.app_url + "/healthz") == 200
        assert rehearsal.app.alive()
    finally:
        rehearsal.postgres.start()
    status, _body = post_envelope(rehearsal, envelope)  # SNS's retry, database back
    assert 200 <= status < 300
    run = rehearsal.wait_for_run(message_id, timeout=15)
    assert run["status"] == "succeeded"
    assert http_status(rehearsal.app_url + "/readyz") == 200


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

    def retrying() -> bool | None:
        lines = app_log(rehearsal)
        message = "job outcome not recorded yet: retrying"
        return (
            any(
                line.get("message_id") == message_id and line["message"] == message
                for line in lines
            )
            or None
        )

    time.sleep(1)  # the job has counted the books and sleeps
    pg.stop("immediate")
    try:
        assert http_status(rehearsal.app_url + "/readyz") == 503
        assert http_status(rehearsal.app_url + "/healthz") == 200
        assert app.alive()
        wait_until(retrying, timeout=10, what="the app retrying to record the outcome")
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
    assert http_status(rehearsal.app_url + "/readyz") == 200


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


def test_update_and_delete_of_both_custom_resources_succeed(rehearsal: Rehearsal) -> None:
    rehearsal.update_and_delete()
    last_four = rehearsal.reporter.results[-4:]
    assert [result.name for result in last_four] == [
        "Custom::SecretEnvironment Update",
        "Custom::HttpsSubscription Update",
        "Custom::HttpsSubscription Delete",
        "Custom::SecretEnvironment Delete",
    ]
    assert all(result.ok for result in last_four)


def test_log_retention_was_updated_in_place_and_its_delete_removed_the_groups(
    rehearsal: Rehearsal,
) -> None:
    results = {result.name: result for result in rehearsal.reporter.results}
    assert results["Custom::LogRetention Update"].ok
    assert results["Custom::LogRetention Delete"].ok
    assert rehearsal.log_groups() == {}


def test_nothing_is_left_behind_after_the_rehearsal_closes(rehearsal: Rehearsal) -> None:
    pids = rehearsal.pids()
    folders = [rehearsal.workdir]
    if rehearsal.postgres is not None:
        folders.append(rehearsal.postgres.root)
    rehearsal.close()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    for folder in folders:
        assert not Path(folder).exists()
    assert rehearsal.postgres is not None
    for port in (rehearsal.postgres.port, rehearsal.app_port):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()


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
