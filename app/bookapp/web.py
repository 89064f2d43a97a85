"""The ASGI app: health, readiness, the books API and, for the jobs role, the SNS job endpoint.

`create_app()` reads the environment (uvicorn calls it in every worker process); tests may pass
settings. /healthz never touches the database: App Runner's health check must pass while Aurora is
still starting.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator

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


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or load_settings(os.environ)
    logs.configure(settings.log_level)
    engine = create_engine(settings.require_database())

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    def readyz(_request: Request) -> JSONResponse:
        try:
            with engine.begin() as connection:
                connection.execute(
                    sa.text(f"SET LOCAL statement_timeout = {READY_STATEMENT_TIMEOUT_MS}")
                )
                connection.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as error:
            log.warning("not ready: database unreachable", extra={"reason": type(error).__name__})
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
        return JSONResponse({"status": "ready", "database": "ok"})

    def list_books(_request: Request) -> JSONResponse:
        try:
            with engine.connect() as connection:
                rows = connection.execute(sa.select(books).order_by(books.c.id)).mappings().all()
        except sa.exc.SQLAlchemyError as error:
            log.error("books unavailable", extra={"reason": type(error).__name__})  # noqa: TRY400
            return JSONResponse({"error": "database unavailable"}, 503)
        return JSONResponse({"books": [dict(row) for row in rows]})

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
            verifier=Verifier(topic, CertificateCache(fetcher)),
            confirm=lambda arn, token: aws.confirm_subscription(aws.sns_client(region), arn, token),
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
    if settings.enable_otel:
        from bookapp.tracing import setup_tracing  # noqa: PLC0415 - only when tracing is on

        setup_tracing(app, engine)
    app.add_middleware(RequestContext)
    return app
