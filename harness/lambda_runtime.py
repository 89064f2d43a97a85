"""A built Lambda function in a real Python Lambda runtime process, driven by a local Runtime API.

`sam local invoke` needs a container engine; these machines have none. What it would run is
AWS's own runtime interface client (`python -m awslambdaric <handler>`), the same bootstrap the
python3.13 base image starts, talking to the Lambda Runtime API over HTTP. This module serves the
part of that API the client uses (next invocation, response, error, init error) on 127.0.0.1 and
starts the client on a function folder from `.aws-sam/build/<LogicalId>/`, with the handler,
timeout, memory size and environment variables read from the built template, so the rehearsal
follows the template rather than a copy of it.

The process sees only the build folder and the packages the managed runtime provides (awslambdaric
and the AWS SDK), not the development virtualenv: a dependency missing from the function's
requirements.txt fails here as it would in Lambda. As in Lambda, a handler that outlives its
timeout gets its process killed, and the next invocation starts a new one (a cold start).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import queue
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import yaml  # type: ignore[import-untyped]  # no stubs pinned; PyYAML comes with moto

from harness.cfn_receiver import CfnResponseReceiver
from harness.processes import ChildProcess, Service

_API_PREFIX = "/2018-06-01/runtime"
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
STACK_NAME = "rehearsal"
# The rehearsal's one stack: its events carry this StackId and its functions are pinned to it.
STACK_ID = (
    f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{STACK_NAME}/"
    "8f4c7e20-0000-4000-8000-000000000000"
)
# What CloudFormation's pseudo parameters resolve to in the rehearsal.
PSEUDO_PARAMETERS = {
    "AWS::StackId": STACK_ID,
    "AWS::StackName": STACK_NAME,
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}

# What the managed python3.13 runtime puts on sys.path besides the function's code: the runtime
# interface client and the AWS SDK for Python. Everything else must come from the build folder.
_RUNTIME_PACKAGES = (
    "awslambdaric",
    "runtime_client",
    "simplejson",
    "snapshot_restore_py",
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "dateutil",
    "six",
    "urllib3",
)


class TemplateError(ValueError):
    """The built template does not describe the function the way the harness needs."""


class _IntrinsicLoader(yaml.SafeLoader):  # type: ignore[misc]
    """Reads CloudFormation short-form tags (`!Ref X`) as their long form (`{"Ref": "X"}`)."""


def _construct_intrinsic(loader: Any, suffix: str, node: Any) -> Any:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if name == "Fn::GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_IntrinsicLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: Path) -> dict[str, Any]:
    """A CloudFormation/SAM template as data, short-form intrinsics included."""
    try:
        document = yaml.load(path.read_text(), Loader=_IntrinsicLoader)  # noqa: S506
    except (OSError, yaml.YAMLError) as error:
        raise TemplateError(f"cannot read template {path}: {error}") from error
    if not isinstance(document, dict):
        raise TemplateError(f"template {path} is not a mapping")
    return document


@dataclass(frozen=True)
class FunctionSpec:
    """What Lambda would know about one function: code, handler, limits, environment."""

    logical_id: str
    code_dir: Path
    handler: str
    runtime: str = "python3.13"
    timeout: int = 3
    memory_size: int = 128
    environment: Mapping[str, str] = field(default_factory=dict)
    # Layer contents in the build folder (Lambda mounts them at /opt; `python/` is on sys.path).
    layer_dirs: tuple[Path, ...] = ()

    @property
    def function_name(self) -> str:
        return f"rehearsal-{self.logical_id}"

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:{self.function_name}"


def _resolve(value: Any, parameters: Mapping[str, str], where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters:
        return parameters[value["Ref"]]
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in PSEUDO_PARAMETERS:
        return PSEUDO_PARAMETERS[value["Ref"]]
    raise TemplateError(f"{where}: cannot resolve {json.dumps(value)} outside CloudFormation")


def function_spec_from_template(
    build_dir: Path,
    logical_id: str,
    *,
    parameter_overrides: Mapping[str, str] | None = None,
    environment_overrides: Mapping[str, str] | None = None,
    references: Mapping[str, str] | None = None,
) -> FunctionSpec:
    """The function `logical_id` as `sam build` left it in `build_dir` (`.aws-sam/build`).

    Globals.Function supplies defaults as in SAM; a `!Ref` to a template parameter resolves to the
    override given, else the parameter's Default; a pseudo parameter to the rehearsal's stack;
    a `!Ref` to a resource to its value in `references` (the local stand-in's ARN or URL).
    `environment_overrides` stand for values that only CloudFormation could resolve.
    """
    template = load_template(build_dir / "template.yaml")
    resources = template.get("Resources") or {}
    resource = resources.get(logical_id)
    if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
        raise TemplateError(f"{logical_id} is not an AWS::Serverless::Function in {build_dir}")
    parameters = {
        name: str(spec["Default"])
        for name, spec in (template.get("Parameters") or {}).items()
        if isinstance(spec, dict) and "Default" in spec
    }
    parameters.update(parameter_overrides or {})
    parameters.update(references or {})
    globals_ = ((template.get("Globals") or {}).get("Function")) or {}
    properties = {**globals_, **(resource.get("Properties") or {})}
    variables: dict[str, Any] = {
        **((globals_.get("Environment") or {}).get("Variables") or {}),
        **(((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}),
    }
    overrides = dict(environment_overrides or {})
    environment = {
        name: overrides.pop(name)
        if name in overrides
        else _resolve(value, parameters, f"{logical_id} variable {name}")
        for name, value in variables.items()
    }
    environment.update(overrides)
    code_uri = properties.get("CodeUri", logical_id)
    if not isinstance(code_uri, str):
        raise TemplateError(f"{logical_id}: CodeUri {code_uri!r} is not a folder")
    handler = properties.get("Handler")
    if not isinstance(handler, str):
        raise TemplateError(f"{logical_id}: no Handler")
    layer_dirs = tuple(
        _layer_dir(build_dir, resources, layer, logical_id)
        for layer in properties.get("Layers") or []
    )
    return FunctionSpec(
        logical_id=logical_id,
        code_dir=(build_dir / code_uri).resolve(),
        handler=handler,
        runtime=str(properties.get("Runtime", "python3.13")),
        timeout=int(_resolve(properties.get("Timeout", 3), parameters, f"{logical_id} Timeout")),
        memory_size=int(
            _resolve(properties.get("MemorySize", 128), parameters, f"{logical_id} MemorySize")
        ),
        environment=environment,
        layer_dirs=layer_dirs,
    )


def _layer_dir(build_dir: Path, resources: Mapping[str, Any], layer: Any, where: str) -> Path:
    """The `python/` folder that `sam build` made for a layer of this template (`!Ref Layer`)."""
    name = layer.get("Ref") if isinstance(layer, dict) and set(layer) == {"Ref"} else None
    resource = resources.get(name) if isinstance(name, str) else None
    if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::LayerVersion":
        raise TemplateError(f"{where}: layer {json.dumps(layer)} is not a layer of this template")
    content = (resource.get("Properties") or {}).get("ContentUri")
    if not isinstance(content, str):
        raise TemplateError(f"{where}: layer {name} has no built ContentUri")
    return (build_dir / content / "python").resolve()


@dataclass
class Invocation:
    """One invocation: the event in, and the handler's outcome once the runtime posts it."""

    request_id: str
    event: bytes
    deadline_ms: int
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: dict[str, Any] | None = None


@dataclass(frozen=True)
class InvocationResult:
    """The handler's return value, or the error document the runtime reported."""

    request_id: str
    payload: Any = None
    error: dict[str, Any] | None = None
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


class InvocationError(RuntimeError):
    """The function could not be invoked at all (init error, crash, timeout)."""


class LambdaFunction(Service):
    """One function's runtime process and the Runtime API it polls; one invocation at a time."""

    def __init__(
        self,
        spec: FunctionSpec,
        workdir: Path,
        *,
        region: str = "us-east-1",
        aws_endpoint_url: str | None = None,
        ca_file: Path | None = None,
        response_origin: str | None = None,
        extra_environment: Mapping[str, str] | None = None,
    ) -> None:
        if spec.runtime != "python3.13" and not spec.runtime.startswith("python"):
            raise TemplateError(f"{spec.logical_id}: runtime {spec.runtime} is not Python")
        self.spec = spec
        self.workdir = workdir
        self.region = region
        self.aws_endpoint_url = aws_endpoint_url
        self.ca_file = ca_file
        self.extra_environment = dict(extra_environment or {})
        if response_origin is not None:
            # The functions answer only CloudFormation's response URLs; this admits the local
            # receiver (an https origin on loopback). The template never sets it.
            self.extra_environment.setdefault("LOCAL_RESPONSE_ORIGIN", response_origin)
        self.cold_starts = 0
        self._pending: queue.Queue[Invocation] = queue.Queue()
        self._current: dict[str, Invocation] = {}
        self.parked_polls = 0  # GET /invocation/next waiting for work now, on any Runtime API
        self._lock = threading.Lock()
        self._init_error: dict[str, Any] | None = None
        self._invoke_lock = threading.Lock()
        self._api_closed = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._child: ChildProcess | None = None
        self._runtime_dir = self._link_runtime_packages()

    # -- the Runtime API ------------------------------------------------------------------------

    def _link_runtime_packages(self) -> Path:
        runtime_dir = self.workdir / f"runtime-{self.spec.logical_id}"
        runtime_dir.mkdir(parents=True, exist_ok=True)
        spec = importlib.util.find_spec("awslambdaric")
        if spec is None or spec.origin is None:
            raise RuntimeError("awslambdaric is not installed in this Python")
        site = Path(spec.origin).resolve().parent.parent  # the virtualenv's site-packages
        for entry in site.iterdir():
            stem = entry.name.split(".", 1)[0]
            if stem in _RUNTIME_PACKAGES and not entry.name.endswith((".dist-info", ".pth")):
                link = runtime_dir / entry.name
                if not link.exists():
                    link.symlink_to(entry)
        return runtime_dir

    def _start_api(self) -> tuple[str, queue.Queue[Invocation]]:
        """A Runtime API for one runtime process, with its own queue of pending invocations.

        One per process: a killed process's long poll may still be parked on its queue, and
        must not take an invocation meant for its successor.
        """
        self._stop_api()
        function = self
        pending: queue.Queue[Invocation] = queue.Queue()
        self._pending = pending
        closed = threading.Event()
        self._api_closed = closed

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: ARG002
                return

            def _reply(self, status: int, body: bytes = b"{}") -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path != f"{_API_PREFIX}/invocation/next":
                    self._reply(404, b'{"errorMessage": "unknown path"}')
                    return
                # A long poll, as Lambda does; it ends when this Runtime API is stopped, so a
                # poll parked by a killed process does not keep its thread forever.
                with function._lock:
                    function.parked_polls += 1
                try:
                    while True:
                        try:
                            invocation = pending.get(timeout=0.5)
                            break
                        except queue.Empty:
                            if closed.is_set():
                                # The poller is usually a killed process: nobody may be listening.
                                with contextlib.suppress(OSError):
                                    self._reply(410, b'{"errorMessage": "runtime API stopped"}')
                                return
                finally:
                    with function._lock:
                        function.parked_polls -= 1
                with function._lock:
                    function._current[invocation.request_id] = invocation
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", invocation.request_id)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(invocation.deadline_ms))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", function.spec.arn)
                self.send_header(
                    "Lambda-Runtime-Trace-Id",
                    f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
                )
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(invocation.event)))
                self.end_headers()
                self.wfile.write(invocation.event)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = self.path.removeprefix(_API_PREFIX).strip("/").split("/")
                if parts == ["init", "error"]:
                    function._init_error = _json_or_text(body)
                    self._reply(202)
                    return
                if (
                    len(parts) == 3
                    and parts[0] == "invocation"
                    and parts[2]
                    in (
                        "response",
                        "error",
                    )
                ):
                    with function._lock:
                        invocation = function._current.pop(parts[1], None)
                    if invocation is None:
                        self._reply(400, b'{"errorMessage": "unknown request id"}')
                        return
                    if parts[2] == "response":
                        invocation.result = _json_or_text(body)
                    else:
                        invocation.error = _json_or_text(body)
                    invocation.done.set()
                    self._reply(202)
                    return
                self._reply(404, b'{"errorMessage": "unknown path"}')

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name=f"runtime-api-{self.spec.logical_id}", daemon=True
        )
        self._thread.start()
        return f"127.0.0.1:{server.server_address[1]}", pending

    def _stop_api(self) -> None:
        self._api_closed.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # -- the runtime process --------------------------------------------------------------------

    def environment(self, api_address: str) -> dict[str, str]:
        """The runtime process's whole environment: Lambda's variables, the template's, no more."""
        spec = self.spec
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "PYTHONPATH": os.pathsep.join(
                [str(spec.code_dir), *map(str, spec.layer_dirs), str(self._runtime_dir)]
            ),
            "PYTHONDONTWRITEBYTECODE": "1",
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "LAMBDA_RUNTIME_DIR": str(self._runtime_dir),
            "_HANDLER": spec.handler,
            "AWS_LAMBDA_RUNTIME_API": api_address,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"rehearsal/{uuid.uuid4().hex}",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
        }
        if self.aws_endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.aws_endpoint_url
        if self.ca_file:
            env["SSL_CERT_FILE"] = str(self.ca_file)
        env.update(spec.environment)
        env.update(self.extra_environment)
        return env

    def _start_process(self) -> ChildProcess:
        self._init_error = None
        self.cold_starts += 1
        api_address, _pending = self._start_api()
        # -S: no site module, so the virtualenv's site-packages stay out of sys.path.
        return ChildProcess(
            f"lambda-{self.spec.logical_id}",
            [sys.executable, "-S", "-m", "awslambdaric", self.spec.handler],
            log_path=self.workdir / f"lambda-{self.spec.logical_id}.log",
            env=self.environment(api_address),
            cwd=self.spec.code_dir,
        )

    def start(self) -> Self:
        if (
            not (self.spec.code_dir / self.spec.handler.split(".", 1)[0]).exists()
            and not (self.spec.code_dir / (self.spec.handler.split(".", 1)[0] + ".py")).exists()
        ):
            raise TemplateError(
                f"{self.spec.logical_id}: handler {self.spec.handler} not found in "
                f"{self.spec.code_dir} (run sam build)"
            )
        self._child = self._start_process()
        return self

    @property
    def log_path(self) -> Path:
        return self.workdir / f"lambda-{self.spec.logical_id}.log"

    def log_tail(self, lines: int = 30) -> str:
        return self._child.log_tail(lines) if self._child is not None else ""

    def invoke(self, event: Any, timeout: float | None = None) -> InvocationResult:
        """Runs the handler on `event`; returns its value or its error document.

        `timeout` defaults to the function's Timeout; past it the process is killed, as Lambda
        does, and InvocationError says so. Init errors and crashes raise InvocationError too.
        """
        limit = float(self.spec.timeout if timeout is None else timeout)
        with self._invoke_lock:
            if self._child is None or not self._child.alive():
                if self._child is not None:
                    self._child.stop()
                self._child = self._start_process()
            started = time.monotonic()
            invocation = Invocation(
                request_id=str(uuid.uuid4()),
                event=json.dumps(event).encode(),
                deadline_ms=int((time.time() + limit) * 1000),
            )
            self._pending.put(invocation)
            child = self._child
            deadline = started + limit
            while not invocation.done.wait(0.05):
                if self._init_error is not None or not child.alive():
                    self._drop(invocation)
                    child.stop()
                    reason = (
                        f"init error {json.dumps(self._init_error)}"
                        if self._init_error is not None
                        else f"runtime process exited ({child.process.returncode})"
                    )
                    raise InvocationError(f"{self.spec.logical_id}: {reason}\n{child.log_tail()}")
                if time.monotonic() >= deadline:
                    self._drop(invocation)
                    child.stop(timeout=1)
                    raise InvocationError(
                        f"{self.spec.logical_id}: task timed out after {limit:.0f} s"
                    )
            return InvocationResult(
                request_id=invocation.request_id,
                payload=invocation.result,
                error=invocation.error,
                duration=time.monotonic() - started,
            )

    def _drop(self, invocation: Invocation) -> None:
        with self._lock:
            self._current.pop(invocation.request_id, None)
        # An invocation nobody picked up yet must not be served to the next process.
        remaining: list[Invocation] = []
        while True:
            try:
                queued = self._pending.get_nowait()
            except queue.Empty:
                break
            if queued is not invocation:
                remaining.append(queued)
        for queued in remaining:
            self._pending.put(queued)

    def stop(self) -> None:
        if self._child is not None:
            self._child.stop(timeout=2)
        self._stop_api()


def _json_or_text(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode(errors="replace")


def custom_resource_event(
    request_type: str,
    resource_type: str,
    properties: Mapping[str, Any],
    *,
    function: LambdaFunction,
    receiver: CfnResponseReceiver,
    logical_resource_id: str,
    physical_resource_id: str | None = None,
    old_properties: Mapping[str, Any] | None = None,
    stack_id: str = STACK_ID,
) -> dict[str, Any]:
    """A CloudFormation custom resource request, with its ResponseURL at `receiver`.

    `stack_id` names a stack that exists (in moto's CloudFormation) for a function that looks
    its stack up; without it, a stack id for `stack_name` is made up.
    """
    request_id = receiver.new_request_id()
    event: dict[str, Any] = {
        "RequestType": request_type,
        "ServiceToken": function.spec.arn,
        "ResponseURL": receiver.response_url(request_id),
        "StackId": stack_id,
        "RequestId": request_id,
        "LogicalResourceId": logical_resource_id,
        "ResourceType": resource_type,
        "ResourceProperties": {"ServiceToken": function.spec.arn, **properties},
    }
    if request_type != "Create":
        if physical_resource_id is None:
            raise ValueError(f"a {request_type} event needs the PhysicalResourceId")
        event["PhysicalResourceId"] = physical_resource_id
    if request_type == "Update":
        event["OldResourceProperties"] = {
            "ServiceToken": function.spec.arn,
            **(old_properties or {}),
        }
    return event


def run_custom_resource(
    function: LambdaFunction,
    receiver: CfnResponseReceiver,
    event: Mapping[str, Any],
    *,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Invokes `function` with a CloudFormation `event` and returns the body it PUT to ResponseURL.

    A handler that returns without answering CloudFormation leaves the stack waiting until
    ServiceTimeout; here that is an error at once, with the handler's own error if it had one.
    """
    result = function.invoke(dict(event), timeout=timeout)
    try:
        return receiver.wait(str(event["RequestId"]), timeout=5)
    except TimeoutError:
        detail = f": {json.dumps(result.error)}" if result.error else ""
        raise InvocationError(
            f"{function.spec.logical_id} sent no CloudFormation response{detail}"
        ) from None
