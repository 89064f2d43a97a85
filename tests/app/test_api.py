"""The books API, health and readiness through the real ASGI app and PostgreSQL, and which routes
each APP_ROLE serves. Public routes are bounded: /books in pages, /readyz from a cached probe."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from bookapp import web
from bookapp.jobs import SEED_BOOKS, JobContext, db_seed
from bookapp.web import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, ReadinessProbe, create_app
from harness.postgres import PostgresServer

from .conftest import run_concurrently


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


def test_readyz_asks_the_database_once_per_interval_however_many_ask(
    app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, engine: sa.Engine
) -> None:
    monkeypatch.setattr(web, "READY_CACHE_SECONDS", 60.0)
    with TestClient(create_app()) as client:
        app_engine: sa.Engine = client.app.state.engine  # type: ignore[attr-defined]
        probes: list[str] = []

        def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if statement == "SELECT 1":
                probes.append(statement)

        sa.event.listen(app_engine, "before_cursor_execute", record)
        try:
            answers = run_concurrently(20, lambda: client.get("/readyz").status_code)
            answers.append(client.get("/readyz").status_code)
        finally:
            sa.event.remove(app_engine, "before_cursor_execute", record)
    assert answers == [200] * 21
    assert probes == ["SELECT 1"]


def test_readiness_probe_answers_from_its_cache_until_the_interval_has_passed() -> None:
    now = [100.0]
    outcomes = iter([True, False])
    probe = ReadinessProbe(lambda: next(outcomes), ttl=2.0, clock=lambda: now[0])
    assert probe.ready() is True
    now[0] += 1.9
    assert probe.ready() is True  # cached: the database is not asked
    now[0] += 0.2
    assert probe.ready() is False  # stale: asked again, and it is down


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
    assert response.json()["next"] is None


@pytest.fixture
def many_books(engine: sa.Engine) -> Iterator[list[int]]:
    """MAX_PAGE_SIZE + 30 books; removed again after the test."""
    rows = [
        {"isbn": f"999-0-{n:05d}", "title": f"Book {n}", "author": "A. Writer"}
        for n in range(MAX_PAGE_SIZE + 30)
    ]
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM books WHERE isbn LIKE '999-0-%'"))
        connection.execute(
            sa.text("INSERT INTO books (isbn, title, author) VALUES (:isbn, :title, :author)"),
            rows,
        )
        ids = list(connection.execute(sa.text("SELECT id FROM books ORDER BY id")).scalars())
    yield ids
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM books WHERE isbn LIKE '999-0-%'"))


def test_books_come_in_pages_that_link_to_the_next_until_every_book_is_listed(
    client: TestClient, many_books: list[int]
) -> None:
    seen: list[int] = []
    pages: list[int] = []
    link: str | None = "/books?limit=40"
    while link is not None:
        body: dict[str, Any] = client.get(link).json()
        pages.append(len(body["books"]))
        seen.extend(book["id"] for book in body["books"])
        link = body["next"]
    assert seen == many_books
    assert pages[:-1] == [40] * (len(pages) - 1)
    assert 0 < pages[-1] <= 40


def test_books_without_a_limit_gives_the_default_page_and_never_more_than_the_maximum(
    client: TestClient, many_books: list[int]
) -> None:
    first = client.get("/books").json()
    assert [book["id"] for book in first["books"]] == many_books[:DEFAULT_PAGE_SIZE]
    assert first["next"] == f"/books?limit={DEFAULT_PAGE_SIZE}&after={many_books[49]}"
    largest = client.get(f"/books?limit={MAX_PAGE_SIZE}&after={many_books[0]}").json()
    assert [book["id"] for book in largest["books"]] == many_books[1 : MAX_PAGE_SIZE + 1]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=0", "limit must be a whole number from 1 to 100"),
        (f"limit={MAX_PAGE_SIZE + 1}", "limit must be a whole number from 1 to 100"),
        ("limit=ten", "limit must be a whole number from 1 to 100"),
        ("limit=-5", "limit must be a whole number from 1 to 100"),
        ("limit=99999999999999999999", "limit must be a whole number"),
        ("after=-1", "after must be a whole number from 0 to 2147483647"),
        ("after=1.5", "after must be a whole number"),
        ("after=", "after must be a whole number"),
        ("limit=5&limit=6", "limit is given more than once"),
        ("page=2", "unknown query parameter 'page': /books takes limit and after"),
        ("offset=1&limit=5", "unknown query parameter 'offset'"),
    ],
)
def test_books_with_a_bad_query_answers_400_naming_the_parameter(
    client: TestClient, query: str, message: str
) -> None:
    response = client.get(f"/books?{query}")
    assert response.status_code == 400
    assert message in response.json()["error"]


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
