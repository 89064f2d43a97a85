"""Alembic upgrade to head under a PostgreSQL advisory lock: `python -m bookapp migrate` and
db_migrate.

SNS may deliver db_migrate more than once, and several instances may run it at the same time; a
transaction-level advisory lock makes the second runner wait and then find nothing left to do. The
whole upgrade runs in that one transaction (PostgreSQL has transactional DDL), so a failed revision
rolls back and its rollback releases the lock: no pooled connection keeps holding it. The wait for
the lock is bounded by `lock_timeout`, so a stuck migrator cannot hang every later one.

`schema_warning` tells, at start, whether the database is behind this image's head revision: the
stack migrates on every deploy it makes, but an image pushed with AutoDeployments on, or a stack
with MigrateOnDeploy off, starts on a schema nobody migrated.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, Engine

from bookapp.db import create_engine

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


def schema_warning(engine: Engine) -> str | None:
    """A warning when the database is not at this image's head revision; None when it is."""
    head = head_revision()
    current = current_revision(engine)
    if current == head:
        return None
    script = ScriptDirectory.from_config(alembic_config())
    known = {revision.revision for revision in script.walk_revisions()}
    if current is not None and current not in known:
        return (
            f"database schema is at revision {current}, which this image does not know (its head "
            f"is {head}): a newer image migrated it; this image may not work with that schema"
        )
    return (
        f"database schema is at revision {current or 'none (empty database)'}, behind this "
        f"image's head {head}: run the db_migrate job (the stack's Migrate resource runs it on "
        "every CloudFormation deploy; an AutoDeployments push or MigrateOnDeploy=false skips it)"
    )


def check_schema(url: URL) -> None:
    """Log `schema_warning`, or that the check could not run; never raises."""
    engine = create_engine(url, pool_size=1)
    try:
        warning = schema_warning(engine)
    except sa.exc.SQLAlchemyError as error:
        log.warning(
            "database schema revision not checked: database unreachable",
            extra={"reason": type(error).__name__},
        )
        return
    finally:
        engine.dispose()
    if warning is not None:
        log.warning(warning)
    else:
        log.info("database schema is at this image's head revision")


def check_schema_in_background(url: URL) -> threading.Thread:
    """Run `check_schema` without delaying start: the health check must not wait for Aurora."""
    thread = threading.Thread(target=check_schema, args=(url,), name="schema-check", daemon=True)
    thread.start()
    return thread
