"""Alembic environment: runs online against the connection handed in by bookapp.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from bookapp.db import metadata

connection: Connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, transaction_per_migration=True)
with context.begin_transaction():
    context.run_migrations()
