"""Fixtures for the app tests: real PostgreSQL (TLS), moto's SNS, a signing CA, the real app.

moto's server sits behind the certificate server (AWS_ENDPOINT_URL_SNS), as in the local stack; the
app is configured through its environment, as App Runner configures it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
import sqlalchemy as sa
from moto.server import ThreadedMotoServer
from starlette.testclient import TestClient

from bookapp import aws, jobs, web
from bookapp.config import parse_database_url
from bookapp.db import create_engine
from bookapp.migrate import upgrade_to_head
from bookapp.web import create_app
from harness.postgres import PostgresServer, running_postgres
from harness.sns_signing import CertificateServer, Signer, TestCA, build_envelope

TOPIC_NAME = "book-jobs"
TOPIC_ARN = f"arn:aws:sns:us-east-1:123456789012:{TOPIC_NAME}"
OTHER_TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:someone-elses-topic"


@pytest.fixture(scope="session")
def pg() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def engine(pg: PostgresServer) -> Iterator[sa.Engine]:
    engine = create_engine(parse_database_url(pg.url()))
    upgrade_to_head(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def cert_server(moto_url: str) -> Iterator[CertificateServer]:
    with CertificateServer(upstream=moto_url) as server:
        yield server


@pytest.fixture(scope="session")
def ca() -> TestCA:
    return TestCA()


@pytest.fixture(scope="session")
def signer(ca: TestCA) -> Signer:
    return ca.issue_signer()


@pytest.fixture(scope="session")
def cert_url(cert_server: CertificateServer, signer: Signer) -> str:
    return cert_server.publish(signer)


@pytest.fixture
def app_env(
    monkeypatch: pytest.MonkeyPatch, pg: PostgresServer, cert_server: CertificateServer
) -> dict[str, str]:
    env = {
        "DATABASE_URL": pg.url(),
        "JOB_TOPIC_ARN": TOPIC_ARN,
        "APP_ROLE": "all",
        "AWS_ENDPOINT_URL_SNS": cert_server.endpoint,
        "LOG_LEVEL": "INFO",
        "ENABLE_TEST_JOBS": "true",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    unset = ("JOB_PATH", "PORT", "ENABLE_OTEL", "WEB_CONCURRENCY", "JOB_MAX_MESSAGE_AGE_SECONDS")
    for key in unset:
        monkeypatch.delenv(key, raising=False)
    aws.sns_client.cache_clear()  # boto3 reads the endpoint override when a client is made
    # Most tests change the database's state and ask /readyz at once: no cached answer here
    # (test_api.py tests the cache with its own interval).
    monkeypatch.setattr(web, "READY_CACHE_SECONDS", 0.0)
    return env


@pytest.fixture
def clean_runs(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text("TRUNCATE job_runs"))


@pytest.fixture
def client(app_env: dict[str, str], engine: sa.Engine, clean_runs: None) -> Iterator[TestClient]:
    with TestClient(create_app(), raise_server_exceptions=False) as test_client:
        yield test_client


Deliver = Callable[..., dict[str, str]]


class LoginRefused:
    """A registered job whose first `refused` runs open a new connection with a password the server
    no longer takes, as an old instance does after a rotation: the real server refuses the login
    (SQLSTATE 28P01). Later runs succeed."""

    def __init__(self, pg: PostgresServer, refused: int = 1) -> None:
        url = parse_database_url(pg.url()).set(password="rotated-away")
        self.engine = create_engine(url, pool_size=1)
        self.refused = refused
        self.runs = 0

    def __call__(self, payload: Mapping[str, Any], ctx: jobs.JobContext) -> None:
        self.runs += 1
        if self.runs <= self.refused:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")


@pytest.fixture
def login_refused(monkeypatch: pytest.MonkeyPatch, pg: PostgresServer) -> Iterator[LoginRefused]:
    job = LoginRefused(pg)
    monkeypatch.setitem(jobs.REGISTRY, "login_refused_job", job)
    yield job
    job.engine.dispose()


@pytest.fixture
def notification(signer: Signer, cert_url: str) -> Deliver:
    """A signed Notification carrying a job message (DESIGN §2.3)."""

    def make(job: str = "test_book_job", payload: Any = None, **overrides: Any) -> dict[str, str]:
        message = overrides.pop("message", None)
        if message is None:
            message = {"job": job, "payload": payload or {}, "timestamp": 1764115200}
        return build_envelope(
            "Notification",
            signer=overrides.pop("signer", signer),
            cert_url=overrides.pop("cert_url", cert_url),
            topic_arn=overrides.pop("topic_arn", TOPIC_ARN),
            message=message,
            **overrides,
        )

    return make


def job_runs(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [
            dict(row)
            for row in connection.execute(
                sa.text("SELECT * FROM job_runs ORDER BY started_at")
            ).mappings()
        ]


def run_concurrently(count: int, target: Callable[[], Any]) -> list[Any]:
    """Start `count` calls at the same instant (a barrier) and collect their results."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def worker(index: int) -> None:
        barrier.wait()
        results[index] = target()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results
