"""The first deploy: jobs arrive at a database no migration has touched yet.

job_runs is created by the first migration, so db_migrate must bootstrap the table it is recorded
in; any other job must wait (503, retried by SNS) rather than fail for good.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from bookapp.config import parse_database_url
from bookapp.db import create_engine
from bookapp.web import create_app
from harness.postgres import PostgresServer

from .conftest import Deliver, job_runs, run_concurrently


@pytest.fixture
def fresh(
    pg: PostgresServer, app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, sa.Engine]]:
    name = f"fresh_{uuid.uuid4().hex[:8]}"
    url = pg.create_database(name)
    monkeypatch.setenv("DATABASE_URL", url)
    engine = create_engine(parse_database_url(url))
    try:
        with TestClient(create_app(), raise_server_exceptions=False) as client:
            yield client, engine
    finally:
        engine.dispose()
        pg.drop_database(name)


def test_the_first_db_migrate_on_an_empty_database_creates_job_runs_and_is_recorded(
    fresh: tuple[TestClient, sa.Engine], notification: Deliver
) -> None:
    client, engine = fresh
    envelope = notification("db_migrate")
    response = client.post("/jobs", content=envelope_body(envelope))
    assert response.status_code == 200, response.text
    [run] = job_runs(engine)
    assert (run["message_id"], run["job"], run["status"]) == (
        envelope["MessageId"],
        "db_migrate",
        "succeeded",
    )


def test_concurrent_first_deliveries_of_db_migrate_migrate_once_and_run_once(
    fresh: tuple[TestClient, sa.Engine], notification: Deliver
) -> None:
    client, engine = fresh
    body = envelope_body(notification("db_migrate"))
    statuses = run_concurrently(4, lambda: client.post("/jobs", content=body).status_code)
    assert 200 in statuses
    assert set(statuses) <= {200, 503}
    assert [r["status"] for r in job_runs(engine)] == ["succeeded"]


def test_another_job_before_the_first_migration_answers_503_so_sns_retries_it(
    fresh: tuple[TestClient, sa.Engine], notification: Deliver
) -> None:
    client, engine = fresh
    response = client.post("/jobs", content=envelope_body(notification("db_seed")))
    assert response.status_code == 503
    assert client.get("/healthz").status_code == 200
    with engine.connect() as connection:
        exists = connection.execute(sa.text("SELECT to_regclass('job_runs')")).scalar()
    assert exists is None


def envelope_body(envelope: dict[str, str]) -> bytes:
    return json.dumps(envelope).encode()
