"""Each handler's start-up makes no AWS client crhelper would only need for its polling mode."""

from __future__ import annotations

import importlib
import os
import sys

import boto3
import pytest


@pytest.mark.parametrize(
    "module_name",
    [
        "secret_environment.handler",
        "https_subscription.handler",
        "job_run.handler",
        "log_retention.handler",
    ],
)
def test_importing_the_handler_creates_no_polling_clients(
    monkeypatch: pytest.MonkeyPatch, module_name: str
) -> None:
    # Custom::JobRun refuses to start without the topic and queue its template pins.
    monkeypatch.setenv("JOB_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:jobs")
    monkeypatch.setenv("RESULT_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/r")
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
