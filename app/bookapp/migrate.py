"""Alembic upgrade to head under a PostgreSQL advisory lock: `python -m bookapp migrate` and
db_migrate.

SNS may deliver db_migrate more than once, and several instances may run it at the same time; a
transaction-level advisory lock makes the second runner wait and then find nothing left to do. The
whole upgrade runs in that one transaction (PostgreSQL has transactional DDL), so a failed revision
rolls back and its rollback releases the lock: no pooled connection keeps holding it. The wait for
the lock is bounded by `lock_timeout`, so a stuck migrator cannot hang every later one.
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

# Any fixed 64-bit key, the same in every process of this app ("bookapp" in ASCII).
MIGRATION_LOCK_KEY = 0x626F6F6B617070
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Longest wait for another migrator (and for the DDL's own locks); under App Runner's 120 s.
LOCK_TIMEOUT_SECONDS = 60


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade_to_head(engine: Engine) -> tuple[str | None, str | None]:
    """Migrate to head; returns (revision before, revision after)."""
    config = alembic_config()
    with engine.connect() as connection, connection.begin():
        # SET LOCAL and the xact lock both end with this transaction, committed or rolled back.
        connection.execute(sa.text(f"SET LOCAL lock_timeout = '{int(LOCK_TIMEOUT_SECONDS)}s'"))
        connection.execute(
            sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
        )
        before = MigrationContext.configure(connection).get_current_revision()
        # Alembic sees the open transaction and runs every revision inside it.
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        after = MigrationContext.configure(connection).get_current_revision()
    log.info("migrated", extra={"revision_before": before, "revision_after": after})
    return before, after
