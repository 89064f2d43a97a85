"""A real, throwaway PostgreSQL server with TLS for tests, the demo and the benchmarks.

Aurora PostgreSQL is the production database; this module stands in for it with the same wire
protocol, TLS required on TCP, SCRAM password authentication, and a login role whose password holds
URL-hostile characters, so connection-string encoding bugs show up here and not in production. Its
server certificate is issued by a throwaway CA made for this server alone, for the names clients use
(localhost and 127.0.0.1), so clients connect with `sslmode=verify-full` and that CA as
`sslrootcert`: the same URL shape as the app's in AWS, where the CA is the RDS bundle in the image.
The server lives in a temporary folder on a free loopback port; it can be stopped and started
again (the end-to-end tests take the database away mid-run), and leaving the context manager
removes the process and the folder.

The postmaster runs in the foreground as our child process (`postgres -D ...`, as the postgres
user when we are root), not through `pg_ctl start`, which detaches it (its parent becomes PID 1)
so that nothing but an explicit `pg_ctl stop` ends it. As a child it is stopped with the rest of
the harness's processes, its exit is seen at once, and a test can check it is gone by its pid.
If another process takes the picked port before the server binds it, the first start moves to a
new port (a few times); a restart keeps its port, since clients already hold the URL.

Usage::

    with running_postgres() as pg:
        url = pg.url()  # postgresql://bookapp:<encoded>@127.0.0.1:<port>/bookapp?sslmode=verify-full&sslrootcert=<pg.ca_file>
        pg.stop(); pg.start()  # same port, same data
        other = pg.create_database("fresh")  # empty, owned by the login role; returns its URL
"""

from __future__ import annotations

import contextlib
import datetime
import glob
import ipaddress
import os
import secrets
import shutil
import signal
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
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.processes import (
    ChildProcess,
    PortInUseError,
    bind_failed,
    free_port,
    start_on_free_port,
)

__all__ = [
    "PostgresError",
    "PostgresServer",
    "find_bindir",
    "issue_server_certificate",
    "running_postgres",
]

# The names clients reach the server by; its certificate is valid for each (verify-full).
SERVER_NAMES = ("localhost", "127.0.0.1")
# Every character that breaks a naive "postgresql://user:password@host/db" string.
HOSTILE_PASSWORD_CHARS = "@:/?#%+ "  # noqa: S105 - characters, not a secret

# pg_ctl's shutdown modes are these signals to the postmaster.
_STOP_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}
# How many ports the first start tries when another process takes the picked one.
PORT_ATTEMPTS = 3
# initdb, psql: each finishes in seconds; past this the server is stuck, not slow.
RUN_TIMEOUT = 60.0


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


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def issue_server_certificate(
    names: Sequence[str] = SERVER_NAMES, *, ca_name: str = "Harness PostgreSQL Test CA"
) -> tuple[bytes, bytes, bytes]:
    """A throwaway CA and a server certificate it signed for `names` (DNS names or IP addresses).

    Returns (CA certificate, server certificate, server key), PEM. The CA's key is dropped: nothing
    else can ever be signed by it.
    """
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_name)])
    ca_certificate = (
        x509.CertificateBuilder()
        .subject_name(ca_subject)
        .issuer_name(ca_subject)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    alternative_names: list[x509.GeneralName] = []
    for name in names:
        try:
            alternative_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternative_names.append(x509.DNSName(name))
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return (
        ca_certificate.public_bytes(serialization.Encoding.PEM),
        certificate.public_bytes(serialization.Encoding.PEM),
        _pem_key(key),
    )


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
    _child: ChildProcess | None = field(default=None, repr=False, compare=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    @property
    def ca_file(self) -> Path:
        """The throwaway CA that signed the server's certificate: clients' `sslrootcert`."""
        return self.root / "ca.crt"

    def tls_query(self, sslmode: str = "verify-full") -> str:
        """`sslmode=...&sslrootcert=<ca_file>`, the query the app's DATABASE_URL carries."""
        return f"sslmode={sslmode}&sslrootcert={quote(str(self.ca_file), safe='/')}"

    def url(
        self,
        dbname: str | None = None,
        *,
        scheme: str = "postgresql",
        sslmode: str | None = "verify-full",
    ) -> str:
        """A libpq/SQLAlchemy URL with every credential percent-encoded, verifying the server."""
        query = f"?{self.tls_query(sslmode)}" if sslmode else ""
        return (
            f"{scheme}://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{quote(dbname or self.dbname, safe='')}{query}"
        )

    def socket_url(self, dbname: str | None = None) -> str:
        """libpq's Unix-socket form (no password: the socket trusts local users)."""
        return (
            f"postgresql://{quote(self.user, safe='')}@/{quote(dbname or self.dbname, safe='')}"
            f"?host={quote(str(self.socket_dir), safe='/')}&port={self.port}"
        )

    # -- process control -------------------------------------------------------------------------

    def _command(self, argv: Sequence[str]) -> list[str]:
        if self._as_postgres:
            return ["runuser", "-u", "postgres", "--", *argv]
        return list(argv)

    def _run(self, argv: Sequence[str], *, input_text: str | None = None) -> str:
        try:
            result = subprocess.run(  # noqa: S603 - fixed binaries, arguments built here
                self._command(argv),
                input=input_text,
                capture_output=True,
                text=True,
                check=False,
                timeout=RUN_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise PostgresError(
                f"{Path(argv[0]).name} did not finish within {RUN_TIMEOUT:.0f} s"
            ) from None
        if result.returncode != 0:
            raise PostgresError(
                f"{Path(argv[0]).name} failed (exit {result.returncode}): {result.stderr.strip()}"
            )
        return result.stdout

    def initialise(self) -> None:
        """initdb, TLS material, configuration; then start, create the login role and database."""
        for folder in (self.data_dir, self.socket_dir):
            folder.mkdir(mode=0o700)
        ca_pem, cert_pem, key_pem = issue_server_certificate()
        self.ca_file.write_bytes(ca_pem)
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
        self._start_on_a_free_port(timeout=30.0)
        literal = self.password.replace("'", "''")
        self.psql(f"CREATE ROLE {self.user} LOGIN PASSWORD '{literal}'")
        self.psql(f"CREATE DATABASE {self.dbname} OWNER {self.user}")

    def start(self, timeout: float = 30.0) -> None:
        """Start the server (again) on the same port with the same data."""
        try:
            self._launch(self.port, timeout)
        except PortInUseError:
            raise PostgresError(
                f"port {self.port} was taken by another process while PostgreSQL was stopped"
            ) from None

    def _start_on_a_free_port(self, timeout: float) -> None:
        start_on_free_port(
            lambda port: self._launch(port, timeout),
            what="PostgreSQL",
            attempts=PORT_ATTEMPTS,
            first_port=self.port,
            pick=free_port,
        )

    def _launch(self, port: int, timeout: float) -> None:
        if self.is_running:
            raise PostgresError(f"PostgreSQL is already running on port {self.port}")
        child = ChildProcess(
            "postgres",
            [str(self.bindir / "postgres"), "-D", str(self.data_dir), "-p", str(port)],
            log_path=self.log_file,
            env={"PATH": "/usr/bin:/bin", "LANG": "C"},
            user="postgres" if self._as_postgres else None,
        )
        self._child = child
        self.port = port
        try:
            self._wait_until_ready(child, timeout)
        except BaseException:
            child.stop()
            raise

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; `mode` is pg_ctl's: smart, fast or immediate. Idempotent."""
        if mode not in _STOP_SIGNALS:
            raise ValueError(f"stop mode must be one of {', '.join(_STOP_SIGNALS)}, got {mode!r}")
        child = self._child
        if child is None:
            return
        if child.alive():
            # The postmaster alone: it takes its backends down in the chosen mode.
            os.kill(child.pid, _STOP_SIGNALS[mode])
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=60)
        child.stop(timeout=5)  # anything left in its session, then the log file

    @property
    def is_running(self) -> bool:
        return self._child is not None and self._child.alive()

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while it runs."""
        return self._child.pid if self.is_running and self._child is not None else None

    def _wait_until_ready(self, child: ChildProcess, timeout: float) -> None:
        """Until postmaster.pid says "ready" (recovery done) and the TCP port accepts."""
        deadline = time.monotonic() + timeout
        status_file = self.data_dir / "postmaster.pid"
        while True:
            if not child.alive():
                output = child.output()
                if bind_failed(output):
                    raise PortInUseError(f"PostgreSQL could not bind port {self.port}")
                tail = "\n".join(output.splitlines()[-10:])
                raise PostgresError(
                    f"PostgreSQL exited ({child.process.returncode}) while starting:\n{tail}"
                )
            try:
                lines = status_file.read_text().splitlines()
            except OSError:
                lines = []
            # Line 8 of postmaster.pid is the postmaster's state, as pg_ctl -w reads it.
            if len(lines) >= 8 and lines[7].strip() == "ready" and self._accepts_tcp():
                return
            if time.monotonic() > deadline:
                raise PostgresError(
                    f"PostgreSQL did not accept connections on port {self.port} "
                    f"within {timeout:.0f} s"
                )
            time.sleep(0.05)

    def _accepts_tcp(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1):
                return True
        except OSError:
            return False

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
        root=root, bindir=bindir or find_bindir(), port=free_port(), _as_postgres=as_postgres
    )
    try:
        if as_postgres:
            # initdb and postgres refuse to run as root; the folder must belong to their user.
            shutil.chown(root, user="postgres", group="postgres")
        server.initialise()
        yield server
    finally:
        try:
            server.stop("immediate")
        finally:
            shutil.rmtree(root, ignore_errors=True)
