"""The local Runtime API runs handlers from a build folder in a real awslambdaric process.

These tests build a tiny `.aws-sam/build`-shaped folder with handlers written for the test, so the
harness is checked independently of the project's functions.
"""

from __future__ import annotations

import http.client
import json
import shutil
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import crhelper
import pytest

from harness.cfn_receiver import CfnResponseReceiver
from harness.lambda_runtime import (
    InvocationError,
    LambdaFunction,
    TemplateError,
    custom_resource_event,
    function_spec_from_template,
    run_custom_resource,
)
from harness.processes import wait_until

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  LogLevel:
    Type: String
    Default: INFO
Globals:
  Function:
    Runtime: python3.13
    Timeout: 30
    MemorySize: 256
    Environment:
      Variables:
        LOG_LEVEL: !Ref LogLevel
Resources:
  ToyFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: ToyFunction
      Handler: toy.handler.handler
      Timeout: 5
      Environment:
        Variables:
          GREETING: hello
  UnresolvableFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: ToyFunction
      Handler: toy.handler.handler
      Environment:
        Variables:
          TOPIC: !GetAtt Topic.TopicName
"""

HANDLER = """
import json, os, sys, time

from crhelper import CfnResource

helper = CfnResource(json_logging=False, log_level="INFO", sleep_on_delete=0)


@helper.create
def create(event, context):
    helper.Data["Greeting"] = os.environ["GREETING"]
    return "toy-" + event["RequestId"]


def handler(event, context):
    action = event.get("action")
    if "RequestType" in event:
        return helper(event, context)
    if action == "fail":
        raise ValueError("the toy failed on purpose")
    if action == "sleep":
        time.sleep(60)
    if action == "exit":
        os._exit(3)
    return {
        "event": event,
        "env": {k: os.environ.get(k) for k in (
            "GREETING", "LOG_LEVEL", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            "_HANDLER", "LAMBDA_TASK_ROOT", "AWS_REGION", "AWS_ENDPOINT_URL")},
        "remaining_ms": context.get_remaining_time_in_millis(),
        "function_arn": context.invoked_function_arn,
        "python": list(sys.version_info[:2]),
        "has_pytest": __import__("importlib.util").util.find_spec("pytest") is not None,
        "can_import_moto": __import__("importlib.util").util.find_spec("moto") is not None,
        "can_import_boto3": __import__("importlib.util").util.find_spec("boto3") is not None,
    }
"""


@pytest.fixture
def build_dir(tmp_path: Path) -> Path:
    build = tmp_path / "build"
    code = build / "ToyFunction"
    (code / "toy").mkdir(parents=True)
    (code / "toy" / "__init__.py").write_text("")
    (code / "toy" / "handler.py").write_text(textwrap.dedent(HANDLER))
    # What `sam build` vendors from the function's requirements.txt.
    shutil.copytree(Path(crhelper.__file__).parent, code / "crhelper")
    (build / "template.yaml").write_text(TEMPLATE)
    return build


@pytest.fixture
def toy(build_dir: Path, tmp_path: Path) -> Iterator[LambdaFunction]:
    spec = function_spec_from_template(build_dir, "ToyFunction")
    with LambdaFunction(spec, tmp_path, aws_endpoint_url="http://127.0.0.1:9") as function:
        yield function


def test_spec_follows_the_built_template_with_globals_and_parameter_defaults(
    build_dir: Path,
) -> None:
    spec = function_spec_from_template(build_dir, "ToyFunction")
    assert spec.handler == "toy.handler.handler"
    assert (spec.timeout, spec.memory_size, spec.runtime) == (5, 256, "python3.13")
    assert spec.environment == {"LOG_LEVEL": "INFO", "GREETING": "hello"}
    assert spec.code_dir == (build_dir / "ToyFunction").resolve()


def test_spec_takes_parameter_overrides(build_dir: Path) -> None:
    spec = function_spec_from_template(
        build_dir, "ToyFunction", parameter_overrides={"LogLevel": "DEBUG"}
    )
    assert spec.environment["LOG_LEVEL"] == "DEBUG"


def test_spec_refuses_a_value_only_cloudformation_could_resolve(build_dir: Path) -> None:
    with pytest.raises(TemplateError, match="TOPIC"):
        function_spec_from_template(build_dir, "UnresolvableFunction")
    spec = function_spec_from_template(
        build_dir, "UnresolvableFunction", environment_overrides={"TOPIC": "jobs"}
    )
    assert spec.environment["TOPIC"] == "jobs"


def test_spec_refuses_a_resource_that_is_not_a_function(build_dir: Path) -> None:
    with pytest.raises(TemplateError, match="Nothing"):
        function_spec_from_template(build_dir, "Nothing")


def test_invoke_returns_the_handler_value_from_a_python_313_runtime_process(
    toy: LambdaFunction,
) -> None:
    result = toy.invoke({"hello": "world"})
    assert result.ok, result.error
    payload = result.payload
    assert payload["event"] == {"hello": "world"}
    assert payload["python"] == [3, 13]
    assert payload["env"]["GREETING"] == "hello"
    assert payload["env"]["LOG_LEVEL"] == "INFO"
    assert payload["env"]["_HANDLER"] == "toy.handler.handler"
    assert payload["env"]["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert payload["env"]["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"
    assert payload["function_arn"] == toy.spec.arn
    assert 0 < payload["remaining_ms"] <= 5000


def test_the_runtime_process_sees_the_sdk_but_not_the_development_virtualenv(
    toy: LambdaFunction,
) -> None:
    payload = toy.invoke({}).payload
    assert payload["can_import_boto3"] is True
    assert payload["can_import_moto"] is False
    assert payload["has_pytest"] is False


def test_a_raised_exception_comes_back_as_the_runtime_error_document(
    toy: LambdaFunction,
) -> None:
    result = toy.invoke({"action": "fail"})
    assert not result.ok
    assert result.error is not None
    assert result.error["errorType"] == "ValueError"
    assert result.error["errorMessage"] == "the toy failed on purpose"
    assert toy.invoke({}).ok  # the process keeps serving after a handler error
    assert toy.cold_starts == 1


def test_a_handler_past_its_timeout_is_killed_and_the_next_invoke_cold_starts(
    toy: LambdaFunction,
) -> None:
    with pytest.raises(InvocationError, match="timed out after 1 s"):
        toy.invoke({"action": "sleep"}, timeout=1)
    assert toy.invoke({"again": True}).payload["event"] == {"again": True}
    assert toy.cold_starts == 2


def test_a_crashing_process_is_reported_with_its_exit(toy: LambdaFunction) -> None:
    with pytest.raises(InvocationError, match="exited"):
        toy.invoke({"action": "exit"})


def test_an_unknown_handler_module_is_an_init_error(build_dir: Path, tmp_path: Path) -> None:
    spec = function_spec_from_template(build_dir, "ToyFunction")
    broken = type(spec)(**{**spec.__dict__, "handler": "toy.missing.handler"})
    with (
        LambdaFunction(broken, tmp_path) as function,
        pytest.raises(InvocationError, match=r"Runtime\.ImportModuleError"),
    ):
        function.invoke({})


def test_a_custom_resource_event_ends_with_the_body_crhelper_put_to_the_response_url(
    toy: LambdaFunction, tmp_path: Path
) -> None:
    with CfnResponseReceiver(tmp_path) as receiver:
        toy.ca_file = receiver.ca_file
        toy.stop()  # the CA file is part of the process environment
        event = custom_resource_event(
            "Create",
            "Custom::Toy",
            {"Anything": "1"},
            function=toy,
            receiver=receiver,
            logical_resource_id="Toy",
        )
        body = run_custom_resource(toy, receiver, event)
    assert body["Status"] == "SUCCESS", json.dumps(body)
    assert body["PhysicalResourceId"] == "toy-" + event["RequestId"]
    assert body["Data"] == {"Greeting": "hello"}


def test_a_long_poll_parked_when_the_runtime_api_stops_is_answered_and_ends(
    build_dir: Path, tmp_path: Path
) -> None:
    # What a killed runtime process leaves behind: its GET /invocation/next, waiting for work.
    function = LambdaFunction(function_spec_from_template(build_dir, "ToyFunction"), tmp_path)
    address, _pending = function._start_api()
    host, port = address.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    answers: list[int] = []

    def poll() -> None:
        connection.request("GET", "/2018-06-01/runtime/invocation/next")
        answers.append(connection.getresponse().status)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    wait_until(lambda: function.parked_polls == 1 or None, timeout=10, what="the parked poll")
    assert answers == []
    function.stop()
    poller.join(timeout=5)
    connection.close()
    assert answers == [410]
