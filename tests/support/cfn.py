"""Captures what a crhelper handler sends to CloudFormation's ResponseURL; fakes a Lambda context.

crhelper binds `http.client.HTTPSConnection` into `crhelper.utils` at import time, so the
documented way to capture its response is to patch that name.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass
class CfnResponses:
    """Bodies PUT to the ResponseURL, in order, decoded from JSON."""

    bodies: list[dict[str, Any]] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    @property
    def last(self) -> dict[str, Any]:
        assert self.bodies, "the handler sent no response to CloudFormation"
        return self.bodies[-1]

    @property
    def only(self) -> dict[str, Any]:
        assert len(self.bodies) == 1, f"expected exactly one response, got {len(self.bodies)}"
        return self.bodies[0]


def install_capture(monkeypatch: pytest.MonkeyPatch) -> CfnResponses:
    captured = CfnResponses()

    class _Response:
        status = 200
        reason = "OK"

    class _Connection:
        def __init__(self, host: str, context: Any = None) -> None:
            self.host = host

        def request(self, method: str, url: str, body: str, headers: dict[str, str]) -> None:
            assert method == "PUT"
            # CloudFormation rejects response bodies over 4096 bytes.
            assert len(body.encode("utf-8")) <= 4096, "response body exceeds 4096 bytes"
            captured.urls.append(f"https://{self.host}{url}")
            captured.bodies.append(json.loads(body))

        def getresponse(self) -> _Response:
            return _Response()

    monkeypatch.setattr("crhelper.utils.HTTPSConnection", _Connection)
    return captured


@pytest.fixture
def cfn_responses(monkeypatch: pytest.MonkeyPatch) -> CfnResponses:
    return install_capture(monkeypatch)


class LambdaContext:
    """The parts of the Lambda context object that crhelper reads."""

    def __init__(
        self, timeout_seconds: float = 300.0, function_name: str = "test-function"
    ) -> None:
        self._deadline = time.monotonic() + timeout_seconds
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        )
        self.memory_limit_in_mb = 128
        self.aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "2026/11/26/[$LATEST]abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()
