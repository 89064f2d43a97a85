"""The books API, health and readiness through the real ASGI app and PostgreSQL, and which routes
each APP_ROLE serves."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from bookapp.jobs import SEED_BOOKS, JobContext, db_seed
from bookapp.web import create_app
from harness.postgres import PostgresServer


@pytest.fixture
def seeded(engine: sa.Engine) -> list[int]:
    db_seed({}, JobContext(engine=engine, message_id="seed-for-api-tests"))
    with engine.connect() as connection:
        return list(connection.execute(sa.text("SELECT id FROM books ORDER BY id")).scalars())


def test_healthz_answers_ok_without_the_database(client: TestClient, pg: PostgresServer) -> None:
    pg.stop()
    try:
        response = client.get("/healthz")
    finally:
        pg.start()
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_answers_ready_when_the_database_is_reachable(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": "ok"}


def test_readyz_answers_503_while_the_database_is_down_and_recovers(
    client: TestClient, pg: PostgresServer
) -> None:
    pg.stop()
    try:
        response = client.get("/readyz")
        books = client.get("/books")
    finally:
        pg.start()
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unreachable"}
    assert books.status_code == 503
    assert client.get("/readyz").status_code == 200


def test_books_lists_the_seeded_books_in_id_order(client: TestClient, seeded: list[int]) -> None:
    response = client.get("/books")
    assert response.status_code == 200
    titles = [book["title"] for book in response.json()["books"]]
    assert titles == [book["title"] for book in SEED_BOOKS]


def test_book_by_id_returns_that_book(client: TestClient, seeded: list[int]) -> None:
    response = client.get(f"/books/{seeded[1]}")
    assert response.status_code == 200
    assert response.json()["isbn"] == SEED_BOOKS[1]["isbn"]


def test_unknown_book_answers_404(client: TestClient, seeded: list[int]) -> None:
    response = client.get(f"/books/{max(seeded) + 1000}")
    assert response.status_code == 404
    assert response.json() == {"error": f"no book with id {max(seeded) + 1000}"}


@pytest.mark.parametrize("raw", ["abc", "-1", "0", "1.5", "99999999999", "%C2%B2"])
def test_malformed_book_id_answers_422(client: TestClient, raw: str) -> None:
    response = client.get(f"/books/{raw}")
    assert response.status_code == 422
    assert "positive whole number" in response.json()["error"]


def test_response_carries_the_request_id_it_was_given(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"


def test_api_role_does_not_serve_the_job_endpoint(
    app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_ROLE", "api")
    monkeypatch.delenv("JOB_TOPIC_ARN")
    with TestClient(create_app()) as client:
        assert client.post("/jobs", content=b"{}").status_code == 404
        assert client.get("/healthz").status_code == 200


def test_jobs_role_serves_the_job_endpoint_and_the_api(
    app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_ROLE", "jobs")
    with TestClient(create_app()) as client:
        assert client.post("/jobs", content=b"{}").status_code == 400
        assert client.get("/healthz").status_code == 200
