"""The rotation rehearsal's stand-ins: the App Runner API as botocore speaks it, and the front door
that moves traffic from one app instance to the next."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.exceptions import ClientError

from harness.app_runner import AppRunnerStandIn
from harness.front_door import FrontDoor

SERVICE = (
    "arn:aws:apprunner:us-east-1:123456789012:service/rehearsal-app/"
    "0123456789abcdef0123456789abcdef"
)


def test_the_app_runner_stand_in_answers_botocore_and_deploys_once_per_start() -> None:
    deployed: list[str] = []
    release = threading.Event()

    def deploy(arn: str) -> None:
        deployed.append(arn)
        release.wait(5)

    with AppRunnerStandIn(deploy) as stand_in:
        stand_in.add_service(SERVICE)
        client = boto3.client("apprunner", region_name="us-east-1", endpoint_url=stand_in.url)

        assert client.describe_service(ServiceArn=SERVICE)["Service"]["Status"] == "RUNNING"
        operation = client.start_deployment(ServiceArn=SERVICE)["OperationId"]
        assert client.describe_service(ServiceArn=SERVICE)["Service"]["Status"] == (
            "OPERATION_IN_PROGRESS"
        )
        with pytest.raises(ClientError, match="InvalidRequestException"):
            client.start_deployment(ServiceArn=SERVICE)
        release.set()
        stand_in.wait_idle(timeout=5)

        newest = client.list_operations(ServiceArn=SERVICE, MaxResults=20)["OperationSummaryList"][
            0
        ]
        assert (newest["Id"], newest["Type"], newest["Status"]) == (
            operation,
            "START_DEPLOYMENT",
            "SUCCEEDED",
        )
        assert client.describe_service(ServiceArn=SERVICE)["Service"]["Status"] == "RUNNING"
        assert deployed == [SERVICE]
        assert stand_in.start_deployments(SERVICE) == 2  # the refused one is counted as a call


def test_the_app_runner_stand_in_refuses_an_unknown_service() -> None:
    with AppRunnerStandIn(lambda _arn: None) as stand_in:
        client = boto3.client("apprunner", region_name="us-east-1", endpoint_url=stand_in.url)
        with pytest.raises(ClientError, match="ResourceNotFoundException"):
            client.describe_service(ServiceArn=SERVICE)


def _server(name: str, slow_arrived: threading.Event | None = None) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            if self.path == "/slow":
                if slow_arrived is not None:
                    slow_arrived.set()
                time.sleep(0.5)
            body = name.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


Backends = tuple[ThreadingHTTPServer, ThreadingHTTPServer, threading.Event]


@pytest.fixture
def backends() -> Iterator[Backends]:
    """The old and the new instance, and an event set once the old one has a slow request."""
    slow_on_old = threading.Event()
    old, new = _server("old", slow_on_old), _server("new")
    yield old, new, slow_on_old
    for server in (old, new):
        server.shutdown()
        server.server_close()


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
        return str(response.read().decode())


def test_the_front_door_moves_new_connections_and_lets_open_ones_finish(
    backends: Backends,
) -> None:
    old, new, slow_on_old = backends
    old_port, new_port = old.server_address[1], new.server_address[1]
    with FrontDoor(int(old_port)) as door:
        assert _get(f"{door.url}/") == "old"
        answers: list[str] = []
        slow = threading.Thread(target=lambda: answers.append(_get(f"{door.url}/slow")))
        slow.start()
        assert slow_on_old.wait(5), "the slow request did not reach the old backend"

        assert door.switch(int(new_port)) == old_port
        assert _get(f"{door.url}/") == "new"
        assert door.drain(int(old_port), timeout=5) is True
        slow.join(timeout=5)

        assert answers == ["old"]
        assert door.open_connections(int(old_port)) == 0
