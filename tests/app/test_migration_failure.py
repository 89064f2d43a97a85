"""A migration that fails leaves nothing locked: its own error surfaces, and the next migrator
runs at once instead of waiting forever for an advisory lock a pooled connection still holds."""

from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg.errors
import pytest
import sqlalchemy as sa

from bookapp import migrate
from bookapp.config import parse_database_url
from bookapp.db import create_engine
from harness.postgres import PostgresServer

FAILING_REVISION = '''
"""A revision that fails inside PostgreSQL."""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SELECT 1 / 0")


def downgrade() -> None:
    pass
'''


@pytest.fixture
def fresh_url(pg: PostgresServer) -> Iterator[str]:
    name = f"failing_{uuid.uuid4().hex[:12]}"
    yield pg.create_database(name)
    pg.drop_database(name)


@pytest.fixture
def failing_migrations(tmp_path: Path) -> Path:
    directory = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, directory, ignore=shutil.ignore_patterns("__pycache__"))
    (directory / "versions" / "v0002_fails.py").write_text(FAILING_REVISION)
    return directory


def test_failed_migration_raises_its_own_error_and_the_next_migrator_is_not_blocked(
    fresh_url: str, failing_migrations: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing_engine = create_engine(parse_database_url(fresh_url), pool_size=1)
    other_engine = create_engine(parse_database_url(fresh_url), pool_size=1)
    runner: threading.Thread | None = None
    try:
        with monkeypatch.context() as patched:
            patched.setattr(migrate, "MIGRATIONS_DIR", failing_migrations)
            with pytest.raises(sa.exc.DataError) as raised:
                migrate.upgrade_to_head(failing_engine)
        assert isinstance(raised.value.orig, psycopg.errors.DivisionByZero)

        # The failing engine keeps its pooled connection; a second migrator (another instance,
        # with the good revisions) must get the lock from it at once.
        outcome: list[tuple[str | None, str | None]] = []
        runner = threading.Thread(
            target=lambda: outcome.append(migrate.upgrade_to_head(other_engine)), daemon=True
        )
        runner.start()
        runner.join(timeout=10)
        assert outcome == [(None, "0001")], "the second migrator is still waiting for the lock"
    finally:
        failing_engine.dispose()  # also releases a leaked session lock, so the thread can end
        if runner is not None:
            runner.join(timeout=10)
        other_engine.dispose()


def test_migrator_gives_up_after_the_lock_timeout_while_another_holds_the_lock(
    fresh_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migrate, "LOCK_TIMEOUT_SECONDS", 1)
    holder = create_engine(parse_database_url(fresh_url), pool_size=1)
    waiter = create_engine(parse_database_url(fresh_url), pool_size=1)
    try:
        with holder.begin() as connection:
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": migrate.MIGRATION_LOCK_KEY}
            )
            with pytest.raises(sa.exc.OperationalError) as raised:
                migrate.upgrade_to_head(waiter)
        assert isinstance(raised.value.orig, psycopg.errors.LockNotAvailable)
        assert migrate.upgrade_to_head(waiter) == (None, "0001")
    finally:
        holder.dispose()
        waiter.dispose()
