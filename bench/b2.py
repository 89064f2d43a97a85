"""B2: each built custom resource function's cold start, beside a floor in the same runtime.

For every sample a new runtime process (`awslambdaric`, the local Runtime API of
`harness.lambda_runtime`) starts on the function's `.aws-sam/build` folder and gets one Create
event; the time runs from just before the process is started to the moment the CloudFormation
response arrives at the HTTPS ResponseURL receiver (`harness.cfn_receiver`). moto's server stands
in for Secrets Manager, SNS, SQS and CloudWatch Logs (`AWS_ENDPOINT_URL`), reached directly: moto
confirms http subscriptions at once, so HttpsSubscription's wait ends on its first poll. For JobRun,
a stand-in jobs service subscribed to the topic answers each job with a `succeeded` result on the
results queue; moto delivers during Publish, so the result is there when the function first looks.
LogRetention creates an App Runner service's two log groups (a new service id per sample).

The floor (`bench/lambda_floor/floor_handler.py`) runs in the same runtime with the same
environment, imports boto3, makes the same client and returns; its time runs to the moment the
runtime posts the invocation's result. Samples are interleaved (function, floor, function, floor,
order rotating) after one unmeasured warm-up each, so the page cache and the machine's mood fall
on all alike.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.stats import ratio, spread
from harness.cfn_receiver import CfnResponseReceiver
from harness.lambda_runtime import (
    FunctionSpec,
    LambdaFunction,
    custom_resource_event,
    function_spec_from_template,
)
from harness.moto_server import MotoServer, moto_client
from harness.processes import stop_server_thread

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = REPO_ROOT / ".aws-sam" / "build"
FLOOR_DIR = Path(__file__).resolve().parent / "lambda_floor"
REGION = "us-east-1"
# moto's default account; the topic `_stand` makes, which HttpsSubscriptionFunction is pinned to.
TOPIC_ARN = f"arn:aws:sns:{REGION}:123456789012:bench-jobs"
FUNCTIONS = {
    "SecretEnvironmentFunction": ("Custom::SecretEnvironment", "floor_handler.secrets_manager"),
    "HttpsSubscriptionFunction": ("Custom::HttpsSubscription", "floor_handler.sns"),
    "JobRunFunction": ("Custom::JobRun", "floor_handler.sns_and_sqs"),
    "LogRetentionFunction": ("Custom::LogRetention", "floor_handler.logs"),
}
# The App Runner services LogRetentionFunction is pinned to: one per cold start (warm-ups too).
MAX_SAMPLES = 40  # keeps RESOURCE_ARNS within Lambda's 4 KB environment limit
SERVICE_ARN = f"arn:aws:apprunner:{REGION}:123456789012:service/bench-api/{{sample:032x}}"
# Issue 17: every function within 15 % of its floor (the median of its cold starts).
TARGET_RATIO = 1.15
SDK_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3")


@dataclass(frozen=True)
class B2Parameters:
    samples: int  # measured cold starts per function and per floor
    warmup: int  # unmeasured cold starts each, first


# 25 cold starts each: a median of 15 still moved the ratios by about ±0.05 between runs.
FULL = B2Parameters(samples=25, warmup=1)
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
    """What B2 made in moto for the Create events: the secrets, the topic, the results queue."""

    database_secret_arn: str
    target_secret_arn: str
    topic_arn: str
    # JobRun's own topic: HttpsSubscription's samples subscribe dead endpoints to `topic_arn`,
    # and moto's Publish fails when it cannot deliver to one.
    job_run_topic_arn: str
    result_queue_url: str


class ReportingJobsService:
    """Stands in for the jobs service: every job message asking for a report gets a `succeeded`
    result on the results queue, as the app sends it once a run is recorded."""

    def __init__(self, moto_url: str, queue_url: str) -> None:
        sqs = moto_client("sqs", moto_url, REGION)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                envelope = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if envelope.get("Type") == "Notification":
                    message = json.loads(envelope["Message"])
                    if message.get("report") is True:
                        result = {
                            "message_id": envelope["MessageId"],
                            "job": message["job"],
                            "status": "succeeded",
                            "attempt": 1,
                            "error": None,
                            "finished_at": datetime.datetime.now(datetime.UTC).isoformat(),
                        }
                        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(result))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: ARG002
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jobs"

    def close(self) -> None:
        stop_server_thread(self.server, self.thread)


def _stand(moto_url: str) -> Stand:
    secrets = moto_client("secretsmanager", moto_url, REGION)
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
        topic_arn=moto_client("sns", moto_url, REGION).create_topic(
            Name=TOPIC_ARN.rsplit(":", 1)[1], Attributes={"SignatureVersion": "2"}
        )["TopicArn"],
        job_run_topic_arn=moto_client("sns", moto_url, REGION).create_topic(
            Name="bench-job-run", Attributes={"SignatureVersion": "2"}
        )["TopicArn"],
        result_queue_url=moto_client("sqs", moto_url, REGION).create_queue(
            QueueName="bench-job-results"
        )["QueueUrl"],
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
    if logical_id == "JobRunFunction":
        return {
            "ServiceTimeout": "960",
            "TopicArn": stand.job_run_topic_arn,
            "ResultQueueUrl": stand.result_queue_url,
            "Job": "db_migrate",
            "TimeoutSeconds": "30",
            "Revision": str(sample),
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


def _specs(stand: Stand, total: int) -> dict[str, FunctionSpec]:
    """Each function as the build left it, and its floor with the same environment."""
    # What only CloudFormation could resolve: JobRunFunction's pinned topic and queue, and the
    # services' ARNs LogRetentionFunction is pinned to (every sample's service is the stack's).
    resolved = {
        "JobRunFunction": {
            "JOB_TOPIC_ARN": stand.job_run_topic_arn,
            "RESULT_QUEUE_URL": stand.result_queue_url,
        },
        "LogRetentionFunction": {
            "RESOURCE_ARNS": ",".join(SERVICE_ARN.format(sample=n) for n in range(total))
        },
    }
    specs: dict[str, FunctionSpec] = {}
    for logical_id, (_type, floor_handler) in FUNCTIONS.items():
        spec = function_spec_from_template(
            BUILD_DIR,
            logical_id,
            references={"JobTopic": TOPIC_ARN},
            environment_overrides=resolved.get(logical_id),
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
    return specs


def run_b2(params: B2Parameters, log: Callable[[str], object] = print) -> dict[str, Any]:
    template = BUILD_DIR / "template.yaml"
    if not template.exists():
        raise RuntimeError(f"{template} is missing: run `make build` first")
    total = params.warmup + params.samples
    if total > MAX_SAMPLES:
        raise ValueError(f"B2 runs at most {MAX_SAMPLES} cold starts per function")
    specs: dict[str, FunctionSpec] = {}
    samples: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-b2-") as tmp:
        workdir = Path(tmp)
        # The local Runtime API's server threads print a traceback when a runtime process that
        # is stopped resets its idle keep-alive connection: harmless, kept out of the table.
        with (
            contextlib.ExitStack() as stack,
            (workdir / "stderr.log").open("w") as quiet,
            contextlib.redirect_stderr(quiet),
            MotoServer(workdir) as moto,
            TimedReceiver(workdir) as receiver,
        ):
            stand = _stand(moto.url)
            jobs_service = ReportingJobsService(moto.url, stand.result_queue_url)
            stack.callback(jobs_service.close)
            moto_client("sns", moto.url, REGION).subscribe(
                TopicArn=stand.job_run_topic_arn, Protocol="http", Endpoint=jobs_service.url
            )
            specs = _specs(stand, total)
            samples = {key: [] for key in specs}
            keys = list(specs)
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
            "target_ratio": TARGET_RATIO,
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
