"""Database errors do not carry job payloads into the logs or job_runs.error.

SQLAlchemy appends `[parameters: ...]` to its messages, and PostgreSQL's CONTEXT lines quote the
value that failed; either would copy a payload (which may hold anything) into CloudWatch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from bookapp import jobs

from .conftest import Deliver, job_runs
from .test_job_endpoint import post

MARKER = "payload-marker-6f1c2b"


def _store_as_jsonb(payload: Mapping[str, Any], ctx: jobs.JobContext) -> None:
    # \u0000 cannot be stored in jsonb: PostgreSQL fails and quotes the JSON in its CONTEXT line.
    document = json.dumps({**payload, "extra": "\u0000"})
    with ctx.engine.connect() as connection:
        connection.execute(sa.text("SELECT CAST(:document AS jsonb)"), {"document": document})


def test_database_error_in_a_job_keeps_the_payload_out_of_logs_and_job_runs(
    client: TestClient,
    notification: Deliver,
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(jobs.REGISTRY, "jsonb_job", _store_as_jsonb)
    capsys.readouterr()
    response = post(client, notification(job="jsonb_job", payload={"secret": MARKER}))
    assert response.status_code == 500
    [run] = job_runs(engine)
    assert run["status"] == "failed"
    assert run["error"] == "UntranslatableCharacter: unsupported Unicode escape sequence"
    logs = capsys.readouterr().out
    assert "job failed" in logs
    assert MARKER not in logs


def test_payload_the_database_refuses_at_claim_stays_out_of_the_logs(
    client: TestClient,
    notification: Deliver,
    engine: sa.Engine,
    capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()
    # The claim's INSERT fails (its table is away); SQLAlchemy's error text would quote the
    # statement's parameters, the payload among them.
    with engine.begin() as connection:
        connection.execute(sa.text("ALTER TABLE job_runs RENAME TO job_runs_away"))
    try:
        response = post(client, notification(payload={"secret": MARKER}))
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text("ALTER TABLE job_runs_away RENAME TO job_runs"))
    assert response.status_code == 503
    assert job_runs(engine) == []
    logs = capsys.readouterr().out
    assert "job not claimed: database" in logs
    assert MARKER not in logs
