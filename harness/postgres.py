"""A real, throwaway PostgreSQL server with TLS for tests, the demo and the benchmarks.

Aurora PostgreSQL is the production database; this module stands in for it with the same wire
protocol, TLS required on TCP, and a login role whose password holds URL-hostile characters, so
connection-string encoding bugs show up here and not in production. The server lives in a temporary
folder on a free loopback port; it can be stopped and started again (the end-to-end tests take the
database away mid-run), and leaving the context manager removes the process and the folder.

Usage::

    with running_postgres() as pg:
        url = pg.url()  # postgresql://bookapp:<encoded>@127.0.0.1:<port>/bookapp?sslmode=require
        pg.stop(); pg.start()  # same port, same data
        other = pg.create_database("fresh")  # empty, owned by the login role; returns its URL
"""

from __future__ import annotations

import contextlib
import datetime
import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["PostgresError", "PostgresServer", "find_bindir", "running_postgres"]

# Every character that breaks a naive "postgresql://user:password@host/db" string.
HOSTILE_PASSWORD_CHARS = "@:/?#%+ "  # noqa: S105 - characters, not a secret


class PostgresError(RuntimeError):
    """PostgreSQL could not be found, initialised, started or stopped."""


def find_bindir() -> Path:
    """Debian's server binaries (the newest installed major version), or initdb found on PATH."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    for candidate in candidates:
        path = Path(candidate)
        if (path / "initdb").exists() and (path / "postgres").exists():
            return path
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise PostgresError(
        "PostgreSQL server binaries not found (looked in /usr/lib/postgresql/*/bin and PATH); "
        "run `make postgres` or `apt-get install postgresql`"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _self_signed_certificate() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


@dataclass
class PostgresServer:
    """One PostgreSQL cluster in `root`; host/port/user/password/dbname describe the login role."""

    root: Path
    bindir: Path
    port: int
    host: str = "127.0.0.1"
    user: str = "bookapp"
    dbname: str = "bookapp"
    password: str = field(
        default_factory=lambda: f"p{HOSTILE_PASSWORD_CHARS}{secrets.token_hex(8)}", repr=False
    )
    _as_postgres: bool = field(default=False, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    def url(
        self,
        dbname: str | None = None,
        *,
        scheme: str = "postgresql",
        sslmode: str | None = "require",
    ) -> str:
        """A libpq/SQLAlchemy URL with every credential percent-encoded."""
        query = f"?sslmode={sslmode}" if sslmode else ""
        return (
            f"{scheme}://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{quote(dbname or self.dbname, safe='')}{query}"
        )

    # -- process control -------------------------------------------------------------------------

    def _command(self, argv: Sequence[str]) -> list[str]:
        if self._as_postgres:
            return ["runuser", "-u", "postgres", "--", *argv]
        return list(argv)

    def _run(self, argv: Sequence[str], *, input_text: str | None = None) -> str:
        result = subprocess.run(  # noqa: S603 - fixed binaries, arguments built here
            self._command(argv),
            input=input_text,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if result.returncode != 0:
            raise PostgresError(
                f"{Path(argv[0]).name} failed (exit {result.returncode}): {result.stderr.strip()}"
            )
        return result.stdout

    def initialise(self) -> None:
        """initdb, TLS material, configuration; then start, create the login role and database."""
        for folder in (self.data_dir, self.socket_dir):
            folder.mkdir(mode=0o700)
        cert_pem, key_pem = _self_signed_certificate()
        (self.root / "server.crt").write_bytes(cert_pem)
        key_path = self.root / "server.key"
        key_path.write_bytes(key_pem)
        key_path.chmod(0o600)
        if self._as_postgres:
            for path in [self.root, *self.root.rglob("*")]:
                shutil.chown(path, user="postgres", group="postgres")
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=reject",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        conf = "\n".join(
            [
                "listen_addresses = '127.0.0.1'",
                f"port = {self.port}",
                f"unix_socket_directories = '{self.socket_dir}'",
                "ssl = on",
                f"ssl_cert_file = '{self.root / 'server.crt'}'",
                f"ssl_key_file = '{key_path}'",
                "password_encryption = 'scram-sha-256'",
                "fsync = off",
                "synchronous_commit = off",
                "full_page_writes = off",
                "max_connections = 100",
                "log_min_messages = warning",
                "",
            ]
        )
        with (self.data_dir / "postgresql.conf").open("a") as handle:
            handle.write(conf)
        # TCP only over TLS with a password; the unix socket (ours alone) for administration.
        (self.data_dir / "pg_hba.conf").write_text(
            "local all all trust\n"
            "hostssl all all 127.0.0.1/32 scram-sha-256\n"
            "hostnossl all all 0.0.0.0/0 reject\n"
        )
        self.start()
        literal = self.password.replace("'", "''")
        self.psql(f"CREATE ROLE {self.user} LOGIN PASSWORD '{literal}'")
        self.psql(f"CREATE DATABASE {self.dbname} OWNER {self.user}")

    def start(self, timeout: float = 30.0) -> None:
        """Start the server (again) on the same port with the same data."""
        self._run(
            [
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                str(int(timeout)),
                "start",
            ]
        )
        self._wait_for_tcp(timeout)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; `mode` is pg_ctl's: smart, fast or immediate."""
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-w", "-m", mode, "stop"])

    @property
    def is_running(self) -> bool:
        result = subprocess.run(  # noqa: S603
            self._command([str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "status"]),
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def _wait_for_tcp(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise PostgresError(
                        f"PostgreSQL did not accept connections on port {self.port}"
                    ) from None
                time.sleep(0.05)

    # -- administration ------------------------------------------------------------------------

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run SQL as the superuser over the private unix socket; returns unaligned output."""
        return self._run(
            [
                str(self.bindir / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                dbname,
            ],
            input_text=sql,
        )

    def create_database(self, name: str) -> str:
        """Create an empty database owned by the login role; returns its URL."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"database name must be letters, digits and underscores: {name!r}")
        self.psql(f"CREATE DATABASE {name} OWNER {self.user}")
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def running_postgres(bindir: Path | None = None) -> Iterator[PostgresServer]:
    """Start a fresh TLS-enabled PostgreSQL; stop it and delete its folder on exit."""
    as_postgres = os.geteuid() == 0
    root = Path(tempfile.mkdtemp(prefix="harness-pg-"))
    server = PostgresServer(
        root=root, bindir=bindir or find_bindir(), port=_free_port(), _as_postgres=as_postgres
    )
    try:
        if as_postgres:
            # initdb and postgres refuse to run as root; the folder must belong to their user.
            shutil.chown(root, user="postgres", group="postgres")
        server.initialise()
        yield server
    finally:
        try:
            if server.data_dir.exists() and server.is_running:
                server.stop("immediate")
        finally:
            shutil.rmtree(root, ignore_errors=True)
