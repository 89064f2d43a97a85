"""The image's command, `python -m bookapp serve`, run exactly as the Dockerfile runs it (from app/,
port from PORT, worker processes): it answers /healthz without a reachable database, and a bad
environment stops it at once with a clear message."""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

APP_DIR = Path(__file__).resolve().parents[2] / "app"
TLS = f"sslmode=verify-full&sslrootcert={APP_DIR / 'certs' / 'rds-global-bundle.pem'}"


def _dockerfile_command() -> list[str]:
    text = (APP_DIR / "Dockerfile").read_text()
    match = re.search(r'^CMD \["python", (.*)\]$', text, re.MULTILINE)
    assert match, "the Dockerfile's CMD is not the exec form starting with python"
    return [sys.executable, *re.findall(r'"([^"]+)"', match.group(1))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _environment(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "JOB_", "DATABASE"))}
    env.update(overrides)
    return env


@pytest.mark.slow
def test_dockerfile_command_serves_healthz_with_workers_even_without_a_database() -> None:
    port = _free_port()
    # Nothing listens on port 1: the database is unreachable, as while Aurora starts.
    env = _environment(
        PORT=str(port),
        DATABASE_URL=f"postgresql://app:secret@127.0.0.1:1/books?{TLS}",
        WEB_CONCURRENCY="2",
        HOST="127.0.0.1",  # only loopback, as a local stack would
    )
    process = subprocess.Popen(
        _dockerfile_command(),
        cwd=APP_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        body = b""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    body = r.read()
                    break
            except OSError:
                assert process.poll() is None, "the server exited"
                time.sleep(0.2)
        assert body == b'{"status":"ok"}'
        with pytest.raises(urllib.error.HTTPError) as not_ready:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10)
        assert not_ready.value.code == 503
        # Forwarded headers are not trusted: the redirect to /books keeps the scheme and client
        # uvicorn saw, whatever a client claims.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request(
            "GET", "/books/", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "6.6.6.6"}
        )
        redirect = connection.getresponse()
        assert redirect.status == 307
        assert redirect.getheader("location") == f"http://127.0.0.1:{port}/books"
        connection.close()
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert b"secret" not in output


def test_serve_with_a_bad_environment_exits_2_with_the_reason() -> None:
    result = subprocess.run(
        _dockerfile_command(),
        cwd=APP_DIR,
        env=_environment(DATABASE_URL=f"postgresql://app:secret@db/books?{TLS}", APP_ROLE="jobs"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("configuration error: JOB_TOPIC_ARN is not set")
    assert "secret" not in result.stderr + result.stdout
