"""The app's database connection verifies its server and never hands out its password but to SCRAM,
against a real PostgreSQL: the URL shape of production (verify-full + sslrootcert), a server
certificate from another CA, a server that asks for the password in clear or as MD5, and libpq's
Unix-socket form."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import psycopg
import pytest
import sqlalchemy as sa

from bookapp.config import parse_database_url
from bookapp.db import create_engine
from harness.postgres import PostgresServer, issue_server_certificate, running_postgres

LEGACY_PASSWORD = "legacy-password"


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    """A server of its own: these tests add roles and pg_hba lines."""
    with running_postgres() as pg:
        for method in ("password", "md5"):
            pg.psql(
                f"SET password_encryption = 'md5'; "
                f"CREATE ROLE legacy_{method} LOGIN PASSWORD '{LEGACY_PASSWORD}'"
            )
        hba = pg.data_dir / "pg_hba.conf"
        hba.write_text(
            "hostssl all legacy_password 127.0.0.1/32 password\n"
            "hostssl all legacy_md5 127.0.0.1/32 md5\n" + hba.read_text()
        )
        pg.psql("SELECT pg_reload_conf()")
        yield pg


def _connect(raw_url: str) -> tuple[bool, str]:
    """Connects with the app's engine; (TLS in use, current_user)."""
    engine = create_engine(parse_database_url(raw_url), pool_size=1)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                sa.text(
                    "SELECT coalesce(s.ssl, false), current_user FROM pg_stat_ssl s "
                    "RIGHT JOIN (SELECT pg_backend_pid() AS pid) b ON s.pid = b.pid"
                )
            ).one()
            return bool(row[0]), str(row[1])
    finally:
        engine.dispose()


def _refusal(raw_url: str) -> str:
    with pytest.raises(sa.exc.OperationalError) as raised:
        _connect(raw_url)
    assert isinstance(raised.value.orig, psycopg.OperationalError)
    return str(raised.value.orig)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_server_is_verified_by_its_ca_for_the_name_the_url_gives(
    server: PostgresServer, host: str
) -> None:
    url = server.url().replace("@127.0.0.1:", f"@{host}:")
    assert "sslmode=verify-full" in url
    assert _connect(url) == (True, server.user)


def test_a_server_certificate_from_another_ca_is_refused(server: PostgresServer) -> None:
    other = server.root / "other-ca.crt"
    other.write_bytes(issue_server_certificate()[0])
    reason = _refusal(server.url().replace(quote(str(server.ca_file), safe="/"), str(other)))
    assert "certificate verify failed" in reason


def test_a_server_named_otherwise_in_its_certificate_is_refused(server: PostgresServer) -> None:
    # libpq connects to hostaddr and verifies the certificate against the host name.
    url = server.url().replace("@127.0.0.1:", "@db.example.internal:") + "&hostaddr=127.0.0.1"
    reason = _refusal(url)
    assert 'does not match host name "db.example.internal"' in reason


@pytest.mark.parametrize("method", ["password", "md5"])
def test_a_server_asking_for_the_password_other_than_by_scram_is_refused(
    server: PostgresServer, method: str
) -> None:
    url = server.url().replace(
        f"{quote(server.user, safe='')}:{quote(server.password, safe='')}@",
        f"legacy_{method}:{LEGACY_PASSWORD}@",
    )
    reason = _refusal(url)
    assert 'authentication method requirement "scram-sha-256" failed' in reason
    assert LEGACY_PASSWORD not in reason


def test_the_unix_socket_form_connects_without_tls(server: PostgresServer) -> None:
    url = server.socket_url()
    assert url.startswith(f"postgresql://{server.user}@/{server.dbname}?host=/")
    assert _connect(url) == (False, server.user)
