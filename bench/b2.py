"""B2: each built custom resource function's cold start, beside a floor in the same runtime.

For every sample a new runtime process (`awslambdaric`, the local Runtime API of
`harness.lambda_runtime`) starts on the function's `.aws-sam/build` folder and gets one Create
event; the time runs from just before the process is started to the moment the CloudFormation
response arrives at the HTTPS ResponseURL receiver (`harness.cfn_receiver`). moto's server stands
in for Secrets Manager, SNS and CloudWatch Logs (`AWS_ENDPOINT_URL`), reached directly: moto
confirms http subscriptions at once, so HttpsSubscription's wait ends on its first poll;
LogRetention creates an App Runner service's two log groups (a new service id per sample).

The floor (`bench/lambda_floor/floor_handler.py`) runs in the same runtime with the same
environment, imports boto3, makes the same client and returns; its time runs to the moment the
runtime posts the invocation's result. Samples are interleaved (function, floor, function, floor,
order rotating) after one unmeasured warm-up each, so the page cache and the machine's mood fall
on all alike.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import boto3

from bench.stats import ratio, spread
from harness.cfn_receiver import CfnResponseReceiver
from harness.lambda_runtime import (
    FunctionSpec,
    LambdaFunction,
    custom_resource_event,
    function_spec_from_template,
)
from harness.moto_server import MotoServer

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = REPO_ROOT / ".aws-sam" / "build"
FLOOR_DIR = Path(__file__).resolve().parent / "lambda_floor"
REGION = "us-east-1"
# moto's default account; the topic `_stand` makes, which HttpsSubscriptionFunction is pinned to.
TOPIC_ARN = f"arn:aws:sns:{REGION}:123456789012:bench-jobs"
FUNCTIONS = {
    "SecretEnvironmentFunction": ("Custom::SecretEnvironment", "floor_handler.secrets_manager"),
    "HttpsSubscriptionFunction": ("Custom::HttpsSubscription", "floor_handler.sns"),
    "LogRetentionFunction": ("Custom::LogRetention", "floor_handler.logs"),
}
# The App Runner services LogRetentionFunction is pinned to: one per cold start (warm-ups too).
MAX_SAMPLES = 40  # keeps RESOURCE_ARNS within Lambda's 4 KB environment limit
SERVICE_ARN = f"arn:aws:apprunner:{REGION}:123456789012:service/bench-api/{{sample:032x}}"
SDK_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3")


@dataclass(frozen=True)
class B2Parameters:
    samples: int  # measured cold starts per function and per floor
    warmup: int  # unmeasured cold starts each, first


FULL = B2Parameters(samples=15, warmup=1)
SMOKE = B2Parameters(samples=1, warmup=0)


class TimedReceiver(CfnResponseReceiver):
    """The ResponseURL receiver, noting when each body arrived (this process's perf_counter)."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.arrived: dict[str, float] = {}

    def _record(self, request_id: str, body: dict[str, Any], size: int) -> None:
        self.arrived.setdefault(request_id, time.perf_counter())
        super()._record(request_id, body, size)


def package_size(folder: Path) -> dict[str, Any]:
    """Bytes on disk (as `du` counts), apparent bytes and top-level entries of a built function."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    entries = sorted(p.name for p in folder.iterdir())
    return {
        "path": str(folder.relative_to(REPO_ROOT)),
        "disk_bytes": sum(p.stat().st_blocks * 512 for p in files)
        + sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_dir())
        + folder.stat().st_blocks * 512,
        "apparent_bytes": sum(p.stat().st_size for p in files),
        "files": len(files),
        "entries": entries,
        "bundles_sdk": any(e.split(".", 1)[0].split("-", 1)[0] in SDK_PACKAGES for e in entries),
    }


@dataclass
class Stand:
    """What B2 made in moto for the Create events: the secrets and the topic."""

    database_secret_arn: str
    target_secret_arn: str
    topic_arn: str


def _stand(moto_url: str) -> Stand:
    def client(service: str) -> Any:
        make: Any = boto3.client
        return make(
            service,
            endpoint_url=moto_url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's fake credentials
        )

    secrets = client("secretsmanager")
    database = {
        "engine": "postgres",
        "username": "bookapp",
        "password": "p@:/?#%+ bench",
        "host": "127.0.0.1",
        "port": 5432,
        "dbname": "bookapp",
    }
    return Stand(
        database_secret_arn=secrets.create_secret(
            Name="bench-database", SecretString=json.dumps(database)
        )["ARN"],
        target_secret_arn=secrets.create_secret(Name="bench-app-environment", SecretString="{}")[
            "ARN"
        ],
        topic_arn=client("sns").create_topic(
            Name=TOPIC_ARN.rsplit(":", 1)[1], Attributes={"SignatureVersion": "2"}
        )["TopicArn"],
    )


def _properties(logical_id: str, stand: Stand, sample: int) -> dict[str, Any]:
    if logical_id == "LogRetentionFunction":
        return {
            "ServiceTimeout": "180",
            "ResourceArn": SERVICE_ARN.format(sample=sample),
            "RetentionInDays": "30",
        }
    if logical_id == "SecretEnvironmentFunction":
        return {
            "ServiceTimeout": "300",
            "Delivery": "SecretReference",
            "TargetSecretArn": stand.target_secret_arn,
            "Generation": str(sample),
            "Variables": [
                {
                    "Name": "DATABASE_URL",
                    "SecretId": stand.database_secret_arn,
                    "Template": "postgresql://{username}:{password}@{host}:{port}/{dbname}"
                    "?sslmode=require",
                    "Encode": "url",
                }
            ],
        }
    return {
        "ServiceTimeout": "960",
        "TopicArn": stand.topic_arn,
        # A new endpoint each sample: every Create makes a new subscription.
        "Endpoint": f"http://127.0.0.1:9/jobs/{sample}",
        "AllowInsecureEndpoint": "true",
        "ConfirmationTimeoutSeconds": "30",
    }


def _cold_start(
    spec: FunctionSpec,
    workdir: Path,
    *,
    moto_url: str,
    receiver: TimedReceiver,
    properties: dict[str, Any],
    resource_type: str,
    answers_cloudformation: bool,
) -> dict[str, Any]:
    function = LambdaFunction(
        spec,
        workdir,
        region=REGION,
        aws_endpoint_url=moto_url,
        ca_file=receiver.ca_file,
        response_origin=receiver.origin,
    )
    try:
        event = custom_resource_event(
            "Create",
            resource_type,
            properties,
            function=function,
            receiver=receiver,
            logical_resource_id="BenchResource",
        )
        started = time.perf_counter()
        function.start()
        result = function.invoke(event, timeout=60)
        returned = time.perf_counter()
    finally:
        function.stop()
    if not result.ok:
        raise RuntimeError(f"{spec.logical_id} failed: {json.dumps(result.error)[:1000]}")
    sample: dict[str, Any] = {"to_invocation_end_s": returned - started}
    if answers_cloudformation:
        body = receiver.wait(str(event["RequestId"]), timeout=5)
        if body.get("Status") != "SUCCESS":
            raise RuntimeError(
                f"{spec.logical_id} answered {body.get('Status')}: {body.get('Reason')}"
            )
        sample["to_response_s"] = receiver.arrived[str(event["RequestId"])] - started
    else:
        sample["to_response_s"] = sample["to_invocation_end_s"]
    return sample


def run_b2(params: B2Parameters, log: Callable[[str], object] = print) -> dict[str, Any]:
    template = BUILD_DIR / "template.yaml"
    if not template.exists():
        raise RuntimeError(f"{template} is missing: run `make build` first")
    total = params.warmup + params.samples
    if total > MAX_SAMPLES:
        raise ValueError(f"B2 runs at most {MAX_SAMPLES} cold starts per function")
    # What CloudFormation resolves from the services' ARNs: every sample's service is the stack's.
    pinned = {"RESOURCE_ARNS": ",".join(SERVICE_ARN.format(sample=n) for n in range(total))}
    specs: dict[str, FunctionSpec] = {}
    for logical_id, (_type, floor_handler) in FUNCTIONS.items():
        spec = function_spec_from_template(
            BUILD_DIR,
            logical_id,
            references={"JobTopic": TOPIC_ARN},
            environment_overrides=pinned if logical_id == "LogRetentionFunction" else None,
        )
        specs[logical_id] = spec
        specs[f"floor:{logical_id}"] = FunctionSpec(
            logical_id=f"Floor{logical_id}",
            code_dir=FLOOR_DIR,
            handler=floor_handler,
            runtime=spec.runtime,
            timeout=spec.timeout,
            memory_size=spec.memory_size,
            environment=dict(spec.environment),
        )
    samples: dict[str, list[dict[str, Any]]] = {key: [] for key in specs}
    keys = list(specs)
    with tempfile.TemporaryDirectory(prefix="bench-b2-") as tmp:
        workdir = Path(tmp)
        # The local Runtime API's server threads print a traceback when a runtime process that
        # is stopped resets its idle keep-alive connection: harmless, kept out of the table.
        with (
            (workdir / "stderr.log").open("w") as quiet,
            contextlib.redirect_stderr(quiet),
            MotoServer(workdir) as moto,
            TimedReceiver(workdir) as receiver,
        ):
            stand = _stand(moto.url)
            for index in range(total):
                order = keys[index % len(keys) :] + keys[: index % len(keys)]
                for key in order:
                    logical_id = key.removeprefix("floor:")
                    sample = _cold_start(
                        specs[key],
                        workdir,
                        moto_url=moto.url,
                        receiver=receiver,
                        properties=_properties(logical_id, stand, index),
                        resource_type=FUNCTIONS[logical_id][0],
                        answers_cloudformation=not key.startswith("floor:"),
                    )
                    if index >= params.warmup:
                        samples[key].append(sample)
                if index >= params.warmup:
                    log(
                        f"  cold start {index - params.warmup + 1}/{params.samples}: "
                        + ", ".join(
                            f"{k.replace('Function', '')} "
                            f"{samples[k][-1]['to_response_s'] * 1000:.0f} ms"
                            for k in keys
                        )
                    )
    functions: dict[str, Any] = {}
    for logical_id in FUNCTIONS:
        real = [s["to_response_s"] for s in samples[logical_id]]
        floor = [s["to_response_s"] for s in samples[f"floor:{logical_id}"]]
        real_spread = spread(real)
        floor_spread = spread(floor)
        functions[logical_id] = {
            "handler": specs[logical_id].handler,
            "floor_handler": specs[f"floor:{logical_id}"].handler,
            "memory_size": specs[logical_id].memory_size,
            "cold_start_s": real_spread,
            "floor_s": floor_spread,
            "ratio_median": ratio(real_spread["median"], floor_spread["median"]),
            "target_ratio": 1.3,
            "to_invocation_end_s": spread([s["to_invocation_end_s"] for s in samples[logical_id]]),
            "samples_s": real,
            "floor_samples_s": floor,
            "package": package_size(specs[logical_id].code_dir),
        }
    return {
        "parameters": asdict(params)
        | {
            "runtime": "awslambdaric via harness.lambda_runtime (python -S, SDK from the runtime)",
            "aws": "moto server, reached directly (AWS_ENDPOINT_URL)",
        },
        "functions": functions,
    }
