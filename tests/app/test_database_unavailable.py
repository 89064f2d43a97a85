"""Which database errors mean "the database could not be used" (the job endpoint answers 503 and
SNS retries, nothing counted as a failed job) and which are a statement's own failure.

The job endpoint's tests drive the two real cases (a refused login, a statement timeout) against
PostgreSQL; here every branch of the classification, with the driver's own exception classes.
"""

from __future__ import annotations

import psycopg
import psycopg.errors
import pytest
import sqlalchemy as sa

from bookapp.db import database_unavailable


def wrapped(
    orig: Exception, *, statement: str | None = "SELECT 1", invalidated: bool = False
) -> sa.exc.DBAPIError:
    return sa.exc.DBAPIError.instance(
        statement, {}, orig, psycopg.Error, connection_invalidated=invalidated
    )


@pytest.mark.parametrize(
    "orig",
    [
        # libpq's failures to open a connection carry no SQLSTATE, and SQLAlchemy wraps them with
        # no statement: refused, timed out, a refused login.
        psycopg.OperationalError("connection failed: FATAL:  password authentication failed"),
        psycopg.OperationalError("connection failed: Connection refused"),
    ],
    ids=["refused login", "refused connection"],
)
def test_a_connection_that_could_not_be_opened_is_unavailability(orig: psycopg.Error) -> None:
    assert database_unavailable(wrapped(orig, statement=None))


def test_a_statement_the_driver_would_not_send_is_the_statements_failure() -> None:
    # No SQLSTATE either (psycopg refuses it before sending), but on a working connection: a job
    # that does this fails the same way on every retry, so it must count as failed, not as 503.
    orig = psycopg.OperationalError(
        "sending query and params failed: number of parameters must be between 0 and 65535"
    )
    assert not database_unavailable(wrapped(orig))


def test_no_pooled_connection_free_in_time_is_unavailability() -> None:
    assert database_unavailable(sa.exc.TimeoutError("QueuePool limit of size 15 reached"))


@pytest.mark.parametrize(
    "orig",
    [
        psycopg.errors.InvalidPassword("password authentication failed"),
        psycopg.errors.InvalidAuthorizationSpecification("role does not exist"),
        psycopg.errors.ConnectionFailure("connection failure"),
        psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
        psycopg.errors.CrashShutdown("terminating connection because of crash of another"),
        psycopg.errors.CannotConnectNow("the database system is starting up"),
    ],
    ids=lambda error: type(error).__name__ + (f" {error.sqlstate}" if error.sqlstate else ""),
)
def test_an_error_that_says_the_database_cannot_be_used_is_unavailability(
    orig: psycopg.Error,
) -> None:
    assert database_unavailable(wrapped(orig))


@pytest.mark.parametrize(
    "orig",
    [
        psycopg.errors.QueryCanceled("canceling statement due to statement timeout"),
        psycopg.errors.LockNotAvailable("could not obtain lock"),
        psycopg.errors.UniqueViolation("duplicate key value"),
        psycopg.errors.UndefinedTable("relation does not exist"),
        psycopg.errors.SerializationFailure("could not serialize access"),
    ],
    ids=lambda error: f"{type(error).__name__} {error.sqlstate}",
)
def test_a_statement_of_the_job_that_failed_is_not_unavailability(orig: psycopg.Error) -> None:
    assert not database_unavailable(wrapped(orig))


def test_a_connection_sqlalchemy_invalidated_is_unavailability_whatever_the_driver_said() -> None:
    error = wrapped(psycopg.errors.QueryCanceled("canceled"), invalidated=True)
    assert database_unavailable(error)


@pytest.mark.parametrize(
    "error",
    [sa.exc.NoResultFound("No row was found"), RuntimeError("a job's own bug"), TimeoutError()],
    ids=lambda error: type(error).__name__,
)
def test_errors_that_are_not_the_drivers_are_not_unavailability(error: Exception) -> None:
    assert not database_unavailable(error)
