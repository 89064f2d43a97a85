"""A local stand-in for the three App Runner API calls the rotation follower makes.

moto has no App Runner. This serves `DescribeService`, `ListOperations` and `StartDeployment`
(AWS JSON 1.0, `X-Amz-Target: AppRunner.<Operation>`) for the services it is given, at
`AWS_ENDPOINT_URL_APPRUNNER`, so the built follower makes its real calls. A `StartDeployment` is
recorded as an operation (IN_PROGRESS, then SUCCEEDED or FAILED) and runs the `deploy` callback in
a thread, as App Runner deploys in the background while the service is OPERATION_IN_PROGRESS; the
rehearsal's callback starts a new app instance with the secret read anew and moves traffic to it.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from harness.processes import Service, stop_server_thread


@dataclass
class _Operation:
    id: str
    type: str
    status: str
    started_at: float
    ended_at: float | None = None


@dataclass
class _ServiceState:
    arn: str
    status: str = "RUNNING"
    operations: list[_Operation] = field(default_factory=list)


class AppRunnerStandIn(Service):
    def __init__(self, deploy: Callable[[str], None]) -> None:
        self.deploy = deploy
        self.services: dict[str, _ServiceState] = {}
        self.calls: list[tuple[str, str]] = []  # (operation, service ARN), in order
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._deployments: list[threading.Thread] = []

    def add_service(self, arn: str) -> None:
        # Created a while ago: its creation is older than any value the follower writes.
        self.services[arn] = _ServiceState(
            arn,
            operations=[_Operation(str(uuid.uuid4()), "CREATE_SERVICE", "SUCCEEDED", 1.0e9, 1.0e9)],
        )

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the App Runner stand-in is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start_deployments(self, arn: str) -> int:
        with self._lock:
            return sum(
                1 for op, service in self.calls if op == "StartDeployment" and service == arn
            )

    def wait_idle(self, timeout: float) -> None:
        for thread in list(self._deployments):
            thread.join(timeout=timeout)

    def start(self) -> Self:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: ARG002
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                target = self.headers.get("X-Amz-Target", "")
                status, answer = stand_in._handle(target.removeprefix("AppRunner."), body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.wait_idle(timeout=30)
        stop_server_thread(self._server, self._thread)

    def _handle(self, operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        arn = str(body.get("ServiceArn", ""))
        with self._lock:
            self.calls.append((operation, arn))
            service = self.services.get(arn)
            if service is None:
                return 400, {
                    "__type": "ResourceNotFoundException",
                    "Message": "no such service",
                }
            if operation == "DescribeService":
                return 200, {"Service": _describe(service)}
            if operation == "ListOperations":
                return 200, {
                    "OperationSummaryList": [
                        {
                            "Id": op.id,
                            "Type": op.type,
                            "Status": op.status,
                            "TargetArn": arn,
                            "StartedAt": op.started_at,
                            **({"EndedAt": op.ended_at} if op.ended_at else {}),
                        }
                        for op in sorted(service.operations, key=lambda o: -o.started_at)
                    ]
                }
            if operation == "StartDeployment":
                if service.status != "RUNNING":
                    return 400, {
                        "__type": "InvalidRequestException",
                        "Message": f"service is {service.status}",
                    }
                op = _Operation(str(uuid.uuid4()), "START_DEPLOYMENT", "IN_PROGRESS", time.time())
                service.operations.append(op)
                service.status = "OPERATION_IN_PROGRESS"
                thread = threading.Thread(target=self._run, args=(service, op), daemon=True)
                self._deployments.append(thread)
                thread.start()
                return 200, {"OperationId": op.id}
        return 400, {"__type": "InvalidRequestException", "Message": f"not served: {operation}"}

    def _run(self, service: _ServiceState, op: _Operation) -> None:
        try:
            self.deploy(service.arn)
            outcome = "SUCCEEDED"
        except Exception as error:  # recorded, as App Runner records a failed deployment
            self.errors.append(f"{type(error).__name__}: {error}")
            outcome = "FAILED"
        with self._lock:
            op.status, op.ended_at = outcome, time.time()
            service.status = "RUNNING"


def _describe(service: _ServiceState) -> dict[str, Any]:
    name, service_id = service.arn.split("/")[-2:]
    return {
        "ServiceName": name,
        "ServiceId": service_id,
        "ServiceArn": service.arn,
        "CreatedAt": 1.0e9,
        "UpdatedAt": time.time(),
        "Status": service.status,
        "SourceConfiguration": {},
        "InstanceConfiguration": {},
        "AutoScalingConfigurationSummary": {},
        "NetworkConfiguration": {},
    }
