"""Migrations and the data jobs against fresh PostgreSQL databases.

db_migrate from empty to head, also several times at once (the advisory lock), db_seed idempotent,
and the `migrate` command line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from bookapp.config import parse_database_url
from bookapp.db import create_engine
from bookapp.jobs import SEED_BOOKS, JobContext, db_migrate, db_seed
from bookapp.migrate import current_revision, head_revision
from harness.postgres import PostgresServer

from .conftest import run_concurrently

APP_DIR = Path(__file__).resolve().parents[2] / "app"


@pytest.fixture
def fresh_url(pg: PostgresServer) -> Iterator[str]:
    name = f"fresh_{uuid.uuid4().hex[:12]}"
    url = pg.create_database(name)
    yield url
    pg.drop_database(name)


@pytest.fixture
def fresh_engine(fresh_url: str) -> Iterator[sa.Engine]:
    engine = create_engine(parse_database_url(fresh_url))
    yield engine
    engine.dispose()


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_db_migrate_takes_an_empty_database_to_head(fresh_engine: sa.Engine) -> None:
    assert current_revision(fresh_engine) is None
    db_migrate({}, JobContext(engine=fresh_engine, message_id="m-1"))
    assert current_revision(fresh_engine) == head_revision() == "0001"
    assert {"books", "job_runs", "alembic_version"} <= _tables(fresh_engine)


def _migrate_with_own_engine(url: str) -> str:
    engine = create_engine(parse_database_url(url))
    try:
        db_migrate({}, JobContext(engine=engine, message_id="same-message"))
    finally:
        engine.dispose()
    return "done"


def test_db_migrate_delivered_several_times_at_once_migrates_once(
    fresh_url: str, fresh_engine: sa.Engine
) -> None:
    results = run_concurrently(3, lambda: _migrate_with_own_engine(fresh_url))
    assert results == ["done"] * 3
    assert current_revision(fresh_engine) == head_revision()
    with fresh_engine.connect() as connection:
        versions = connection.execute(sa.text("SELECT count(*) FROM alembic_version"))
        assert versions.scalar_one() == 1


def test_db_seed_twice_gives_the_same_rows(fresh_engine: sa.Engine) -> None:
    db_migrate({}, JobContext(engine=fresh_engine, message_id="m"))
    db_seed({}, JobContext(engine=fresh_engine, message_id="s1"))
    with fresh_engine.connect() as connection:
        first = connection.execute(sa.text("SELECT * FROM books ORDER BY id")).all()
    db_seed({}, JobContext(engine=fresh_engine, message_id="s2"))
    with fresh_engine.connect() as connection:
        second = connection.execute(sa.text("SELECT * FROM books ORDER BY id")).all()
    assert first == second
    assert len(second) == len(SEED_BOOKS)


def test_migrate_command_upgrades_and_says_to_which_revision(fresh_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": fresh_url}
    for key in ("APP_ROLE", "JOB_TOPIC_ARN"):
        env.pop(key, None)
    result = subprocess.run(
        [sys.executable, "-m", "bookapp", "migrate"],
        cwd=APP_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "schema at revision 0001 (was None)" in result.stdout
    again = subprocess.run(
        [sys.executable, "-m", "bookapp", "migrate"],
        cwd=APP_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "schema at revision 0001 (was 0001)" in again.stdout
