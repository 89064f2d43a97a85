"""The database: SQLAlchemy 2 tables (books, job_runs) and the engine, shared by the web app and
jobs.

The schema itself is owned by the Alembic migrations in `bookapp/migrations`; these table objects
mirror it for queries.
"""

from __future__ import annotations

import sqlalchemy as sa
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


def create_engine(url: URL, *, pool_size: int = POOL_SIZE) -> Engine:
    """A pooled engine that survives a database restart (pre-ping) and fails fast when down."""
    return sa.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=POOL_TIMEOUT_SECONDS,
        pool_pre_ping=True,
        pool_recycle=1800,
        # Error messages would otherwise end with every bound value: job payloads in the logs.
        hide_parameters=True,
        connect_args=dict(CONNECT_ARGS),
    )
