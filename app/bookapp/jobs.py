"""The job registry: SNS job names mapped to functions, registered with a decorator.

A job receives its payload and a context (engine, message id, attempt number). It raises
`InvalidJobPayload` when the payload can never work (the endpoint answers 4xx: SNS must not
retry); any other exception is treated as transient (5xx: SNS retries, then the dead-letter queue
keeps the message).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Engine

from bookapp.db import books
from bookapp.migrate import upgrade_to_head

log = logging.getLogger(__name__)


class InvalidJobPayload(ValueError):  # noqa: N818 - reads as the condition it reports
    """The payload can never be processed; retrying the delivery cannot help."""


@dataclass(frozen=True)
class JobContext:
    engine: Engine
    message_id: str
    # Which delivery of this message runs the job: 1 for the first run, 2 after one retry, ...
    attempt: int = 1


JobFunction = Callable[[Mapping[str, Any], JobContext], None]

REGISTRY: dict[str, JobFunction] = {}
# Jobs for the rehearsal, the tests and the benchmark: the endpoint refuses them (422, recorded as
# rejected) unless ENABLE_TEST_JOBS=true. The template's services never set it.
TEST_JOBS: frozenset[str] = frozenset({"test_book_job"})


def job(name: str) -> Callable[[JobFunction], JobFunction]:
    """Register a function under the job name that SNS messages carry."""

    def register(function: JobFunction) -> JobFunction:
        if name in REGISTRY:
            raise ValueError(f"job {name!r} is registered twice")
        REGISTRY[name] = function
        return function

    return register


# test_book_job's fail_attempts: enough for any retry test, far below SNS's retry budget.
MAX_FAIL_ATTEMPTS = 10

SEED_BOOKS: tuple[dict[str, Any], ...] = (
    {
        "isbn": "978-0-13-110362-7",
        "title": "The C Programming Language",
        "author": "Brian W. Kernighan and Dennis M. Ritchie",
        "published_year": 1988,
    },
    {
        "isbn": "978-0-201-63361-0",
        "title": "Design Patterns",
        "author": "Erich Gamma, Richard Helm, Ralph Johnson and John Vlissides",
        "published_year": 1994,
    },
    {
        "isbn": "978-1-4919-5029-6",
        "title": "Designing Data-Intensive Applications",
        "author": "Martin Kleppmann",
        "published_year": 2017,
    },
)


@job("db_migrate")
def db_migrate(payload: Mapping[str, Any], ctx: JobContext) -> None:
    if payload:
        raise InvalidJobPayload("db_migrate takes no payload")
    upgrade_to_head(ctx.engine)


@job("db_seed")
def db_seed(payload: Mapping[str, Any], ctx: JobContext) -> None:
    if payload:
        raise InvalidJobPayload("db_seed takes no payload")
    statement = insert(books).values(list(SEED_BOOKS))
    statement = statement.on_conflict_do_update(
        index_elements=[books.c.isbn],
        set_={
            "title": statement.excluded.title,
            "author": statement.excluded.author,
            "published_year": statement.excluded.published_year,
        },
    )
    with ctx.engine.begin() as connection:
        connection.execute(statement)
    log.info("seeded books", extra={"count": len(SEED_BOOKS)})


@job("test_book_job")
def test_book_job(payload: Mapping[str, Any], ctx: JobContext) -> None:
    """Proves delivery end to end: logs, optionally sleeps or fails, and the run is recorded.

    `fail` fails every attempt; `fail_attempts` N fails attempts 1 to N (a transient failure that
    SNS's retries get past).
    """
    sleep = payload.get("sleep_seconds", 0)
    fail = payload.get("fail", False)
    fail_attempts = payload.get("fail_attempts", 0)
    if not isinstance(sleep, int | float) or isinstance(sleep, bool) or not 0 <= sleep <= 100:
        raise InvalidJobPayload("test_book_job: sleep_seconds must be a number from 0 to 100")
    if not isinstance(fail, bool):
        raise InvalidJobPayload("test_book_job: fail must be true or false")
    if (
        not isinstance(fail_attempts, int)
        or isinstance(fail_attempts, bool)
        or not 0 <= fail_attempts <= MAX_FAIL_ATTEMPTS
    ):
        raise InvalidJobPayload(
            f"test_book_job: fail_attempts must be a whole number from 0 to {MAX_FAIL_ATTEMPTS}"
        )
    with ctx.engine.connect() as connection:
        count = connection.execute(sa.select(sa.func.count()).select_from(books)).scalar_one()
    if sleep:
        # Tests that take the database away mid-run wait for this line: the books are read.
        log.info("test_book_job sleeping", extra={"seconds": sleep, "attempt": ctx.attempt})
    # Sleeps like a long job that is not holding a database connection.
    time.sleep(float(sleep))
    if fail:
        raise RuntimeError("test_book_job failed on request (payload fail=true)")
    if ctx.attempt <= fail_attempts:
        raise RuntimeError(
            f"test_book_job failed on request (attempt {ctx.attempt}, "
            f"payload fail_attempts={fail_attempts})"
        )
    log.info("test_book_job ran", extra={"books": count, "attempt": ctx.attempt})
