"""moto's server as a child process on a free loopback port: Secrets Manager, SNS and SQS.

It runs as its own process (`python -m moto.server`), not in the demo's process, so the Lambda
runtime processes and the app reach it over HTTP exactly as they would reach AWS through an
endpoint override, and stopping it is stopping a process.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Self

import boto3

from harness.processes import (
    ChildProcess,
    PortInUseError,
    Service,
    bind_failed,
    http_status,
    start_on_free_port,
    wait_until,
)

# moto answers its own dashboard API without any AWS signature: a cheap readiness probe.
_READY_PATH = "/moto-api/data.json"
REGION = "us-east-1"


def moto_client(service: str, endpoint_url: str, region: str = REGION) -> Any:
    """A boto3 client for `service` at `endpoint_url` (moto's server, or a proxy in front of it),
    with moto's fake credentials, so no real ones are ever looked up."""
    make: Any = boto3.client
    return make(
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's fake credentials
    )


class MotoServer(Service):
    """`python -m moto.server -H 127.0.0.1 -p <port>`; `url` is the endpoint for AWS clients."""

    def __init__(self, workdir: Path, *, start_timeout: float = 30.0) -> None:
        self.workdir = workdir
        self.start_timeout = start_timeout
        self.port = 0
        self._child: ChildProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def child(self) -> ChildProcess:
        if self._child is None:
            raise RuntimeError("moto's server is not started")
        return self._child

    def start(self) -> Self:
        # Another process may take the free port before moto binds it: try a few ports.
        start_on_free_port(self._launch, what="moto's server", attempts=3)
        return self

    def _launch(self, port: int) -> ChildProcess:
        self.port = port
        child = ChildProcess(
            "moto",
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            log_path=self.workdir / "moto.log",
            env={**os.environ, "MOTO_PORT": str(port)},
        )
        self._child = child
        try:
            wait_until(self._ready, timeout=self.start_timeout, what="moto's server")
        except (TimeoutError, RuntimeError):
            child.stop()
            if bind_failed(child.output()):
                raise PortInUseError(f"moto's server could not bind port {port}") from None
            raise RuntimeError(
                f"moto's server did not start on port {port}:\n{child.log_tail()}"
            ) from None
        except BaseException:
            child.stop()
            raise
        return child

    def _ready(self) -> bool | None:
        if self._child is not None and not self._child.alive():
            raise RuntimeError(f"moto's server exited:\n{self._child.log_tail()}")
        return True if http_status(self.url + _READY_PATH) == 200 else None

    def client(self, service: str) -> Any:
        """A boto3 client for `service` on this server."""
        return moto_client(service, self.url)

    def stop(self) -> None:
        if self._child is not None:
            self._child.stop()
