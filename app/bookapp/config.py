"""Configuration from the environment only, validated once at start with messages that say what
is wrong.

App Runner passes everything as environment variables (plain or from Secrets Manager); a typo there
should stop the process at start with a clear line in the logs, not surface later as a 500.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

# The message-age limits are SNS's own timing; bookapp.sns holds them (it imports no SQLAlchemy).
from bookapp.sns import DEFAULT_MAX_MESSAGE_AGE_SECONDS, SNS_MAX_RETRY_SECONDS

AppRole = Literal["api", "jobs", "all"]

TOPIC_ARN_PATTERN = re.compile(
    r"^arn:aws[a-z-]*:sns:(?P<region>[a-z]{2}(-[a-z]+)+-\d+):\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$"
)
_REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
# An SQS queue URL: scheme, host (a local stack's too), /ACCOUNT/NAME of a standard queue.
_QUEUE_URL_PATTERN = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?/\d{12}/[A-Za-z0-9_-]{1,80}$")
# The template's JobPath pattern: segments of unreserved characters, no empty segment (`//`).
_JOB_PATH_PATTERN = re.compile(r"^/[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*$")
_RESERVED_PATHS = ("/healthz", "/readyz", "/books")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}

# Where app/Dockerfile puts the RDS certificate bundle (checked against its pinned SHA-256).
RDS_CA_BUNDLE = "/app/certs/rds-global-bundle.pem"
# libpq's require_auth: over TCP the server must ask for SCRAM (never cleartext or MD5); on a
# Unix socket it may also ask for nothing (peer or trust authentication).
TCP_REQUIRE_AUTH = "scram-sha-256"
SOCKET_REQUIRE_AUTH = "scram-sha-256,none"
_SSLMODES = frozenset({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"})


DEFAULT_PORT = 8080
DEFAULT_HOST = "0.0.0.0"  # noqa: S104 - the container's port is what App Runner routes to


class ConfigError(ValueError):
    """The environment does not describe a runnable app; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """Validated configuration. `database_url` carries credentials: never log it."""

    database_url: URL | None
    job_topic_arn: str | None
    job_path: str
    app_role: AppRole
    port: int
    aws_region: str | None
    enable_otel: bool
    web_concurrency: int
    log_level: str
    host: str = DEFAULT_HOST
    enable_test_jobs: bool = False
    max_message_age_seconds: int = DEFAULT_MAX_MESSAGE_AGE_SECONDS
    # Where job results go when a message asks for them (DESIGN §2.6); None: never reported.
    job_results_queue_url: str | None = None

    @property
    def serves_jobs(self) -> bool:
        return self.app_role in ("jobs", "all")

    @property
    def results_region(self) -> str:
        """The results queue is in the stack's region: AWS_REGION, else the topic's."""
        return self.aws_region or self.topic_region or "us-east-1"

    @property
    def topic_region(self) -> str | None:
        if self.job_topic_arn is None:
            return None
        return self.job_topic_arn.split(":")[3]

    def require_database(self) -> URL:
        if self.database_url is None:
            raise ConfigError(
                "DATABASE_URL is not set: postgresql://USER:PASSWORD@HOST:PORT/DBNAME"
            )
        return self.database_url

    def require_topic(self) -> str:
        if self.job_topic_arn is None:
            raise ConfigError("JOB_TOPIC_ARN is not set: the ARN of the SNS job topic")
        return self.job_topic_arn


def parse_database_url(raw: str) -> URL:
    """Accept postgresql:// or postgres:// (libpq's forms) and use the psycopg 3 driver.

    Over TCP the server must be verified (`sslmode=verify-full` with an `sslrootcert`); a
    Unix-socket URL (`postgresql://user@/db?host=/run/postgresql`) needs no TLS, which libpq does
    not use on sockets. Either way `require_auth` is set so that libpq refuses any password
    authentication the server asks for other than SCRAM (a server that is not ours could ask for
    the password in clear or as an MD5 hash).
    """
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError(
            "DATABASE_URL is not a URL: expected postgresql://USER:PASSWORD@HOST:PORT/DBNAME "
            "with the user and password percent-encoded"
        ) from None
    except ValueError:
        # int() of what stands after the last ':' before the host; never repeat it: an unencoded
        # '/' or '#' in the password puts part of the password there.
        raise ConfigError(
            "DATABASE_URL: port must be a number (percent-encode the user and password if they "
            "contain : / @ ? #)"
        ) from None
    backend = url.get_backend_name()
    if backend not in ("postgresql", "postgres"):
        raise ConfigError(f"DATABASE_URL must use the postgresql:// scheme, not {backend}://")
    if url.get_driver_name() not in ("psycopg", "psycopg2", "") and "+" in url.drivername:
        raise ConfigError(
            f"DATABASE_URL driver {url.drivername!r} is not supported; use postgresql://"
        )
    host = _database_host(url)
    if "@" in host:
        raise ConfigError(
            "DATABASE_URL has an '@' after the one before the host: percent-encode the user and "
            "password ('@' is %40)"
        )
    port = url.port if url.port is not None else _query_port(url)
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError("DATABASE_URL: port must be between 1 and 65535")
    if not url.database:
        raise ConfigError("DATABASE_URL has no database name after the host")
    socket = host.startswith("/")
    if not socket:
        _check_server_verification(url)
    wanted_auth = SOCKET_REQUIRE_AUTH if socket else TCP_REQUIRE_AUTH
    given_auth = url.query.get("require_auth")
    if given_auth is not None and given_auth != wanted_auth:
        raise ConfigError(
            f"DATABASE_URL: require_auth must be {wanted_auth} (the app refuses password "
            "authentication that is not SCRAM), or left out: the app sets it"
        )
    return url.set(drivername="postgresql+psycopg").update_query_dict({"require_auth": wanted_auth})


def _single(url: URL, key: str) -> str | None:
    value = url.query.get(key)
    if isinstance(value, tuple):
        raise ConfigError(f"DATABASE_URL gives {key}= more than once; give it once")
    return value


def _database_host(url: URL) -> str:
    """The host after '@', or libpq's `?host=` (a host name, or a socket directory)."""
    query_host = _single(url, "host")
    if url.host and query_host is not None:
        raise ConfigError(
            "DATABASE_URL names the host twice (after '@' and as ?host=); give one of them"
        )
    host = url.host or query_host
    if not host:
        raise ConfigError(
            "DATABASE_URL has no host: postgresql://USER:PASSWORD@HOST:PORT/DBNAME, or a "
            "Unix-socket directory as postgresql://USER@/DBNAME?host=/run/postgresql"
        )
    if "," in host:
        raise ConfigError("DATABASE_URL names several hosts; the app connects to one")
    if "/" in host and not host.startswith("/"):
        raise ConfigError(
            f"DATABASE_URL: a Unix-socket directory must be an absolute path such as "
            f"/run/postgresql, got {host[:100]!r}"
        )
    return host


def _query_port(url: URL) -> int | None:
    raw = _single(url, "port")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()):
        raise ConfigError("DATABASE_URL: port must be a number")
    return int(raw)


def _check_server_verification(url: URL) -> None:
    """verify-full with a CA bundle: the server must prove it is the host the URL names."""
    sslmode = _single(url, "sslmode")
    if sslmode != "verify-full":
        # Only libpq's own words are repeated: anything else may be part of an unencoded password.
        given = sslmode if sslmode in _SSLMODES else "not set" if sslmode is None else "unknown"
        raise ConfigError(
            "DATABASE_URL must verify the database server: sslmode=verify-full with "
            f"sslrootcert=<CA bundle> (got sslmode={given})"
        )
    rootcert = _single(url, "sslrootcert")
    if not rootcert:
        raise ConfigError(
            "DATABASE_URL: sslrootcert is not set; it names the CA bundle that signed the "
            f"server's certificate (in the image: {RDS_CA_BUNDLE})"
        )
    if rootcert != "system" and not Path(rootcert).is_file():
        raise ConfigError(f"DATABASE_URL: sslrootcert file {rootcert[:200]!r} does not exist")


def _flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false (1/0, yes/no, on/off), got {raw!r}")


def _integer(name: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def load_settings(
    environ: Mapping[str, str],
    *,
    need_database: bool = True,
    need_topic: bool = False,
) -> Settings:
    """Read and check every variable; raise ConfigError naming the first problem found."""
    raw_role = environ.get("APP_ROLE", "api").strip() or "api"
    if raw_role not in ("api", "jobs", "all"):
        raise ConfigError(f"APP_ROLE must be api, jobs or all, got {raw_role!r}")
    role: AppRole = raw_role  # type: ignore[assignment]

    raw_url = environ.get("DATABASE_URL", "").strip()
    database_url = parse_database_url(raw_url) if raw_url else None
    if need_database and database_url is None:
        raise ConfigError(
            "DATABASE_URL is not set: postgresql://USER:PASSWORD@HOST:PORT/DBNAME"
            f"?sslmode=verify-full&sslrootcert={RDS_CA_BUNDLE}"
        )

    topic = environ.get("JOB_TOPIC_ARN", "").strip() or None
    if topic is not None and not TOPIC_ARN_PATTERN.match(topic):
        raise ConfigError(
            f"JOB_TOPIC_ARN is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME): {topic!r}"
        )
    if topic is None and (need_topic or role in ("jobs", "all")):
        raise ConfigError(
            f"JOB_TOPIC_ARN is not set; APP_ROLE={role} serves the job endpoint, which accepts "
            "only messages from that topic"
        )

    job_path = environ.get("JOB_PATH", "/jobs").strip() or "/jobs"
    if not _JOB_PATH_PATTERN.match(job_path):
        raise ConfigError(
            "JOB_PATH must be a URL path such as /jobs or /hooks/sns (letters, digits, . _ ~ -; "
            f"no empty segment or trailing /), got {job_path!r}"
        )
    if any(job_path == p or job_path.startswith(p + "/") for p in _RESERVED_PATHS):
        raise ConfigError(f"JOB_PATH {job_path!r} collides with one of the app's routes")

    port = _integer("PORT", environ.get("PORT", str(DEFAULT_PORT)).strip(), 1, 65535)
    host = environ.get("HOST", "").strip() or DEFAULT_HOST
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(
            f"HOST must be an IP address to listen on, such as 0.0.0.0 or 127.0.0.1, got {host!r}"
        ) from None
    region = environ.get("AWS_REGION", "").strip() or None
    if region is not None and not _REGION_PATTERN.match(region):
        raise ConfigError(f"AWS_REGION is not a region name such as us-east-1: {region!r}")
    results_queue = environ.get("JOB_RESULTS_QUEUE_URL", "").strip() or None
    if results_queue is not None and not _QUEUE_URL_PATTERN.match(results_queue):
        raise ConfigError(
            "JOB_RESULTS_QUEUE_URL is not the URL of a standard SQS queue "
            f"(https://sqs.REGION.amazonaws.com/ACCOUNT/NAME): {results_queue!r}"
        )
    enable_otel = _flag("ENABLE_OTEL", environ.get("ENABLE_OTEL", ""))
    workers = _integer("WEB_CONCURRENCY", environ.get("WEB_CONCURRENCY", "2").strip(), 1, 64)
    enable_test_jobs = _flag("ENABLE_TEST_JOBS", environ.get("ENABLE_TEST_JOBS", ""))
    max_age = _integer(
        "JOB_MAX_MESSAGE_AGE_SECONDS",
        environ.get("JOB_MAX_MESSAGE_AGE_SECONDS", str(DEFAULT_MAX_MESSAGE_AGE_SECONDS)).strip(),
        60,
        SNS_MAX_RETRY_SECONDS * 24,
    )
    log_level = environ.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {log_level!r}")
    return Settings(
        database_url=database_url,
        job_topic_arn=topic,
        job_path=job_path,
        app_role=role,
        port=port,
        aws_region=region,
        enable_otel=enable_otel,
        web_concurrency=workers,
        log_level=log_level,
        host=host,
        enable_test_jobs=enable_test_jobs,
        max_message_age_seconds=max_age,
        job_results_queue_url=results_queue,
    )
