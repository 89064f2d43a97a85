"""The SNS deliveries in `events/sns/` are ones the app accepts, field for field.

The files carry placeholder signatures (SNS's signing key is not ours), so each is signed again here
with the test CA's key, keeping every other field of the file: type, MessageId, topic, message,
token and subscribe URL. The envelope that is posted has exactly the fields of the file, so a file
missing a field SNS sends, or carrying one it does not, fails here; so does a message the app would
refuse.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from bookapp import aws
from harness.sns_signing import Signer, build_envelope
from tests.app.conftest import TOPIC_ARN, job_runs
from tests.support.events import load_event


def resigned(name: str, signer: Signer, cert_url: str) -> tuple[dict[str, Any], dict[str, str]]:
    event = load_event(name)
    envelope = build_envelope(
        event["Type"],
        signer=signer,
        cert_url=cert_url,
        topic_arn=event["TopicArn"],
        message=event["Message"],
        message_id=event["MessageId"],
        signature_version=event["SignatureVersion"],
        token=event.get("Token"),
        subscribe_url=event.get("SubscribeURL"),
    )
    assert set(envelope) == set(event), name
    return event, envelope


def post(client: TestClient, envelope: dict[str, str]) -> Any:
    body = json.dumps(envelope).encode()
    return client.post("/jobs", content=body, headers={"Content-Type": "text/plain; charset=UTF-8"})


def test_the_event_files_come_from_the_topic_the_app_serves() -> None:
    for name in ("notification-db-migrate", "notification-test-book-job"):
        assert load_event(f"sns/{name}")["TopicArn"] == TOPIC_ARN


@pytest.mark.parametrize(
    "case",
    [("notification-db-migrate", "db_migrate"), ("notification-test-book-job", "test_book_job")],
    ids=["db_migrate", "test_book_job"],
)
def test_a_notification_event_file_runs_its_job(
    client: TestClient, signer: Signer, cert_url: str, engine: sa.Engine, case: tuple[str, str]
) -> None:
    name, job = case
    event, envelope = resigned(f"sns/{name}", signer, cert_url)
    response = post(client, envelope)
    assert response.status_code == 200, response.text
    (run,) = job_runs(engine)
    assert (run["message_id"], run["job"], run["status"]) == (event["MessageId"], job, "succeeded")


@pytest.mark.usefixtures("moto_url")
def test_the_subscription_confirmation_event_file_is_confirmed_with_its_token(
    client: TestClient, signer: Signer, cert_url: str, engine: sa.Engine
) -> None:
    sns = aws.sns_client("us-east-1")
    sns.create_topic(Name=TOPIC_ARN.rsplit(":", 1)[1])
    calls: list[dict[str, Any]] = []
    sns.meta.events.register(
        "provide-client-params.sns.ConfirmSubscription",
        lambda params, **_: calls.append(dict(params)),
    )
    event, envelope = resigned("sns/subscription-confirmation", signer, cert_url)
    response = post(client, envelope)
    assert response.status_code == 200, response.text
    assert [call["Token"] for call in calls] == [event["Token"]]
    assert job_runs(engine) == []


def test_the_unsubscribe_confirmation_event_file_is_acknowledged(
    client: TestClient, signer: Signer, cert_url: str, engine: sa.Engine
) -> None:
    _, envelope = resigned("sns/unsubscribe-confirmation", signer, cert_url)
    response = post(client, envelope)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "acknowledged"}
    assert job_runs(engine) == []
