"""Suite-wide settings: a fixed region and fake credentials, so no test reaches real AWS.

Also: SIGTERM (a CI timeout, `kill` of `make test`) stops the run like Ctrl-C does, so fixture
teardown stops the processes the end-to-end tests started (each runs in its own session and gets
no signal of its own) and removes their temporary folders. Without this, SIGTERM ends pytest at
once and leaves moto, the Lambda runtimes, the app and PostgreSQL running.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import Any

import pytest

from tests.support.events import STACK_ID

pytest_plugins = ["tests.support.cfn"]

_FAKE_AWS = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


@pytest.fixture(autouse=True)
def _fake_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in _FAKE_AWS.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(key, raising=False)
    # The custom-resource functions serve only the stack pinned in their environment; the event
    # files in events/ all come from this one.
    monkeypatch.setenv("STACK_ID", STACK_ID)
    monkeypatch.delenv("LOCAL_RESPONSE_ORIGIN", raising=False)


# Module import time (before fixtures) must not see real credentials either.
for _key, _value in _FAKE_AWS.items():
    os.environ[_key] = _value


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


_previous_handlers: dict[int, Any] = {}


def pytest_configure() -> None:
    # Only the main thread may set signal handlers; pytest runs tests there.
    if threading.current_thread() is threading.main_thread():
        _previous_handlers[signal.SIGTERM] = signal.signal(signal.SIGTERM, _interrupt)


def pytest_unconfigure() -> None:
    if threading.current_thread() is threading.main_thread():
        for signum, handler in _previous_handlers.items():
            signal.signal(signum, handler)
        _previous_handlers.clear()
