"""No secret value reaches a log record, even with LOG_LEVEL=DEBUG and on every failure path.

crhelper logs the event and the whole response body at DEBUG; the handler holds crhelper's
loggers at INFO. The control test shows that without that guard the capture does see the values,
so the other tests would notice if it went away.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Iterator
from types import ModuleType

import pytest

from secret_environment import core
from tests.functions.secret_environment.seeds import (
    API_TOKEN,
    DB_PASSWORD,
    SECRET_VALUES,
    Invoke,
    Secrets,
    event_for,
)


def logged_text(caplog: pytest.LogCaptureFixture) -> str:
    """Everything a log handler could print: messages, arguments and tracebacks."""
    formatter = logging.Formatter()
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        if record.exc_info:
            parts.append(formatter.formatException(record.exc_info))
        if record.stack_info:
            parts.append(record.stack_info)
    return "\n".join(parts)


def assert_no_secret_logged(caplog: pytest.LogCaptureFixture) -> None:
    text = logged_text(caplog)
    assert caplog.records, "nothing was captured: the capture itself is broken"
    for value in SECRET_VALUES:
        assert value not in text
        assert json.dumps(value)[1:-1] not in text


@pytest.fixture
def debug_handler(
    monkeypatch: pytest.MonkeyPatch, handler_module: ModuleType
) -> Iterator[ModuleType]:
    """The handler as Lambda would load it with LOG_LEVEL=DEBUG."""
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    importlib.reload(handler_module)
    yield handler_module
    monkeypatch.delenv("LOG_LEVEL")
    importlib.reload(handler_module)


@pytest.fixture
def debug_capture(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


@pytest.mark.usefixtures("debug_handler")
@pytest.mark.parametrize("name", ["create_plain_text", "update_plain_text", "create", "update"])
def test_a_successful_request_at_debug_logs_no_secret_value(
    name: str, secrets: Secrets, invoke: Invoke, debug_capture: pytest.LogCaptureFixture
) -> None:
    body = invoke(event_for(name, secrets))

    assert body["Status"] == "SUCCESS", body["Reason"]
    assert logging.getLogger().getEffectiveLevel() == logging.DEBUG
    assert any(record.levelno == logging.INFO for record in debug_capture.records)
    assert_no_secret_logged(debug_capture)


@pytest.mark.usefixtures("debug_handler")
def test_a_refused_oversized_plain_text_response_at_debug_logs_no_secret_value(
    secrets: Secrets, invoke: Invoke, debug_capture: pytest.LogCaptureFixture
) -> None:
    secrets.client.put_secret_value(
        SecretId=secrets.database_arn,
        SecretString=json.dumps({"password": DB_PASSWORD, "padding": "y" * 5000}),
    )
    variables = [
        {"Name": "DB_PASSWORD", "SecretId": secrets.database_arn, "Key": "password"},
        {"Name": "PADDING", "SecretId": secrets.database_arn, "Key": "padding"},
    ]

    body = invoke(event_for("create_plain_text", secrets, Variables=variables))

    assert body["Status"] == "FAILED"
    assert_no_secret_logged(debug_capture)


@pytest.mark.usefixtures("debug_handler")
def test_an_unexpected_error_quoting_a_value_reaches_neither_log_nor_reason(
    monkeypatch: pytest.MonkeyPatch,
    secrets: Secrets,
    invoke: Invoke,
    debug_capture: pytest.LogCaptureFixture,
) -> None:
    def leaky_fingerprint(*_args: object) -> str:
        raise ValueError(f"cannot hash {DB_PASSWORD} and {API_TOKEN}")

    monkeypatch.setattr(core, "fingerprint", leaky_fingerprint)

    body = invoke(event_for("create_plain_text", secrets))

    assert body["Status"] == "FAILED"
    assert body["Reason"] == "internal error (ValueError); see the function's log"
    assert "leaky_fingerprint" in logged_text(debug_capture)
    assert_no_secret_logged(debug_capture)


@pytest.mark.usefixtures("debug_handler")
def test_a_secret_of_the_wrong_shape_at_debug_logs_no_secret_value(
    secrets: Secrets, invoke: Invoke, debug_capture: pytest.LogCaptureFixture
) -> None:
    # A JSON decoder error would quote the text around the fault: here, the token itself.
    variables = [{"Name": "TOKEN", "SecretId": secrets.api_token_arn, "Key": "token"}]

    body = invoke(event_for("create_plain_text", secrets, Variables=variables))

    assert body["Status"] == "FAILED"
    assert "is not JSON" in body["Reason"]
    assert_no_secret_logged(debug_capture)


@pytest.mark.usefixtures("debug_handler")
def test_control_without_the_guard_crhelper_would_log_the_values_at_debug(
    monkeypatch: pytest.MonkeyPatch,
    handler_module: ModuleType,
    secrets: Secrets,
    invoke: Invoke,
    debug_capture: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(handler_module, "quiet_loggers", lambda _level: None)
    monkeypatch.setattr(logging.getLogger("crhelper"), "level", logging.NOTSET)

    invoke(event_for("create_plain_text", secrets))

    assert API_TOKEN in logged_text(debug_capture)
