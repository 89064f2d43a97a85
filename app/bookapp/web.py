"""The ASGI app: health, readiness, the books API and, for the jobs role, the SNS job endpoint.

`create_app()` reads the environment (uvicorn calls it in every worker process); tests may pass
settings. /healthz never touches the database: App Runner's health check must pass while Aurora is
still starting. Every public route is bounded: /readyz answers from a probe at most
READY_CACHE_SECONDS old (one database query per process per interval, however many callers), and
/books is paginated (at most MAX_PAGE_SIZE books a page).
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bookapp import aws, logs, results
from bookapp.config import Settings, load_settings
from bookapp.db import books, create_engine
from bookapp.job_endpoint import JobEndpoint
from bookapp.sns import CertificateCache, Verifier, make_fetcher

log = logging.getLogger("bookapp.web")
access_log = logging.getLogger("bookapp.access")

_MAX_ID = 2**31 - 1
# A database too busy to answer SELECT 1 in 2 s is not ready.
READY_STATEMENT_TIMEOUT_MS = 2000
# How old a readiness answer may be: /readyz is public, and each probe is a database round trip.
READY_CACHE_SECONDS = 2.0
# GET /books?limit=N&after=ID: a page of books with ids above ID, in id order.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
_BOOKS_PARAMETERS = ("limit", "after")


class ReadinessProbe:
    """The outcome of `check`, run at most once per `ttl` seconds whoever asks.

    Callers that find the answer stale wait for one probe and share its result, so a burst of
    requests makes one database query, not one each.
    """

    def __init__(
        self,
        check: Callable[[], bool],
        ttl: float = READY_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check = check
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._answer: tuple[float, bool] | None = None

    def ready(self) -> bool:
        with self._lock:
            if self._answer is not None and self._clock() - self._answer[0] < self._ttl:
                return self._answer[1]
            ok = self._check()
            self._answer = (self._clock(), ok)
            return ok


class BadQuery(ValueError):  # noqa: N818 - reads as the condition it reports
    """A query parameter the route cannot use (400); the message names it."""


def _page_parameters(request: Request) -> tuple[int, int]:
    """(limit, after) of GET /books, or BadQuery naming what is wrong."""
    unknown = sorted({key for key in request.query_params if key not in _BOOKS_PARAMETERS})
    if unknown:
        names = ", ".join(repr(key[:40]) for key in unknown[:5])
        raise BadQuery(f"unknown query parameter {names}: /books takes limit and after")
    values: dict[str, int] = {}
    for name, low, high, default in (
        ("limit", 1, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE),
        ("after", 0, _MAX_ID, 0),
    ):
        given = request.query_params.getlist(name)
        if len(given) > 1:
            raise BadQuery(f"{name} is given more than once")
        if not given:
            values[name] = default
            continue
        raw = given[0]
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 10) or not low <= int(raw) <= high:
            raise BadQuery(f"{name} must be a whole number from {low} to {high}")
        values[name] = int(raw)
    return values["limit"], values["after"]


class RequestContext:
    """Request id (from X-Request-Id or new) in every log line and the response; one access line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if 0 < len(incoming) <= 128 and incoming.isprintable() else uuid.uuid4().hex
        token = logs.request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if scope["path"] != "/healthz":
                access_log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status_code": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    },
                )
            logs.request_id.reset(token)


def _database_answers(engine: sa.Engine) -> bool:
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(f"SET LOCAL statement_timeout = {READY_STATEMENT_TIMEOUT_MS}")
            )
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as error:
        log.warning("not ready: database unreachable", extra={"reason": type(error).__name__})
        return False
    return True


def _books_page(engine: sa.Engine, limit: int, after: int) -> dict[str, Any]:
    """{"books": [...], "next": "/books?limit=N&after=ID" or null when this is the last page}."""
    query = sa.select(books).where(books.c.id > after).order_by(books.c.id).limit(limit + 1)
    with engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    page = [dict(row) for row in rows[:limit]]
    next_page = f"/books?limit={limit}&after={page[-1]['id']}" if len(rows) > limit else None
    return {"books": page, "next": next_page}


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or load_settings(os.environ)
    logs.configure(settings.log_level)
    engine = create_engine(settings.require_database())

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    probe = ReadinessProbe(lambda: _database_answers(engine), ttl=READY_CACHE_SECONDS)

    def readyz(_request: Request) -> JSONResponse:
        if not probe.ready():
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
        return JSONResponse({"status": "ready", "database": "ok"})

    def list_books(request: Request) -> JSONResponse:
        try:
            limit, after = _page_parameters(request)
        except BadQuery as error:
            return JSONResponse({"error": str(error)}, 400)
        try:
            return JSONResponse(_books_page(engine, limit, after))
        except sa.exc.SQLAlchemyError as error:
            log.error("books unavailable", extra={"reason": type(error).__name__})  # noqa: TRY400
            return JSONResponse({"error": "database unavailable"}, 503)

    def get_book(request: Request) -> JSONResponse:
        raw = request.path_params["book_id"]
        if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) <= _MAX_ID:
            return JSONResponse({"error": "book id must be a positive whole number"}, 422)
        try:
            with engine.connect() as connection:
                row = (
                    connection.execute(sa.select(books).where(books.c.id == int(raw)))
                    .mappings()
                    .one_or_none()
                )
        except sa.exc.SQLAlchemyError as error:
            log.error("books unavailable", extra={"reason": type(error).__name__})  # noqa: TRY400
            return JSONResponse({"error": "database unavailable"}, 503)
        if row is None:
            return JSONResponse({"error": f"no book with id {int(raw)}"}, 404)
        return JSONResponse(dict(row))

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/books", list_books, methods=["GET"]),
        Route("/books/{book_id}", get_book, methods=["GET"]),
    ]
    if settings.serves_jobs:
        topic = settings.require_topic()
        region = settings.topic_region or "us-east-1"
        fetcher = make_fetcher(os.environ.get("AWS_ENDPOINT_URL_SNS") or None)
        queue_url = settings.job_results_queue_url
        endpoint = JobEndpoint(
            engine=engine,
            verifier=Verifier(
                topic,
                CertificateCache(fetcher),
                max_age=datetime.timedelta(seconds=settings.max_message_age_seconds),
            ),
            confirm=lambda arn, token: aws.confirm_subscription(aws.sns_client(region), arn, token),
            enable_test_jobs=settings.enable_test_jobs,
            results_queue=(
                results.ResultQueue(queue_url, settings.results_region) if queue_url else None
            ),
        )
        routes.append(Route(settings.job_path, endpoint.respond, methods=["POST"]))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        log.info(
            "started",
            extra={
                "role": settings.app_role,
                "job_path": settings.job_path if settings.serves_jobs else None,
            },
        )
        yield
        engine.dispose()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.engine = engine
    app.state.readiness = probe
    if settings.enable_otel:
        from bookapp.tracing import setup_tracing  # noqa: PLC0415 - only when tracing is on

        setup_tracing(app, engine)
    app.add_middleware(RequestContext)
    return app
