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


def wrapped(orig: Exception, *, invalidated: bool = False) -> sa.exc.DBAPIError:
    return sa.exc.DBAPIError.instance(
        "SELECT 1", {}, orig, psycopg.Error, connection_invalidated=invalidated
    )


@pytest.mark.parametrize(
    "orig",
    [
        # libpq's own connection failures carry no SQLSTATE: refused, reset, a refused login.
        psycopg.OperationalError("connection failed: FATAL:  password authentication failed"),
        psycopg.OperationalError("consuming input failed: server closed the connection"),
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
