"""Each handler's start-up: no AWS client crhelper would only need for its polling mode, and an
unknown LOG_LEVEL fails every request."""

from __future__ import annotations

import importlib
import os
import sys

import boto3
import pytest

from tests.support.cfn import CfnResponses, LambdaContext
from tests.support.events import load_event

every_handler = pytest.mark.parametrize(
    "module_name",
    [
        "secret_environment.handler",
        "https_subscription.handler",
        "job_run.handler",
        "log_retention.handler",
    ],
)


@pytest.fixture(autouse=True)
def _job_run_pins(monkeypatch: pytest.MonkeyPatch) -> None:
    # Custom::JobRun refuses to start without the topic and queue its template pins.
    monkeypatch.setenv("JOB_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:jobs")
    monkeypatch.setenv("RESULT_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/r")


@every_handler
def test_importing_the_handler_creates_no_polling_clients(
    monkeypatch: pytest.MonkeyPatch, module_name: str
) -> None:
    made: list[str] = []
    real_client = boto3.client

    def counting_client(service: str, *args: object, **kwargs: object) -> object:
        made.append(service)
        return real_client(service, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.delenv("AWS_SAM_LOCAL", raising=False)
    monkeypatch.setattr(boto3, "client", counting_client)
    monkeypatch.delitem(sys.modules, module_name, raising=False)
    module = importlib.import_module(module_name)

    assert made == []
    assert "AWS_SAM_LOCAL" not in os.environ
    assert module.helper._sam_local is None
    assert not hasattr(module.helper, "_lambda_client")


@every_handler
def test_an_unknown_log_level_fails_every_request_naming_the_value(
    monkeypatch: pytest.MonkeyPatch, cfn_responses: CfnResponses, module_name: str
) -> None:
    module = importlib.import_module(module_name)
    monkeypatch.setenv("LOG_LEVEL", "chatty")
    try:
        importlib.reload(module)
        module.helper._sleep_on_delete = 0
        module.handler(load_event(f"{module_name.partition('.')[0]}/delete"), LambdaContext())
    finally:
        monkeypatch.delenv("LOG_LEVEL")
        importlib.reload(module)

    assert cfn_responses.only["Status"] == "FAILED"
    assert "LOG_LEVEL must be one of DEBUG, INFO" in cfn_responses.only["Reason"]
    assert "not 'CHATTY'" in cfn_responses.only["Reason"]
