"""The app says at start when its database is not at the image's head revision.

With AutoDeployments a pushed image starts outside CloudFormation, so the stack's Migrate resource
does not run: the warning in the app's log is how an operator learns the schema is behind.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from bookapp import migrate
from bookapp.config import parse_database_url
from bookapp.db import create_engine
from harness.postgres import PostgresServer
from tests.app.test_migration_failure import FAILING_REVISION
from tests.app.test_server_command import APP_DIR, _dockerfile_command, _environment, _free_port
from tests.support.tls import TLS


@pytest.fixture
def fresh_url(pg: PostgresServer) -> Iterator[str]:
    name = f"schema_{uuid.uuid4().hex[:12]}"
    yield pg.create_database(name)
    pg.drop_database(name)


def test_an_empty_database_is_behind_and_the_warning_says_what_to_run(fresh_url: str) -> None:
    engine = create_engine(parse_database_url(fresh_url), pool_size=1)
    try:
        warning = migrate.schema_warning(engine)
    finally:
        engine.dispose()
    assert warning is not None
    assert warning.startswith(
        "database schema is at revision none (empty database), behind this image's head 0001: "
        "run the db_migrate job"
    )
    assert "AutoDeployments" in warning


def test_a_database_at_head_gets_no_warning(engine: sa.Engine) -> None:
    assert migrate.schema_warning(engine) is None


def test_a_database_migrated_by_a_newer_image_is_named_as_such(
    fresh_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    newer = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, newer, ignore=shutil.ignore_patterns("__pycache__"))
    (newer / "versions" / "v0002_newer.py").write_text(
        FAILING_REVISION.replace('op.execute("SELECT 1 / 0")', "pass")
    )
    engine = create_engine(parse_database_url(fresh_url), pool_size=1)
    try:
        with monkeypatch.context() as patched:
            patched.setattr(migrate, "MIGRATIONS_DIR", newer)
            migrate.upgrade_to_head(engine)
        warning = migrate.schema_warning(engine)
    finally:
        engine.dispose()
    assert warning is not None
    assert warning.startswith(
        "database schema is at revision 0002, which this image does not know (its head is 0001)"
    )


def test_an_unreachable_database_is_logged_as_not_checked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bookapp.migrate")

    migrate.check_schema(parse_database_url(f"postgresql://app:secret@127.0.0.1:1/books?{TLS}"))

    assert [r.getMessage() for r in caplog.records] == [
        "database schema revision not checked: database unreachable"
    ]
    assert "secret" not in caplog.text


@pytest.mark.slow
def test_serve_logs_the_warning_at_start_when_the_database_is_behind(fresh_url: str) -> None:
    port = _free_port()
    env = _environment(PORT=str(port), DATABASE_URL=fresh_url, HOST="127.0.0.1")
    process = subprocess.Popen(
        _dockerfile_command(),
        cwd=APP_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(process.stdout or []), name="serve-output", daemon=True
    )
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any("behind this image" in x for x in lines):
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=30)
        reader.join(timeout=5)
    output = "".join(lines)
    assert "behind this image's head 0001" in output, output[-2000:]
    [warning] = [line for line in lines if "behind this image's head" in line]
    assert '"level": "WARNING"' in warning
    assert fresh_url.split("@", maxsplit=1)[0] not in output  # no credentials in the log
