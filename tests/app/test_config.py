"""Configuration is validated at start: each bad or missing variable stops the app with a message
that names it, and never echoes the database password."""

from __future__ import annotations

import pytest

from bookapp.config import (
    DEFAULT_MAX_MESSAGE_AGE_SECONDS,
    DEFAULT_PORT,
    ConfigError,
    load_settings,
    parse_database_url,
)
from tests.support.tls import BUNDLE, TLS

TOPIC = "arn:aws:sns:eu-west-1:123456789012:book-jobs"
URL = f"postgresql://app:p%40ss%3Aw%2Frd@db.example.internal:5432/books?{TLS}"


def test_minimal_api_environment_gives_the_documented_defaults() -> None:
    settings = load_settings({"DATABASE_URL": URL})
    assert settings.app_role == "api"
    assert settings.port == DEFAULT_PORT == 8080
    assert settings.job_path == "/jobs"
    assert settings.enable_otel is False
    assert settings.web_concurrency == 2
    assert settings.host == "0.0.0.0"  # noqa: S104 - the documented default
    assert not settings.serves_jobs
    assert settings.enable_test_jobs is False
    assert settings.max_message_age_seconds == DEFAULT_MAX_MESSAGE_AGE_SECONDS == 3900


def test_database_url_keeps_an_encoded_password_and_uses_psycopg() -> None:
    url = load_settings({"DATABASE_URL": URL}).require_database()
    assert url.drivername == "postgresql+psycopg"
    assert url.password == "p@ss:w/rd"
    assert url.query == {
        "sslmode": "verify-full",
        "sslrootcert": str(BUNDLE),
        "require_auth": "scram-sha-256",
    }


def test_database_url_in_libpq_unix_socket_form_is_accepted() -> None:
    url = parse_database_url("postgresql://app@/books?host=/run/postgresql&port=5433")
    assert (url.host, url.database, url.username) == (None, "books", "app")
    # No TLS over a socket (libpq does not use it there); SCRAM, or no password exchange at all.
    assert url.query == {
        "host": "/run/postgresql",
        "port": "5433",
        "require_auth": "scram-sha-256,none",
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("postgresql://u:p@db/books", r"must verify the database server.*sslmode=not set"),
        ("postgresql://u:p@db/books?sslmode=require", r"verify-full.*got sslmode=require"),
        ("postgresql://u:p@db/books?sslmode=verify-ca", r"got sslmode=verify-ca"),
        ("postgresql://u:p@db/books?sslmode=secret-ish", r"got sslmode=unknown"),
        ("postgresql://u:p@db/books?sslmode=verify-full", "sslrootcert is not set"),
        (
            "postgresql://u:p@db/books?sslmode=verify-full&sslrootcert=/no/such.pem",
            "sslrootcert file '/no/such.pem' does not exist",
        ),
        (f"postgresql://u:p@db/books?{TLS}&require_auth=md5", "require_auth must be scram"),
        (f"postgresql://u:p@db/books?{TLS}&require_auth=password", "require_auth must be scram"),
        (f"postgresql://u:p@db/books?{TLS}&sslmode=disable", "sslmode= more than once"),
        ("postgresql://u@/books", "has no host"),
        ("postgresql://u@/books?host=run/postgresql", "must be an absolute path"),
        ("postgresql://u@db/books?host=/run/postgresql", "names the host twice"),
        ("postgresql://u@/books?host=/a,/b", "several hosts"),
        ("postgresql://u@/books?host=/run/postgresql&port=x", "port must be a number"),
        ("postgresql://u@/books?host=/run/postgresql&port=0", "port must be between"),
        ("postgresql://u@/books?host=/run/postgresql&require_auth=md5", "require_auth must be"),
        ("postgresql://u@/?host=/run/postgresql", "no database name"),
    ],
)
def test_database_url_that_libpq_could_not_use_safely_is_refused(raw: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_database_url(raw)


def test_test_jobs_and_the_message_age_are_settings() -> None:
    settings = load_settings(
        {"DATABASE_URL": URL, "ENABLE_TEST_JOBS": "true", "JOB_MAX_MESSAGE_AGE_SECONDS": "600"}
    )
    assert settings.enable_test_jobs is True
    assert settings.max_message_age_seconds == 600


def test_topic_region_comes_from_the_topic_arn() -> None:
    settings = load_settings({"DATABASE_URL": URL, "APP_ROLE": "jobs", "JOB_TOPIC_ARN": TOPIC})
    assert settings.serves_jobs
    assert settings.topic_region == "eu-west-1"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "DATABASE_URL is not set"),
        ({"DATABASE_URL": "mysql://u:p@h/db"}, "postgresql:// scheme"),
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL is not a URL"),
        ({"DATABASE_URL": "postgresql://u:p@/db"}, "has no host"),
        ({"DATABASE_URL": "postgresql://u:p@h:5432"}, "no database name"),
        ({"DATABASE_URL": URL, "APP_ROLE": "worker"}, "APP_ROLE must be api, jobs or all"),
        ({"DATABASE_URL": URL, "APP_ROLE": "jobs"}, "JOB_TOPIC_ARN is not set"),
        ({"DATABASE_URL": URL, "JOB_TOPIC_ARN": "book-jobs"}, "not an SNS topic ARN"),
        ({"DATABASE_URL": URL, "PORT": "eighty"}, "PORT must be a whole number"),
        ({"DATABASE_URL": URL, "PORT": "70000"}, "PORT must be between 1 and 65535"),
        ({"DATABASE_URL": URL, "ENABLE_OTEL": "maybe"}, "ENABLE_OTEL must be true or false"),
        ({"DATABASE_URL": URL, "JOB_PATH": "jobs"}, "JOB_PATH must be a URL path"),
        ({"DATABASE_URL": URL, "JOB_PATH": "/books"}, "collides"),
        ({"DATABASE_URL": URL, "JOB_PATH": "//"}, "JOB_PATH must be a URL path"),
        ({"DATABASE_URL": URL, "JOB_PATH": "/"}, "JOB_PATH must be a URL path"),
        ({"DATABASE_URL": URL, "JOB_PATH": "/hooks//sns"}, "JOB_PATH must be a URL path"),
        ({"DATABASE_URL": URL, "JOB_PATH": "/jobs/"}, "JOB_PATH must be a URL path"),
        ({"DATABASE_URL": URL, "JOB_PATH": "/jobs?x=1"}, "JOB_PATH must be a URL path"),
        (
            {"DATABASE_URL": "postgresql://app:p@ss@db.example.internal:5432/books"},
            "percent-encode the user and password",
        ),
        (
            {"DATABASE_URL": "postgresql://app:p@ss@db.example.internal/books"},
            "percent-encode the user and password",
        ),
        ({"DATABASE_URL": "postgresql://app:pw@db:port/books"}, "DATABASE_URL: port must be a"),
        ({"DATABASE_URL": "postgresql://app:pw@db:70000/books"}, "port must be between"),
        ({"DATABASE_URL": URL, "AWS_REGION": "Ireland"}, "AWS_REGION is not a region"),
        ({"DATABASE_URL": URL, "WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY must be between"),
        ({"DATABASE_URL": URL, "LOG_LEVEL": "loud"}, "LOG_LEVEL must be"),
        ({"DATABASE_URL": URL, "HOST": "localhost"}, "HOST must be an IP address"),
        ({"DATABASE_URL": URL, "HOST": "0.0.0.0:8080"}, "HOST must be an IP address"),
        ({"DATABASE_URL": URL, "HOST": "256.1.1.1"}, "HOST must be an IP address"),
        ({"DATABASE_URL": URL, "ENABLE_TEST_JOBS": "sure"}, "ENABLE_TEST_JOBS must be true"),
        ({"DATABASE_URL": URL, "JOB_MAX_MESSAGE_AGE_SECONDS": "10"}, "between 60 and"),
        ({"DATABASE_URL": URL, "JOB_MAX_MESSAGE_AGE_SECONDS": "1h"}, "must be a whole number"),
    ],
)
def test_bad_environment_is_refused_with_a_message_naming_the_variable(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        load_settings(environ)
    assert "p%40ss" not in str(raised.value)
    assert "p@ss" not in str(raised.value)


@pytest.mark.parametrize("path", ["/jobs", "/hooks/sns", "/a.b/c_d/e~f-g"])
def test_job_path_made_of_unreserved_segments_is_accepted(path: str) -> None:
    assert load_settings({"DATABASE_URL": URL, "JOB_PATH": path}).job_path == path


def test_database_url_port_error_reads_as_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bookapp.__main__ import main  # noqa: PLC0415

    monkeypatch.setenv("DATABASE_URL", "postgresql://app:secret@db:54x2/books")
    assert main(["migrate"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("configuration error: DATABASE_URL: port must be a number")
    assert "secret" not in err


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("true", True), ("off", False)])
def test_enable_otel_accepts_common_spellings(raw: str, expected: bool) -> None:
    assert load_settings({"DATABASE_URL": URL, "ENABLE_OTEL": raw}).enable_otel is expected


def test_publishing_needs_the_topic_but_not_the_database() -> None:
    settings = load_settings({"JOB_TOPIC_ARN": TOPIC}, need_database=False, need_topic=True)
    assert settings.database_url is None
    with pytest.raises(ConfigError, match="JOB_TOPIC_ARN is not set"):
        load_settings({}, need_database=False, need_topic=True)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "0.0.0.0", "::"])  # noqa: S104
def test_host_accepts_an_ip_address_to_listen_on(host: str) -> None:
    assert load_settings({"DATABASE_URL": URL, "HOST": host}).host == host


def test_server_listens_on_host_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn  # noqa: PLC0415

    from bookapp import server  # noqa: PLC0415

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *_a, **kw: calls.append(kw))
    server.serve(load_settings({"DATABASE_URL": URL, "HOST": "127.0.0.1", "PORT": "9001"}))
    [kwargs] = calls
    assert (kwargs["host"], kwargs["port"]) == ("127.0.0.1", 9001)
