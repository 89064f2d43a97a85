"""AWS failures the custom-resource tests produce for real: botocore's own retry loop runs, and
only the answer and the backoff delay are faked."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

# An SNS (query protocol) throttling answer.
THROTTLED = (
    b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
    b"<Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>"
)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_kwargs: Any) -> Any:
        yield self._body


def always_throttled(client: Any, operation: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Answer every `operation` call of the SNS `client` with Throttling, without backoff delay;
    returns the list that each attempt's URL is appended to."""
    monkeypatch.setattr(
        "botocore.retries.standard.ExponentialBackoff.delay_amount", lambda *_a, **_k: 0
    )
    attempts: list[str] = []

    def answer(request: Any, **_kwargs: Any) -> AWSResponse:
        attempts.append(request.url)
        return AWSResponse(request.url, 400, {}, _Raw(THROTTLED))

    client.meta.events.register(f"before-send.sns.{operation}", answer)
    return attempts
