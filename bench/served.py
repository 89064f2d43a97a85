"""The server B1 measures: the real app, started by its own `serve` command, plus two floors.

`python -m bench.served` (from `app/`, as the image runs `python -m bookapp serve` from `/app`)
wraps `bookapp.web.create_app` and then calls bookapp's own command line with `serve`, so uvicorn
gets exactly the app's options (one worker with WEB_CONCURRENCY=1, keep-alive, h11, no access
log). The real endpoint and both floors are routes of one Starlette app behind the same
middleware (the request-id and access-log middleware included), in one process, on one port: the
only difference between them is the handler. Nothing here changes a file of the app.

- `POST /bench/floor-a`: read the body, parse the JSON, answer 200 (the framework's floor).
- `POST /bench/floor-b`: the same, plus one `INSERT ... ON CONFLICT DO NOTHING` and commit into
  `bench_receipts` through a pooled engine made by `bookapp.db.create_engine` (same driver, pool
  and pre-ping as the app), in the threadpool as the real endpoint runs its database work (the
  floor for a job receipt that survives a crash).
- The no-op job `bench_noop` is registered with the app's own `@job` decorator, in this process
  only, so the real endpoint's cost is verification, dispatch and bookkeeping, not a job's work.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import bookapp.web
from bench.contract import FLOOR_A_PATH, FLOOR_B_PATH, NOOP_JOB
from bookapp.config import Settings, load_settings
from bookapp.db import create_engine
from bookapp.jobs import REGISTRY, JobContext, job

_INSERT_RECEIPT = sa.text(
    "INSERT INTO bench_receipts (message_id) VALUES (:message_id) ON CONFLICT DO NOTHING"
)

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def noop(_payload: Mapping[str, Any], _ctx: JobContext) -> None:
    """Does nothing: what is left of a job delivery is the endpoint's own work."""


def register_noop_job() -> None:
    if NOOP_JOB not in REGISTRY:
        job(NOOP_JOB)(noop)


async def floor_a(request: Request) -> Response:
    json.loads(await request.body())
    return JSONResponse({"status": "ok"})


def floor_b_write(engine: Engine) -> Callable[[str], None]:
    """Floor (b)'s database work for one message (bench.handler_cost times it alone too)."""

    def write_receipt(message_id: str) -> None:
        with engine.begin() as connection:
            connection.execute(_INSERT_RECEIPT, {"message_id": message_id})

    return write_receipt


def floor_b(engine: Engine) -> Handler:
    write_receipt = floor_b_write(engine)

    async def respond(request: Request) -> Response:
        data = json.loads(await request.body())
        await run_in_threadpool(write_receipt, str(data["MessageId"]))
        return JSONResponse({"status": "ok"})

    return respond


_original_create_app = bookapp.web.create_app


def create_app(settings: Settings | None = None) -> Starlette:
    """The app's own factory, with the two floor routes added to its router."""
    settings = settings or load_settings(os.environ)
    app = _original_create_app(settings)
    engine = create_engine(settings.require_database())
    app.router.routes.extend(
        [
            Route(FLOOR_A_PATH, floor_a, methods=["POST"]),
            Route(FLOOR_B_PATH, floor_b(engine), methods=["POST"]),
        ]
    )
    return app


def install() -> None:
    """Registers the no-op job and puts the wrapped factory where uvicorn imports it from."""
    register_noop_job()
    bookapp.web.create_app = create_app


def main() -> int:
    install()
    from bookapp.__main__ import main as bookapp_main  # noqa: PLC0415 - after install()

    return bookapp_main(["serve"])


if __name__ == "__main__":
    sys.exit(main())
