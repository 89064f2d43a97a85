"""The database: SQLAlchemy 2 tables (books, job_runs) and the engine, shared by the web app and
jobs.

The schema itself is owned by the Alembic migrations in `bookapp/migrations`; these table objects
mirror it for queries.
"""

from __future__ import annotations

import select
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import pq
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import URL, Engine

metadata = sa.MetaData()

books = sa.Table(
    "books",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("isbn", sa.String(17), nullable=False, unique=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("author", sa.Text, nullable=False),
    sa.Column("published_year", sa.Integer, nullable=True),
)

job_runs = sa.Table(
    "job_runs",
    metadata,
    sa.Column("message_id", sa.Text, primary_key=True),
    sa.Column("job", sa.Text, nullable=False),
    sa.Column("payload", JSONB, nullable=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
)


# Connections kept per process. The threadpool runs up to 40 requests at once; SNS pushes in
# bursts. With a small pool and an overflow, every overflow connection is closed when it is
# returned, so a steady load above the pool size opened a new TLS + SCRAM connection for nearly
# every request (`make bench` found it costing more than the request itself). The same 15
# connections as before at most (5 + 10 overflow), now kept open; a request that finds none free
# waits for one.
POOL_SIZE = 15
# A request waits this long for a free connection before it answers 503 (SQLAlchemy's default is
# 30 s, longer than SNS's 15 s delivery timeout).
POOL_TIMEOUT_SECONDS = 10
# libpq TCP settings: a connection to a database that vanished (failover, a host gone) fails within
# about 30 s instead of waiting for the kernel's retransmission limit (about 15 minutes).
CONNECT_ARGS = {
    "connect_timeout": 5,
    "application_name": "bookapp",
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,  # milliseconds
}


def _disturbed(dbapi_connection: Any) -> bool:
    """Whether a pooled connection may be dead: closed, not idle, or its socket has something to
    read. An idle connection's server sends nothing unasked; a server that ends the session (a
    restart, a failover, pg_terminate_backend, an idle timeout) sends its FATAL and closes the
    socket, which makes it readable."""
    if dbapi_connection.closed:
        return True
    pgconn = dbapi_connection.pgconn
    if pgconn.status != pq.ConnStatus.OK or pgconn.transaction_status != pq.TransactionStatus.IDLE:
        return True
    try:
        socket = pgconn.socket
    except psycopg.OperationalError:
        return True
    poller = select.poll()
    poller.register(socket, select.POLLIN | select.POLLPRI)  # POLLHUP and POLLERR come anyway
    return bool(poller.poll(0))


# SQLSTATE classes and codes that say the database could not be used at all, not that a statement
# failed: 08 connection exception, 28 invalid authorization (a rotated password), 57P01-57P03 the
# server shutting down, crashed or not yet accepting connections.
_UNAVAILABLE_CLASSES = frozenset({"08", "28"})
_UNAVAILABLE_CODES = frozenset({"57P01", "57P02", "57P03"})


def database_unavailable(error: BaseException) -> bool:
    """Whether `error` means the database could not be used at all, rather than that a statement
    failed: no pooled connection free in time (the pool's timeout), a connection that broke
    (SQLAlchemy invalidated it), a connection that could not be opened (a driver error with no
    SQLSTATE and no statement: refused, timed out, the login refused) or one of the SQLSTATEs
    above. A statement timeout, a lock timeout, a constraint or syntax error, and what the driver
    refuses to send (too many parameters: no SQLSTATE, but a statement) are the statement's own."""
    if isinstance(error, sa.exc.TimeoutError):
        return True
    if not isinstance(error, sa.exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    orig = error.orig
    if not isinstance(orig, psycopg.OperationalError):
        return False
    sqlstate = orig.sqlstate
    if sqlstate is None:
        return error.statement is None
    return sqlstate[:2] in _UNAVAILABLE_CLASSES or sqlstate in _UNAVAILABLE_CODES


def create_engine(url: URL, *, pool_size: int = POOL_SIZE) -> Engine:
    """A pooled engine that survives a database restart and fails fast when down.

    A pooled connection is pinged at checkout only when its socket says something happened
    (`_disturbed`), instead of on every checkout (SQLAlchemy's pool_pre_ping): a round trip per
    checkout saved, and a connection the server closed (a quick restart included) is still found
    before a request uses it. A failed ping invalidates every pooled connection, as pre-ping does.
    What neither notices is a server that vanished without closing (a host gone): the statement
    then fails within tcp_user_timeout, as the ping would have.
    """
    engine = sa.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=POOL_TIMEOUT_SECONDS,
        pool_pre_ping=False,
        pool_recycle=1800,
        # Error messages would otherwise end with every bound value: job payloads in the logs.
        hide_parameters=True,
        connect_args=dict(CONNECT_ARGS),
    )
    dialect = engine.dialect

    def ping_if_disturbed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if not _disturbed(dbapi_connection):
            return
        try:
            dialect.do_ping(dbapi_connection)
        except psycopg.Error as error:
            raise sa.exc.InvalidatePoolError(
                f"pooled connection is dead ({type(error).__name__})"
            ) from None

    sa.event.listen(engine, "checkout", ping_if_disturbed)
    return engine
