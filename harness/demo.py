"""`make demo`: the whole stack on one machine, a rehearsal of the deploy and of the job flow.

What runs is the real code: the functions as `sam build` left them, in AWS's Python runtime
interface client; the app with the command its container runs; PostgreSQL with TLS. Only AWS
itself is stood in for: moto's server for Secrets Manager, SNS and SQS, a local HTTPS endpoint for
CloudFormation's ResponseURL, a forwarder that lets the app download moto's signing certificates.
moto's CloudWatch Logs holds the log groups App Runner and Aurora would create; the local app
stands for an App Runner service named `rehearsal-api` (`APP_ROLE=all`, as in `shared` mode).

The steps follow the deploy order of the stack (Aurora, Custom::SecretEnvironment, the service,
Custom::LogRetention for the service's and the database's log groups,
Custom::HttpsSubscription, Custom::JobRun running db_migrate through the job topic and waiting for
the app's result on the results queue), then the job flow on the migrated database, then Update
and Delete of the custom resources.

The app starts with the container contract the built template gives the api service of the chosen
compute platform (`--platform app-runner`, the default, or `ecs-express`; see harness/contract.py),
its secrets read the way that platform reads them. `Rehearsal.switch_platform` plays a change of
ComputePlatform on a running stack: the new app starts beside the old one, the subscription moves
to its endpoint (confirmed before the old one is removed), db_migrate runs, the old app stops.
Each step prints what it did and how long it took, never a secret value. The first failing step
ends the run with exit status 1 and its name; every process started is stopped on the way out,
also on Ctrl-C or SIGTERM (a second one during the cleanup is ignored, so the cleanup finishes).
`--keep` leaves the system running, reachable from this machine only, until Ctrl-C.

`Rehearsal` is also what the end-to-end tests drive (tests/e2e).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from harness.cfn_receiver import CfnResponseReceiver
from harness.contract import (
    PLATFORM_LABELS,
    PLATFORMS,
    ContainerContract,
    SecretReference,
    read_contract,
    resolve_secrets,
)
from harness.lambda_runtime import (
    STACK_ID,
    LambdaFunction,
    custom_resource_event,
    function_spec_from_template,
    run_custom_resource,
)
from harness.moto_server import MotoServer
from harness.postgres import PostgresServer, running_postgres
from harness.processes import (
    ChildProcess,
    PortInUseError,
    bind_failed,
    http_status,
    signals_ignored,
    start_on_free_port,
    wait_until,
)
from harness.sns_cert_proxy import SnsCertProxy

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = REPO_ROOT / ".aws-sam" / "build"
REGION = "us-east-1"
JOB_PATH = "/jobs"
# What runs during the rehearsal's deploy: db_migrate through Custom::JobRun, as the stack's
# Migrate resource runs it; the others published with the app's own publisher afterwards.
JOBS = ("db_migrate", "db_seed", "test_book_job")
PUBLISHED_JOBS = ("db_seed", "test_book_job")
APP_DIR = REPO_ROOT / "app"
FUNCTIONS = (
    "SecretEnvironmentFunction",
    "HttpsSubscriptionFunction",
    "JobRunFunction",
    "LogRetentionFunction",
)
LOG_RETENTION_RESOURCES = ("ApiServiceLogRetention", "DatabaseLogRetention")
# What the template's LogRetentionDays defaults to, and the value the Update step sets.
LOG_RETENTION_DAYS = 30
UPDATED_LOG_RETENTION_DAYS = 7
# The stack itself, in moto's CloudFormation: one harmless resource, so that it exists.
_STACK_MARKER = {
    "Resources": {
        "Marker": {
            "Type": "AWS::SSM::Parameter",
            "Properties": {"Name": "rehearsal-marker", "Type": "String", "Value": "rehearsal"},
        }
    }
}
# How many ports the app tries when another process takes the picked one first.
APP_PORT_ATTEMPTS = 3
# The template's DATABASE_URL Template (template.yaml, AppEnvironment), with the rehearsal's
# PostgreSQL CA in place of the RDS bundle that the image carries.
DATABASE_URL_TEMPLATE = (
    "postgresql://{username}:{password}@{host}:{port}/{dbname}"
    "?sslmode=verify-full&sslrootcert=/app/certs/rds-global-bundle.pem"
)


def database_url_template(pg: PostgresServer) -> str:
    """DATABASE_URL_TEMPLATE verifying the rehearsal's PostgreSQL by its throwaway CA."""
    return DATABASE_URL_TEMPLATE.split("?", 1)[0] + "?" + pg.tls_query()


# The template parameters the rehearsal's stack stands for: one service doing api and jobs
# (shared mode), no tracing (no collector runs here), the template's default secret delivery.
# ImageUri names no real image: the app runs from app/ as the image's command would.
TEMPLATE_PARAMETERS = {
    "ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/bookapp:rehearsal",
    "JobServiceMode": "shared",
    "Tracing": "false",
    "SecretDelivery": "SecretReference",
}
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


class StepFailedError(RuntimeError):
    """A step of the rehearsal did not give the expected result; the message says what differed."""


@dataclass
class StepResult:
    name: str
    ok: bool
    seconds: float
    detail: str


@dataclass
class Reporter:
    """Prints one line per step; keeps the results for the summary and the tests."""

    out: TextIO | None = sys.stdout
    results: list[StepResult] = field(default_factory=list)

    def _print(self, text: str) -> None:
        if self.out is not None:
            print(text, file=self.out, flush=True)

    def run[T](self, name: str, action: Callable[[], tuple[T, str]]) -> T:
        self._print(f"-> {name} ...")
        started = time.monotonic()
        try:
            value, detail = action()
        except BaseException as error:
            seconds = time.monotonic() - started
            message = str(error).strip() or type(error).__name__
            if isinstance(error, KeyboardInterrupt | SystemExit):
                message = "interrupted"
            self.results.append(StepResult(name, False, seconds, message))
            self._print(f"   FAILED after {seconds:.1f} s: {message}")
            raise
        seconds = time.monotonic() - started
        self.results.append(StepResult(name, True, seconds, detail))
        self._print(f"   ok in {seconds:.1f} s: {detail}")
        return value

    def summary(self) -> str:
        lines = ["", "Summary:"]
        for result in self.results:
            mark = "ok    " if result.ok else "FAILED"
            lines.append(f"  {mark} {result.seconds:6.1f} s  {result.name}")
        total = sum(result.seconds for result in self.results)
        lines.append(f"  total  {total:6.1f} s")
        return "\n".join(lines)


def _expect_success(body: Mapping[str, Any], what: str) -> None:
    if body.get("Status") != "SUCCESS":
        raise StepFailedError(f"{what} answered {body.get('Status')}: {body.get('Reason')}")


@dataclass
class Resources:
    """What the template would have created before the custom resources run."""

    database_secret_arn: str = ""
    target_secret_arn: str = ""
    topic_arn: str = ""
    dead_letter_queue_arn: str = ""
    dead_letter_queue_url: str = ""
    result_queue_url: str = ""
    # The stack in moto's CloudFormation: Custom::JobRun looks up its status on Update.
    stack_id: str = ""
    # The ARNs App Runner and RDS would give the local app's service and the database cluster.
    service_arn: str = ""
    cluster_arn: str = ""


class Rehearsal:
    """The running local stack; `close()` stops everything and removes the temporary folder."""

    def __init__(
        self,
        *,
        build_dir: Path = BUILD_DIR,
        reporter: Reporter | None = None,
        confirmation_timeout: int = 30,
        invoke_timeout: float = 120.0,
        platform: str = "AppRunner",
    ) -> None:
        if platform not in PLATFORM_LABELS:
            raise ValueError(f"unknown compute platform {platform!r}: {sorted(PLATFORM_LABELS)}")
        self.platform = platform
        self.build_dir = build_dir
        self.reporter = reporter or Reporter()
        self.confirmation_timeout = confirmation_timeout
        # HttpsSubscriptionFunction's Timeout is 900 s; every request of the rehearsal is done in
        # well under a minute, so a stuck handler is killed and reported long before that (and
        # before pytest-timeout ends an end-to-end test without saying which step hung).
        self.invoke_timeout = invoke_timeout
        self.workdir = Path(tempfile.mkdtemp(prefix="rehearsal-"))
        self._stack = contextlib.ExitStack()
        self._stack.callback(shutil.rmtree, self.workdir, ignore_errors=True)
        self.resources = Resources()
        self.postgres: PostgresServer | None = None
        self.moto: MotoServer | None = None
        self.sns_proxy: SnsCertProxy | None = None
        self.receiver: CfnResponseReceiver | None = None
        self.functions: dict[str, LambdaFunction] = {}
        self.app: ChildProcess | None = None
        self.app_port = 0
        # The app's source folder: the "image" the app runs (a test may deploy another one).
        self.app_dir = APP_DIR
        self.app_environment: dict[str, str] = {}
        self.contract: ContainerContract | None = None
        # What Custom::SecretEnvironment answered (the DATABASE_URL reference, the fingerprint).
        self.environment_attributes: dict[str, str] = {}
        self.children: list[ChildProcess] = []
        self.physical_ids: dict[str, str] = {}
        self.properties: dict[str, dict[str, Any]] = {}
        # The MessageId of each job the deploy published (publish_jobs), by job name.
        self.message_ids: dict[str, str] = {}

    # -- plumbing --------------------------------------------------------------------------------

    @property
    def app_url(self) -> str:
        return f"http://127.0.0.1:{self.app_port}"

    def client(self, service: str) -> Any:
        if self.moto is None:
            raise RuntimeError("moto's server is not running")
        return self.moto.client(service)

    def close(self) -> None:
        """Stops every process and removes the folders; a second Ctrl-C meanwhile is ignored."""
        with signals_ignored():
            self._stack.close()

    def __enter__(self) -> Rehearsal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def pids(self) -> list[int]:
        """Every process id the rehearsal started: its children, moto, the functions, PostgreSQL."""
        pids = [child.pid for child in self.children]
        if self.postgres is not None and self.postgres.pid is not None:
            pids.append(self.postgres.pid)
        if self.moto is not None and self.moto.port:
            pids.append(self.moto.child.pid)
        pids.extend(
            function._child.pid
            for function in self.functions.values()
            if function._child is not None
        )
        return pids

    def custom_resource(
        self,
        function_id: str,
        request_type: str,
        resource_type: str,
        logical_id: str,
        properties: dict[str, Any],
        *,
        timeout: float | None = None,
        physical_id: str | None = None,
    ) -> dict[str, Any]:
        """Sends one CloudFormation request to a function; returns the body it answered.

        `physical_id` names another physical resource than the current one (CloudFormation's
        Delete of a replaced resource, in the cleanup after an update).
        """
        if self.receiver is None:
            raise RuntimeError("the ResponseURL receiver is not running")
        function = self.functions[function_id]
        event = custom_resource_event(
            request_type,
            resource_type,
            properties,
            function=function,
            receiver=self.receiver,
            logical_resource_id=logical_id,
            physical_resource_id=physical_id or self.physical_ids.get(logical_id),
            old_properties=self.properties.get(logical_id),
            stack_id=self.resources.stack_id or STACK_ID,
        )
        if timeout is None:
            timeout = min(float(function.spec.timeout), self.invoke_timeout)
        body = run_custom_resource(function, self.receiver, event, timeout=timeout)
        if body.get("Status") == "SUCCESS" and request_type != "Delete" and physical_id is None:
            self.physical_ids[logical_id] = str(body["PhysicalResourceId"])
            self.properties[logical_id] = properties
        return body

    # -- steps -----------------------------------------------------------------------------------

    def check_build(self) -> tuple[None, str]:
        template = self.build_dir / "template.yaml"
        if not template.exists():
            raise StepFailedError(f"{template} is missing: run `make build` (sam build) first")
        return None, f"using {template.relative_to(self.build_dir.parent.parent)}"

    def start_postgres(self) -> tuple[PostgresServer, str]:
        pg = self.postgres = self._stack.enter_context(running_postgres())
        # Aurora keeps every commit it acknowledged. The harness's server runs with
        # synchronous_commit off, so a stop in immediate mode (a crash: how the rehearsal takes
        # the database away) loses the commits of the last moments, such as a job's claim: the
        # retried delivery then found no run and ran the job again. With fsync still off, a
        # commit is in the kernel's cache when it returns, which outlives the server's crash.
        pg.psql(f"ALTER DATABASE {pg.dbname} SET synchronous_commit = on")
        return pg, f"PostgreSQL with TLS on 127.0.0.1:{pg.port}"

    def start_moto(self) -> tuple[MotoServer, str]:
        moto = MotoServer(self.workdir)
        self._stack.callback(moto.stop)
        self.moto = moto.start()
        self.sns_proxy = self._stack.enter_context(
            SnsCertProxy(moto.url, region=REGION, confirm_subscriptions=True)
        )
        return (
            moto,
            f"moto on {moto.url}; SNS endpoint (certificates, handshake) {self.sns_proxy.url}",
        )

    def create_stack_resources(self) -> tuple[Resources, str]:
        pg = self._require_postgres()
        secrets = self.client("secretsmanager")
        sns = self.client("sns")
        sqs = self.client("sqs")
        # What Aurora's generated secret holds after SecretTargetAttachment.
        database_secret = {
            "engine": "postgres",
            "username": pg.user,
            "password": pg.password,
            "host": pg.host,
            "port": pg.port,
            "dbname": pg.dbname,
        }
        res = self.resources
        res.database_secret_arn = secrets.create_secret(
            Name="rehearsal-database", SecretString=json.dumps(database_secret)
        )["ARN"]
        res.target_secret_arn = secrets.create_secret(
            Name="rehearsal-app-environment", SecretString="{}"
        )["ARN"]
        res.topic_arn = sns.create_topic(
            Name="rehearsal-jobs", Attributes={"SignatureVersion": "2"}
        )["TopicArn"]
        res.dead_letter_queue_url = sqs.create_queue(QueueName="rehearsal-jobs-dlq")["QueueUrl"]
        res.dead_letter_queue_arn = sqs.get_queue_attributes(
            QueueUrl=res.dead_letter_queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        res.result_queue_url = sqs.create_queue(
            QueueName="rehearsal-job-results", Attributes={"MessageRetentionPeriod": "1800"}
        )["QueueUrl"]
        res.stack_id = self.client("cloudformation").create_stack(
            StackName="rehearsal", TemplateBody=json.dumps(_STACK_MARKER)
        )["StackId"]
        account = res.topic_arn.split(":")[4]
        res.service_arn = (
            f"arn:aws:apprunner:{REGION}:{account}:service/rehearsal-api/{uuid.uuid4().hex}"
        )
        res.cluster_arn = f"arn:aws:rds:{REGION}:{account}:cluster:rehearsal-database"
        return res, (
            "database secret (password with URL-hostile characters), target secret, "
            "job topic (SignatureVersion 2), dead-letter queue, results queue, the stack"
        )

    def start_functions(self) -> tuple[None, str]:
        self.receiver = self._stack.enter_context(CfnResponseReceiver(self.workdir))
        moto = self._require_moto()
        # Poll SNS every second instead of every 5 s: the confirmation is local and quick.
        fast_poll = {"POLL_INTERVAL_SECONDS": "1", "SAFETY_MARGIN_SECONDS": "5"}
        # SNS calls go through the forwarder, which keeps http(s) subscriptions pending until the
        # endpoint confirms, as SNS does (moto alone confirms them at once).
        sns_endpoint = {"AWS_ENDPOINT_URL_SNS": self._require_proxy().url}
        overrides = {
            "SecretEnvironmentFunction": sns_endpoint,
            "HttpsSubscriptionFunction": {**fast_poll, **sns_endpoint},
            "JobRunFunction": {**fast_poll, **sns_endpoint},
        }
        # What CloudFormation resolves from the services' and the cluster's ARNs.
        pinned = {"RESOURCE_ARNS": f"{self.resources.service_arn},{self.resources.cluster_arn}"}
        for logical_id in FUNCTIONS:
            function = self.job_run_function() if logical_id == "JobRunFunction" else None
            if function is None:
                spec = function_spec_from_template(
                    self.build_dir,
                    logical_id,
                    references=self.references(),
                    environment_overrides=pinned if logical_id == "LogRetentionFunction" else None,
                )
                function = LambdaFunction(
                    spec,
                    self.workdir,
                    region=REGION,
                    aws_endpoint_url=moto.url,
                    ca_file=self.receiver.ca_file,
                    response_origin=self.receiver.origin,
                    extra_environment=overrides.get(logical_id),
                )
            self._stack.callback(function.stop)
            self.functions[logical_id] = function.start()
        return None, ", ".join(FUNCTIONS) + " in awslambdaric"

    def references(self) -> dict[str, str]:
        """What the template's `!Ref`s in the functions' environment stand for here."""
        return {
            "AWS::StackId": self.resources.stack_id or STACK_ID,
            "JobTopic": self.resources.topic_arn,
            "JobResultQueue": self.resources.result_queue_url,
        }

    def job_run_function(
        self, *, topic_arn: str | None = None, name: str = "JobRunFunction"
    ) -> LambdaFunction:
        """JobRunFunction as the template makes it, pinned to the job topic and results queue.

        Another `topic_arn` pins it to that topic instead; `name` tells apart several runtime
        processes of the function (Lambda runs one per concurrent invocation). Not started.
        """
        if self.receiver is None:
            raise RuntimeError("the ResponseURL receiver is not running")
        spec = function_spec_from_template(
            self.build_dir,
            "JobRunFunction",
            references={**self.references(), "JobTopic": topic_arn or self.resources.topic_arn},
        )
        if name != spec.logical_id:
            spec = dataclasses.replace(spec, logical_id=name)
        return LambdaFunction(
            spec,
            self.workdir,
            region=REGION,
            aws_endpoint_url=self._require_moto().url,
            ca_file=self.receiver.ca_file,
            response_origin=self.receiver.origin,
            extra_environment={
                "POLL_INTERVAL_SECONDS": "1",
                "SAFETY_MARGIN_SECONDS": "5",
                "AWS_ENDPOINT_URL_SNS": self._require_proxy().url,
            },
        )

    def secret_environment_properties(self, delivery: str, generation: str) -> dict[str, Any]:
        properties: dict[str, Any] = {
            "ServiceTimeout": "180",
            "Delivery": delivery,
            "Generation": generation,
            "Variables": [
                {
                    "Name": "DATABASE_URL",
                    "SecretId": self.resources.database_secret_arn,
                    "Template": database_url_template(self._require_postgres()),
                    "Encode": "url",
                }
            ],
        }
        if delivery == "SecretReference":
            properties["TargetSecretArn"] = self.resources.target_secret_arn
        return properties

    def create_plain_text_environment(self) -> tuple[dict[str, Any], str]:
        body = self.custom_resource(
            "SecretEnvironmentFunction",
            "Create",
            "Custom::SecretEnvironment",
            "PlainTextEnvironment",
            self.secret_environment_properties("PlainText", "1"),
        )
        _expect_success(body, "Custom::SecretEnvironment (PlainText)")
        if body.get("NoEcho") is not True:
            raise StepFailedError("PlainText response does not set NoEcho")
        self._check_database_url(str(body["Data"]["DATABASE_URL"]))
        return body, "SUCCESS, NoEcho, DATABASE_URL resolved (value not shown)"

    def create_secret_reference_environment(self) -> tuple[dict[str, Any], str]:
        body = self.custom_resource(
            "SecretEnvironmentFunction",
            "Create",
            "Custom::SecretEnvironment",
            "AppEnvironment",
            self.secret_environment_properties("SecretReference", "1"),
        )
        _expect_success(body, "Custom::SecretEnvironment (SecretReference)")
        reference = str(body["Data"]["DATABASE_URL"])
        expected = f"{self.resources.target_secret_arn}:DATABASE_URL::"
        if reference != expected:
            raise StepFailedError(f"DATABASE_URL reference is {reference!r}, expected {expected!r}")
        self.environment_attributes = {
            "AppEnvironment.DATABASE_URL": reference,
            "AppEnvironment.Fingerprint": str(body["Data"].get("Fingerprint", "")),
        }
        # The target secret holds the resolved value under the variable's name.
        arn, key = reference.removesuffix("::").rsplit(":", 1)
        document = json.loads(
            self.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
        )
        self._check_database_url(document[key])
        return body, (
            f"SUCCESS, DATABASE_URL -> {arn.rsplit(':', 1)[-1]}:{key}:: "
            f"(fingerprint {str(body['Data'].get('Fingerprint', ''))[:12]})"
        )

    def _check_database_url(self, url: str) -> None:
        pg = self._require_postgres()
        parts = urllib.parse.urlsplit(url)
        if (
            urllib.parse.unquote(parts.password or "") != pg.password
            or parts.port != pg.port
            or parts.path != f"/{pg.dbname}"
            or parts.query != pg.tls_query()
        ):
            raise StepFailedError(
                "the resolved DATABASE_URL does not describe the local PostgreSQL"
            )

    def start_app(self, overrides: Mapping[str, str] | None = None) -> tuple[None, str]:
        """Starts the app on a free port; `overrides` replace variables of its environment (a
        test's stale instance, say)."""
        start_on_free_port(
            lambda port: self.launch_app(port, overrides),
            what="the app",
            attempts=APP_PORT_ATTEMPTS,
        )
        contract = self._require_contract()
        return None, (
            f"python -m bookapp serve on {self.app_url}, /healthz 200; {contract.label} contract "
            f"of {contract.service} ({contract.source.relative_to(self.build_dir.parent.parent)}): "
            f"{', '.join(sorted(contract.environment))}; secrets {', '.join(contract.secrets)}"
        )

    def read_contract(self, port: int) -> ContainerContract:
        """The api service's container on the rehearsal's platform, for an app on `port`."""
        stand_ins = {
            "JobTopic": self.resources.topic_arn,
            "JobResultQueue": self.resources.result_queue_url,
            "AWS::Region": REGION,
            **self.environment_attributes,
        }
        return read_contract(
            self.build_dir,
            self.platform,
            parameters={**TEMPLATE_PARAMETERS, "ContainerPort": str(port)},
            stand_ins=stand_ins,
        )

    def _read_secret(self, reference: SecretReference) -> str:
        request: dict[str, str] = {"SecretId": reference.arn}
        if reference.version_stage:
            request["VersionStage"] = reference.version_stage
        if reference.version_id:
            request["VersionId"] = reference.version_id
        return str(self.client("secretsmanager").get_secret_value(**request)["SecretString"])

    def launch_app(self, port: int, overrides: Mapping[str, str] | None = None) -> ChildProcess:
        """Starts the app on `port` and waits for /healthz; PortInUseError if it cannot bind.

        Its environment is the contract the built template gives the platform's api service,
        secrets read as the platform reads them when an instance or task starts. The rehearsal's
        app, URL, contract and environment change only once the app is healthy.
        """
        moto_proxy = self._require_proxy()
        contract = self.read_contract(port)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(self.app_dir),
            **contract.environment,
            **resolve_secrets(contract, self._read_secret),
            # Both platforms route to 0.0.0.0:PORT in the container; here nothing but this
            # machine may reach the app (`--keep` leaves it running).
            "HOST": "127.0.0.1",
            # The rehearsal publishes test_book_job; the template's services never turn it on.
            "ENABLE_TEST_JOBS": "true",
            "AWS_ENDPOINT_URL_SNS": moto_proxy.url,
            # The app reports job results to the queue (moto's SQS, reached directly).
            "AWS_ENDPOINT_URL_SQS": self._require_moto().url,
            **FAKE_CREDENTIALS,
            **(overrides or {}),
        }
        if env.get("PORT") != str(port):
            raise StepFailedError(f"the template gives the app PORT={env.get('PORT')}, not {port}")
        # The Dockerfile's command: python -m bookapp serve.
        app = ChildProcess(
            "app",
            [sys.executable, "-m", "bookapp", "serve"],
            log_path=self.workdir / "app.log",
            env=env,
            cwd=self.app_dir,
        )
        self.children.append(app)
        self._stack.callback(app.stop)
        url = f"http://127.0.0.1:{port}/healthz"

        def healthy() -> bool | None:
            if not app.alive():
                if bind_failed(app.output()):
                    raise PortInUseError(f"the app could not bind port {port}")
                raise StepFailedError(
                    f"the app exited ({app.process.returncode}):\n{app.log_tail()}"
                )
            return True if http_status(url) == 200 else None

        try:
            wait_until(healthy, timeout=60, what="the app's /healthz")
        except BaseException:
            app.stop()
            raise
        self.app, self.app_port, self.app_environment = app, port, env
        self.contract = contract
        return app

    def log_retention_properties(
        self, logical_id: str, days: int, on_delete: str
    ) -> dict[str, Any]:
        properties: dict[str, Any] = {
            "ServiceTimeout": "180",
            "RetentionInDays": str(days),
            "OnDelete": on_delete,
        }
        if logical_id == "DatabaseLogRetention":
            properties |= {"ResourceArn": self.resources.cluster_arn, "LogTypes": ["postgresql"]}
        else:
            properties["ResourceArn"] = self.resources.service_arn
        return properties

    def log_groups(self) -> dict[str, int | None]:
        """{log group: retention in days (None: forever)} of the App Runner and RDS groups."""
        found: dict[str, int | None] = {}
        for prefix in ("/aws/apprunner/", "/aws/rds/"):
            pages = self.client("logs").get_paginator("describe_log_groups")
            for page in pages.paginate(logGroupNamePrefix=prefix):
                for group in page["logGroups"]:
                    found[group["logGroupName"]] = group.get("retentionInDays")
        return found

    def _log_retention(self, request_type: str, days: int, on_delete: str) -> list[str]:
        """Sends one request to both log-retention resources; returns the groups they named."""
        named: list[str] = []
        for logical_id in LOG_RETENTION_RESOURCES:
            properties = self.log_retention_properties(logical_id, days, on_delete)
            body = self.custom_resource(
                "LogRetentionFunction", request_type, "Custom::LogRetention", logical_id, properties
            )
            _expect_success(body, f"Custom::LogRetention {request_type} ({logical_id})")
            named.extend(str(group) for group in (body.get("Data") or {}).values())
        return named

    def create_log_retention(self) -> tuple[dict[str, int | None], str]:
        # App Runner has made the application group already (the app wrote to it); the other
        # groups do not exist yet: the resource creates them.
        service_id = self.resources.service_arn.rsplit("/", 1)[1]
        self.client("logs").create_log_group(
            logGroupName=f"/aws/apprunner/rehearsal-api/{service_id}/application"
        )
        named = self._log_retention("Create", LOG_RETENTION_DAYS, "Retain")
        groups = self.log_groups()
        if sorted(named) != sorted(groups) or set(groups.values()) != {LOG_RETENTION_DAYS}:
            raise StepFailedError(f"log groups after Create: {groups}, answered {named}")
        return groups, f"SUCCESS, {len(groups)} log groups kept {LOG_RETENTION_DAYS} days"

    def update_log_retention(self) -> tuple[dict[str, int | None], str]:
        self._log_retention("Update", UPDATED_LOG_RETENTION_DAYS, "Delete")
        groups = self.log_groups()
        if len(groups) != 3 or set(groups.values()) != {UPDATED_LOG_RETENTION_DAYS}:
            raise StepFailedError(f"log groups after Update: {groups}")
        return groups, (
            f"SUCCESS, retention {LOG_RETENTION_DAYS} -> {UPDATED_LOG_RETENTION_DAYS} days in place"
        )

    def delete_log_retention(self) -> tuple[None, str]:
        self._log_retention("Delete", UPDATED_LOG_RETENTION_DAYS, "Delete")
        left = self.log_groups()
        if left:
            raise StepFailedError(f"log groups left after Delete with OnDelete Delete: {left}")
        return None, "SUCCESS, OnDelete Delete removed the log groups"

    def subscription_properties(self, num_retries: str = "3") -> dict[str, Any]:
        return {
            "ServiceTimeout": "900",
            "TopicArn": self.resources.topic_arn,
            "Endpoint": f"{self.app_url}{JOB_PATH}",
            "AllowInsecureEndpoint": "true",
            "ConfirmationTimeoutSeconds": str(self.confirmation_timeout),
            "DeliveryPolicy": {
                "healthyRetryPolicy": {
                    "numRetries": num_retries,
                    "numNoDelayRetries": "0",
                    "minDelayTarget": "1",
                    "maxDelayTarget": "5",
                    "numMinDelayRetries": "0",
                    "numMaxDelayRetries": "0",
                    "backoffFunction": "exponential",
                },
                "throttlePolicy": {"maxReceivesPerSecond": "10"},
            },
            "RedrivePolicy": {"deadLetterTargetArn": self.resources.dead_letter_queue_arn},
        }

    def create_subscription(self) -> tuple[dict[str, Any], str]:
        body = self.custom_resource(
            "HttpsSubscriptionFunction",
            "Create",
            "Custom::HttpsSubscription",
            "JobSubscription",
            self.subscription_properties(),
        )
        _expect_success(body, "Custom::HttpsSubscription")
        arn = str(body["PhysicalResourceId"])
        attributes = self.client("sns").get_subscription_attributes(SubscriptionArn=arn)
        if attributes["Attributes"].get("PendingConfirmation") != "false":
            raise StepFailedError(f"subscription {arn} is not confirmed")
        return body, f"SUCCESS, subscription {arn.rsplit(':', 1)[-1]} confirmed by the app"

    def publish(self, job: str, payload: Mapping[str, Any] | None = None) -> str:
        """Publishes with the app's own publisher; returns the SNS MessageId it printed."""
        argv = [sys.executable, "-m", "bookapp", "publish-job", job]
        if payload is not None:
            argv += ["--payload", json.dumps(payload)]
        log = self.workdir / f"publish-{job}.log"
        publisher = ChildProcess(
            f"publish-{job}", argv, log_path=log, env=self.app_environment, cwd=REPO_ROOT / "app"
        )
        try:
            code = publisher.process.wait(timeout=60)
        finally:
            publisher.stop()
        output = log.read_text(errors="replace")
        if code != 0:
            raise StepFailedError(f"publish-job {job} exited {code}: {output[-500:]}")
        message_id = _find_message_id(output)
        if message_id is None:
            raise StepFailedError(f"publish-job {job} printed no MessageId: {output[-500:]}")
        return message_id

    def job_runs(self) -> list[dict[str, Any]]:
        pg = self._require_postgres()
        if (
            pg.psql("SELECT to_regclass('public.job_runs') IS NOT NULL", dbname=pg.dbname).strip()
            != "t"
        ):
            return []
        rows = pg.psql(
            "SELECT coalesce(json_agg(json_build_object('message_id', message_id, 'job', job, "
            "'status', status, 'attempts', attempts, 'error', error) ORDER BY started_at), '[]') "
            "FROM job_runs",
            dbname=pg.dbname,
        )
        runs: list[dict[str, Any]] = json.loads(rows.strip() or "[]")
        return runs

    def publish_jobs(self) -> tuple[list[dict[str, Any]], str]:
        for job in PUBLISHED_JOBS:
            message_id = self.publish(job)
            self.message_ids[job] = message_id
            run = self.wait_for_run(message_id, timeout=15)
            if run["job"] != job or run["status"] != "succeeded":
                raise StepFailedError(f"{job} (message {message_id}) ended {run['status']}")
        runs = self.job_runs()
        ids = [run["message_id"] for run in runs]
        if sorted(ids) != sorted(set(ids)) or len(ids) != len(JOBS):
            raise StepFailedError(f"job_runs holds {len(ids)} rows for {len(JOBS)} messages")
        return runs, "db_seed, test_book_job delivered, verified and run once each"

    # -- Custom::JobRun --------------------------------------------------------------------------

    def job_run_properties(
        self, revision: str, *, job: str = "db_migrate", timeout: int = 60, **extra: Any
    ) -> dict[str, Any]:
        """The Migrate resource's properties, as the template passes them."""
        return {
            "ServiceTimeout": "960",
            "TopicArn": self.resources.topic_arn,
            "ResultQueueUrl": self.resources.result_queue_url,
            "Job": job,
            "TimeoutSeconds": str(timeout),
            "Revision": revision,
            **extra,
        }

    def schema_revision(self) -> str | None:
        pg = self._require_postgres()
        exists = pg.psql(
            "SELECT to_regclass('public.alembic_version') IS NOT NULL", dbname=pg.dbname
        ).strip()
        if exists != "t":
            return None
        return pg.psql("SELECT version_num FROM alembic_version", dbname=pg.dbname).strip() or None

    def create_migration(self) -> tuple[dict[str, Any], str]:
        if self.schema_revision() is not None:
            raise StepFailedError("the database has a schema before the migration ran")
        body = self.custom_resource(
            "JobRunFunction",
            "Create",
            "Custom::JobRun",
            "Migrate",
            self.job_run_properties("bookapp:1", Platform=self.platform),
        )
        _expect_success(body, "Custom::JobRun (db_migrate)")
        message_id = str(body["Data"]["MessageId"])
        self.message_ids["db_migrate"] = message_id
        if body["PhysicalResourceId"] != message_id:
            raise StepFailedError("the job run's physical id is not its MessageId")
        runs = [r for r in self.job_runs() if r["message_id"] == message_id]
        if [(r["job"], r["status"]) for r in runs] != [("db_migrate", "succeeded")]:
            raise StepFailedError(f"job_runs has no succeeded db_migrate for {message_id}")
        revision = self.schema_revision()
        if revision is None:
            raise StepFailedError("the schema has no revision after db_migrate succeeded")
        return body, (
            f"SUCCESS after the app reported message {message_id[:8]}: "
            f"schema at revision {revision}"
        )

    def update_migration(self) -> tuple[dict[str, Any], str]:
        before = self.physical_ids["Migrate"]
        body = self.custom_resource(
            "JobRunFunction",
            "Update",
            "Custom::JobRun",
            "Migrate",
            self.job_run_properties("bookapp:2", Platform=self.platform),
        )
        _expect_success(body, "Custom::JobRun Update")
        if body["PhysicalResourceId"] != before:
            raise StepFailedError("an Update replaced the job run")
        if body["Data"]["MessageId"] == self.message_ids["db_migrate"]:
            raise StepFailedError("the Update did not run db_migrate again")
        return body, "SUCCESS (Revision bookapp:1 -> bookapp:2), db_migrate ran again (no-op)"

    def delete_migration(self) -> tuple[dict[str, Any], str]:
        count = len(self.job_runs())
        body = self.custom_resource(
            "JobRunFunction",
            "Delete",
            "Custom::JobRun",
            "Migrate",
            self.job_run_properties("bookapp:2", Platform=self.platform),
        )
        _expect_success(body, "Custom::JobRun Delete")
        if len(self.job_runs()) != count:
            raise StepFailedError("Delete ran a job")
        return body, "SUCCESS, nothing published"

    def replace_app(self, app_dir: Path) -> None:
        """Deploys another "image" of the app (a source folder) on the same port, as App Runner
        replaces a service's instances: the job endpoint's URL and subscription stay."""
        if self.app is None:
            raise RuntimeError("the app is not running")
        self.app.stop()
        self.app_dir = app_dir
        self.launch_app(self.app_port)

    def wait_for_run(self, message_id: str, timeout: float) -> dict[str, Any]:
        """The job_runs row of `message_id` once it is finished (any status but running)."""

        def finished() -> dict[str, Any] | None:
            for run in self.job_runs():
                if run["message_id"] == message_id and run["status"] != "running":
                    return run
            return None

        try:
            return wait_until(finished, timeout=timeout, what=f"job_runs row of {message_id}")
        except TimeoutError:
            raise StepFailedError(
                f"message {message_id} has no finished job_runs row after {timeout:.0f} s "
                "(see app.log)"
            ) from None

    def check_books(self) -> tuple[list[Any], str]:
        with urllib.request.urlopen(self.app_url + "/books", timeout=10) as response:  # noqa: S310
            books = json.loads(response.read())
        items = books if isinstance(books, list) else books.get("books", [])
        if not items:
            raise StepFailedError("GET /books returned no books after db_seed")
        return items, f"GET /books: {len(items)} books"

    def update_environment(self) -> tuple[dict[str, Any], str]:
        before = self.physical_ids["AppEnvironment"]
        body = self.custom_resource(
            "SecretEnvironmentFunction",
            "Update",
            "Custom::SecretEnvironment",
            "AppEnvironment",
            self.secret_environment_properties("SecretReference", "2"),
        )
        _expect_success(body, "Custom::SecretEnvironment Update")
        same = "same physical id" if body["PhysicalResourceId"] == before else "replaced"
        return body, f"SUCCESS (Generation 1 -> 2), {same}"

    def update_subscription(self) -> tuple[dict[str, Any], str]:
        before = self.physical_ids["JobSubscription"]
        body = self.custom_resource(
            "HttpsSubscriptionFunction",
            "Update",
            "Custom::HttpsSubscription",
            "JobSubscription",
            self.subscription_properties(num_retries="5"),
        )
        _expect_success(body, "Custom::HttpsSubscription Update")
        if body["PhysicalResourceId"] != before:
            raise StepFailedError("an in-place change replaced the subscription")
        return body, "SUCCESS (numRetries 3 -> 5), updated in place"

    def delete_subscription(self) -> tuple[dict[str, Any], str]:
        arn = self.physical_ids["JobSubscription"]
        body = self.custom_resource(
            "HttpsSubscriptionFunction",
            "Delete",
            "Custom::HttpsSubscription",
            "JobSubscription",
            self.subscription_properties(num_retries="5"),
        )
        _expect_success(body, "Custom::HttpsSubscription Delete")
        left = self.client("sns").list_subscriptions_by_topic(TopicArn=self.resources.topic_arn)
        if any(s["SubscriptionArn"] == arn for s in left["Subscriptions"]):
            raise StepFailedError(f"subscription {arn} still exists after Delete")
        return body, "SUCCESS, unsubscribed"

    def delete_environments(self) -> tuple[None, str]:
        for logical_id, delivery in (
            ("AppEnvironment", "SecretReference"),
            ("PlainTextEnvironment", "PlainText"),
        ):
            body = self.custom_resource(
                "SecretEnvironmentFunction",
                "Delete",
                "Custom::SecretEnvironment",
                logical_id,
                self.secret_environment_properties(delivery, "2"),
            )
            _expect_success(body, f"Custom::SecretEnvironment Delete ({delivery})")
        return None, "SUCCESS for both delivery modes"

    # -- a change of ComputePlatform on the running stack ---------------------------------------

    def subscribe_new_endpoint(self) -> tuple[dict[str, Any], str]:
        """CloudFormation's Update of JobSubscription: a new endpoint is a new subscription."""
        before = self.physical_ids["JobSubscription"]
        body = self.custom_resource(
            "HttpsSubscriptionFunction",
            "Update",
            "Custom::HttpsSubscription",
            "JobSubscription",
            self.subscription_properties(),
        )
        _expect_success(body, "Custom::HttpsSubscription Update (new endpoint)")
        arn = str(body["PhysicalResourceId"])
        if arn == before:
            raise StepFailedError("a new endpoint kept the old subscription")
        attributes = self.client("sns").get_subscription_attributes(SubscriptionArn=arn)
        if attributes["Attributes"].get("PendingConfirmation") != "false":
            raise StepFailedError(f"subscription {arn} is not confirmed")
        return body, f"SUCCESS, new subscription {arn.rsplit(':', 1)[-1]} confirmed by the new app"

    def unsubscribe_old_endpoint(
        self, arn: str, properties: dict[str, Any]
    ) -> tuple[dict[str, Any], str]:
        """CloudFormation's cleanup after the update: Delete of the replaced subscription."""
        body = self.custom_resource(
            "HttpsSubscriptionFunction",
            "Delete",
            "Custom::HttpsSubscription",
            "JobSubscription",
            properties,
            physical_id=arn,
        )
        _expect_success(body, "Custom::HttpsSubscription Delete (old endpoint)")
        left = self.client("sns").list_subscriptions_by_topic(TopicArn=self.resources.topic_arn)
        if any(s["SubscriptionArn"] == arn for s in left["Subscriptions"]):
            raise StepFailedError(f"old subscription {arn} still exists after Delete")
        return body, "SUCCESS, the old endpoint no longer gets jobs"

    def migrate_through_the_new_endpoint(self) -> tuple[dict[str, Any], str]:
        """The Update of Custom::JobRun that a new ComputePlatform (Migrate's Platform property)
        makes CloudFormation send: db_migrate through the job path, to the new app."""
        properties = {**self.properties["Migrate"], "Platform": self.platform}
        body = self.custom_resource(
            "JobRunFunction", "Update", "Custom::JobRun", "Migrate", properties
        )
        _expect_success(body, "Custom::JobRun Update (new Platform)")
        message_id = str(body["Data"]["MessageId"])
        run = self.wait_for_run(message_id, timeout=15)
        if run["status"] != "succeeded":
            raise StepFailedError(f"db_migrate (message {message_id}) ended {run['status']}")
        if self.app is None or message_id not in self.app.output():
            raise StepFailedError(f"the new app did not receive db_migrate ({message_id})")
        return run, f"db_migrate {message_id} run by the new app"

    def switch_platform(self, platform: str) -> None:
        """Plays a change of ComputePlatform on the running stack, in CloudFormation's order."""
        if platform not in PLATFORM_LABELS:
            raise ValueError(f"unknown compute platform {platform!r}: {sorted(PLATFORM_LABELS)}")
        run = self.reporter.run
        old_app, old_label = self.app, PLATFORM_LABELS[self.platform]
        old_arn = self.physical_ids["JobSubscription"]
        old_properties = self.properties["JobSubscription"]
        self.platform = platform
        label = PLATFORM_LABELS[platform]
        run(f"start the app with the {label} contract beside the {old_label} one", self.start_app)
        run("Custom::HttpsSubscription Update to the new job endpoint", self.subscribe_new_endpoint)
        run(
            "Custom::HttpsSubscription Delete of the old subscription",
            lambda: self.unsubscribe_old_endpoint(old_arn, old_properties),
        )
        run(
            "Custom::JobRun Update (new Platform): db_migrate on the new app",
            self.migrate_through_the_new_endpoint,
        )

        def stop_old_app() -> tuple[None, str]:
            if old_app is None:
                raise StepFailedError("no app was running before the switch")
            old_app.stop()
            if old_app.alive():
                raise StepFailedError(f"the {old_label} app is still running")
            return None, f"the {old_label} app stopped; {label} serves {self.app_url}"

        run(f"stop the {old_label} app", stop_old_app)

    def _require_contract(self) -> ContainerContract:
        if self.contract is None:
            raise RuntimeError("the app has not started")
        return self.contract

    def _require_postgres(self) -> PostgresServer:
        if self.postgres is None:
            raise RuntimeError("PostgreSQL is not running")
        return self.postgres

    def _require_moto(self) -> MotoServer:
        if self.moto is None:
            raise RuntimeError("moto's server is not running")
        return self.moto

    def _require_proxy(self) -> SnsCertProxy:
        if self.sns_proxy is None:
            raise RuntimeError("the SNS endpoint is not running")
        return self.sns_proxy

    # -- the whole run ---------------------------------------------------------------------------

    def deploy(self) -> None:
        """Steps 1-7: stand-ins, stack resources, custom resources, app, subscription, migration,
        jobs."""
        run = self.reporter.run
        run("check the sam build output", self.check_build)
        run("start PostgreSQL (stands in for Aurora)", self.start_postgres)
        run("start moto (Secrets Manager, SNS, SQS, CloudWatch Logs)", self.start_moto)
        run(
            "create the secrets, the job topic, the queues and the stack",
            self.create_stack_resources,
        )
        run("start the built functions in the Lambda runtime", self.start_functions)
        run("Custom::SecretEnvironment Create, PlainText", self.create_plain_text_environment)
        run(
            "Custom::SecretEnvironment Create, SecretReference",
            self.create_secret_reference_environment,
        )
        run(
            f"start the app (APP_ROLE=all) with the {PLATFORM_LABELS[self.platform]} contract",
            self.start_app,
        )
        run(
            "Custom::LogRetention Create (the app's and the database's logs)",
            self.create_log_retention,
        )
        run("Custom::HttpsSubscription Create", self.create_subscription)
        run("Custom::JobRun Create: db_migrate through the job topic", self.create_migration)
        run("publish db_seed, test_book_job", self.publish_jobs)
        run("GET /books", self.check_books)

    def update_and_delete(self) -> None:
        """Step 8: Update and Delete events for the custom resources."""
        run = self.reporter.run
        run("Custom::LogRetention Update", self.update_log_retention)
        run("Custom::LogRetention Delete", self.delete_log_retention)
        run("Custom::SecretEnvironment Update", self.update_environment)
        run("Custom::HttpsSubscription Update", self.update_subscription)
        run("Custom::JobRun Update (new Revision)", self.update_migration)
        run("Custom::JobRun Delete", self.delete_migration)
        run("Custom::HttpsSubscription Delete", self.delete_subscription)
        run("Custom::SecretEnvironment Delete", self.delete_environments)


def _find_message_id(output: str) -> str | None:
    """The MessageId in the publisher's output: a JSON line with MessageId, or a bare UUID line."""
    for line in reversed(output.splitlines()):
        text = line.strip()
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            for key in ("MessageId", "message_id", "messageId"):
                if isinstance(data.get(key), str):
                    return str(data[key])
        if len(text) == 36 and text.count("-") == 4:
            return text
    return None


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C, so the ExitStack runs and stops every process."""

    def interrupt(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.demo",
        description="Run the whole stack locally: a rehearsal of the deploy and of the job flow.",
    )
    parser.add_argument(
        "--platform",
        choices=sorted(PLATFORMS),
        default="app-runner",
        help="whose container contract the app starts with (the template's ComputePlatform)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave the system running after the rehearsal (until Ctrl-C); skips Update/Delete",
    )
    args = parser.parse_args(argv)
    reporter = Reporter()
    failed: str | None = None
    with (
        _signals_raise(),
        Rehearsal(reporter=reporter, platform=PLATFORMS[args.platform]) as rehearsal,
    ):
        try:
            rehearsal.deploy()
            if args.keep:
                _print_keep(rehearsal)
                while True:
                    time.sleep(3600)
            rehearsal.update_and_delete()
        except KeyboardInterrupt:
            failed = reporter.results[-1].name if reporter.results else "start"
            if args.keep and reporter.results and reporter.results[-1].ok:
                failed = None
        except Exception:
            failed = reporter.results[-1].name if reporter.results else "start"
        finally:
            # From here to the end of the cleanup, another Ctrl-C or SIGTERM is ignored.
            with signals_ignored():
                print(reporter.summary(), flush=True)
                if failed is not None:
                    print(f"\nThe rehearsal failed at: {failed}", file=sys.stderr, flush=True)
                    kept = _keep_logs(rehearsal.workdir)
                    print(f"The processes' logs are in {kept} (local only; may hold secrets).")
                print("Stopping every process the rehearsal started ...", flush=True)
                rehearsal.close()
    return 1 if failed is not None else 0


def _keep_logs(workdir: Path) -> Path:
    """Copies the processes' logs out of the temporary folder before it is removed."""
    target = REPO_ROOT / ".aws-sam" / "rehearsal-logs"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for log in workdir.glob("*.log"):
        shutil.copy2(log, target / log.name)
    return target


def _print_keep(rehearsal: Rehearsal) -> None:
    moto = rehearsal._require_moto()
    print(
        "\nThe stack is running (Ctrl-C stops it):\n"
        f"  app           {rehearsal.app_url}  (/healthz, /readyz, /books; "
        f"{rehearsal._require_contract().label} contract)\n"
        f"  job endpoint  {rehearsal.app_url}{JOB_PATH}\n"
        f"  moto          {moto.url}\n"
        f"  logs          {rehearsal.workdir}\n"
        "Publish a job:\n"
        f"  PYTHONPATH=app JOB_TOPIC_ARN={rehearsal.resources.topic_arn} "
        f"AWS_ENDPOINT_URL_SNS={moto.url} AWS_REGION={REGION} "
        "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
        f"{sys.executable} -m bookapp publish-job test_book_job\n",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
