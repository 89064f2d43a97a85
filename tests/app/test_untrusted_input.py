"""What anyone on the internet can send the public endpoints, and what it costs: malformed JSON
answers 400 (never a 500 with a traceback), an unsigned request leaves no identifier of its own in
the logs, every logged text is bounded, old messages are replays, and test jobs are off unless
ENABLE_TEST_JOBS says otherwise."""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from bookapp.logs import MAX_FIELD_CHARS, MAX_TRACE_CHARS, JsonFormatter
from bookapp.web import create_app

from .conftest import Deliver, job_runs


def post(client: TestClient, body: bytes) -> Any:
    return client.post("/jobs", content=body, headers={"Content-Type": "text/plain"})


def _log(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]


DEEP = b"[" * 100_000 + b"]" * 100_000
HUGE_INT = b"1" * 5000  # past Python's 4300-digit limit for int()


@pytest.mark.parametrize(
    "body",
    [
        DEEP,
        b'{"Type": "Notification", "x": ' + DEEP + b"}",
        b'{"Type": "Notification", "MessageId": ' + HUGE_INT + b"}",
        HUGE_INT,
    ],
    ids=["deep-array", "deep-field", "huge-int-field", "huge-int"],
)
def test_json_python_cannot_hold_answers_400_not_500(
    client: TestClient, engine: sa.Engine, body: bytes
) -> None:
    response = post(client, body)
    assert response.status_code == 400, response.text
    assert response.json()["status"] == "rejected"
    assert "nested too deeply or with too large a number" in response.json()["reason"]
    assert job_runs(engine) == []


@pytest.mark.parametrize(
    "message",
    [
        '{"job": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"job": "db_seed", "n": ' + "9" * 5000 + "}",
    ],
    ids=["deep", "huge-int"],
)
def test_a_signed_message_python_cannot_hold_is_rejected_as_a_job_that_can_never_run(
    client: TestClient, notification: Deliver, engine: sa.Engine, message: str
) -> None:
    response = client.post("/jobs", content=json.dumps(notification(message=message)))
    assert response.status_code == 422, response.text
    assert "nested too deeply or with too large a number" in response.json()["reason"]
    [run] = job_runs(engine)
    assert run["status"] == "rejected"


@pytest.mark.parametrize(
    "message_id",
    [
        "x" * 300_000,
        "not-a-uuid",
        "0f6c8e4e6d1a5b7e9b613c1d2f4a5e60",
        "{0f6c8e4e-6d1a-5b7e-9b61-3c1d2f4a5e60}",
    ],
    ids=["huge", "word", "no-dashes", "braces"],
)
def test_a_message_id_that_is_not_a_uuid_is_refused_and_never_logged(
    client: TestClient,
    notification: Deliver,
    engine: sa.Engine,
    capsys: pytest.CaptureFixture[str],
    message_id: str,
) -> None:
    envelope = notification(message_id=message_id)
    capsys.readouterr()
    response = client.post("/jobs", content=json.dumps(envelope)[:300_000])
    assert response.status_code in (400, 413)
    assert job_runs(engine) == []
    text = json.dumps(_log(capsys))
    assert message_id not in text
    assert len(text) < 10_000


def test_a_verified_message_carries_its_id_in_the_log_and_a_refused_one_does_not(
    client: TestClient, notification: Deliver, capsys: pytest.CaptureFixture[str]
) -> None:
    genuine = notification()
    forged = {**notification(), "Message": '{"job": "db_seed"}'}
    capsys.readouterr()
    assert client.post("/jobs", content=json.dumps(genuine)).status_code == 200
    assert client.post("/jobs", content=json.dumps(forged)).status_code == 403
    lines = _log(capsys)
    assert {line.get("message_id") for line in lines if line["logger"] != "httpx"} >= {
        genuine["MessageId"]
    }
    assert forged["MessageId"] not in json.dumps(lines)


def test_every_logged_text_is_cut_to_its_bound(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert client.get("/" + "a" * 50_000).status_code == 404
    [access] = [line for line in _log(capsys) if line["logger"] == "bookapp.access"]
    assert len(access["path"]) < MAX_FIELD_CHARS + 50
    assert access["path"].endswith(f"... ({50_001 - MAX_FIELD_CHARS} more characters)")


def test_the_formatter_caps_every_field_and_gives_tracebacks_more_room() -> None:
    record = logging.makeLogRecord(
        {
            "msg": "m" * 5000,
            "reason": "r" * 5000,
            "items": ["x" * 100] * 100,
            "traceback": "t" * 20_000,
            "count": 7,
        }
    )
    entry = json.loads(JsonFormatter().format(record))
    assert len(entry["message"]) < MAX_FIELD_CHARS + 50
    assert len(entry["reason"]) < MAX_FIELD_CHARS + 50
    assert isinstance(entry["items"], str)
    assert len(entry["items"]) < MAX_FIELD_CHARS + 50
    assert MAX_TRACE_CHARS <= len(entry["traceback"]) < MAX_TRACE_CHARS + 50
    assert entry["count"] == 7


# -- the message age window ---------------------------------------------------------------------


def test_the_message_age_window_is_a_setting(
    app_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    notification: Deliver,
    clean_runs: None,
) -> None:
    monkeypatch.setenv("JOB_MAX_MESSAGE_AGE_SECONDS", "600")
    now = datetime.datetime.now(datetime.UTC)
    with TestClient(create_app()) as client:
        recent = notification(timestamp=now - datetime.timedelta(seconds=500))
        old = notification(timestamp=now - datetime.timedelta(seconds=700))
        assert client.post("/jobs", content=json.dumps(recent)).status_code == 200
        assert client.post("/jobs", content=json.dumps(old)).status_code == 403


def test_a_message_within_the_default_window_runs_and_its_replay_after_it_is_refused(
    client: TestClient, notification: Deliver, engine: sa.Engine
) -> None:
    now = datetime.datetime.now(datetime.UTC)
    # SNS's longest retry policy (3600 s) after the publish, with its clock 4 minutes behind ours.
    late_retry = notification(timestamp=now - datetime.timedelta(seconds=3600 + 240))
    assert client.post("/jobs", content=json.dumps(late_retry)).status_code == 200
    replay = notification(timestamp=now - datetime.timedelta(seconds=3600 + 300 + 5))
    assert client.post("/jobs", content=json.dumps(replay)).status_code == 403
    assert [run["message_id"] for run in job_runs(engine)] == [late_retry["MessageId"]]


# -- test jobs ----------------------------------------------------------------------------------


def test_test_book_job_is_refused_unless_enable_test_jobs_is_true(
    app_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    notification: Deliver,
    engine: sa.Engine,
    clean_runs: None,
) -> None:
    monkeypatch.delenv("ENABLE_TEST_JOBS")
    with TestClient(create_app()) as client:
        off = client.post("/jobs", content=json.dumps(notification("test_book_job")))
        seeded = client.post("/jobs", content=json.dumps(notification("db_seed")))
    assert off.status_code == 422
    assert off.json()["reason"] == "test_book_job is a test job: off unless ENABLE_TEST_JOBS=true"
    assert seeded.status_code == 200
    assert sorted((run["job"], run["status"]) for run in job_runs(engine)) == [
        ("db_seed", "succeeded"),
        ("test_book_job", "rejected"),
    ]
