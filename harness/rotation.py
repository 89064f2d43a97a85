"""The rotation rehearsal: the database password rotates and the built follower follows it.

On a deployed `Rehearsal` (PostgreSQL, moto, the app), this

1. turns following on as the stack update does: an Update of AppEnvironment with `Follow: "true"`
   (in place), whose `Definition` the follower gets in its environment;
2. puts the app behind a `FrontDoor` (App Runner's stable URL) and moves the job subscription to it;
3. starts the built `RotationFollowerFunction` in the Lambda runtime, with App Runner at a local
   stand-in (`AppRunnerStandIn`) whose StartDeployment runs `redeploy`;
4. rotates the password as AWS's single-user PostgreSQL rotation function does: createSecret (a new
   AWSPENDING version with a random password), setSecret (ALTER ROLE: from now on the old password
   fails), testSecret (a login with the new one), finishSecret (AWSCURRENT moves to it);
5. delivers the "Secret Label Updated" event Secrets Manager then sends (events/rotation_follower/)
   to the follower, which writes the target secret and calls StartDeployment;
6. `redeploy` does what a new App Runner deployment does: a new instance reads DATABASE_URL from
   the target secret, starts, passes its health check, gets the traffic; the old one is drained
   and stopped.
"""

from __future__ import annotations

import copy
import json
import urllib.parse
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg

from harness.app_runner import AppRunnerStandIn
from harness.demo import (
    APP_PORT_ATTEMPTS,
    JOB_PATH,
    REGION,
    REPO_ROOT,
    Rehearsal,
    StepFailedError,
)
from harness.front_door import FrontDoor
from harness.lambda_runtime import LambdaFunction, function_spec_from_template
from harness.processes import start_on_free_port

SERVICE_ARN = (
    "arn:aws:apprunner:us-east-1:123456789012:service/rehearsal-app/"
    "0123456789abcdef0123456789abcdef"
)
EVENT_FILE = REPO_ROOT / "events" / "rotation_follower" / "secret-label-updated.json"
# The template's GenerateSecretString and HostedRotationLambda exclude these.
EXCLUDE_CHARACTERS = "\"@/\\ '"


@dataclass
class Rotated:
    """What one rotation left: the new AWSCURRENT version and the old URL (for a stale app)."""

    version_id: str
    old_database_url: str
    new_password: str = field(repr=False)


class RotationRehearsal:
    def __init__(self, rehearsal: Rehearsal) -> None:
        self.rehearsal = rehearsal
        self.front_door: FrontDoor | None = None
        self.app_runner: AppRunnerStandIn | None = None
        self.follower: LambdaFunction | None = None
        self.subscription_arn = ""
        self.drain_timeouts = 0

    # -- set-up ----------------------------------------------------------------------------------

    def start(self) -> None:
        stack = self.rehearsal
        stack_exit = stack._stack  # the rehearsal's own cleanup stops what is started here
        definition = self.turn_following_on()
        self.front_door = stack_exit.enter_context(FrontDoor(stack.app_port))
        self.move_subscription()
        self.app_runner = stack_exit.enter_context(AppRunnerStandIn(self.redeploy))
        self.app_runner.add_service(SERVICE_ARN)
        spec = function_spec_from_template(
            stack.build_dir,
            "RotationFollowerFunction",
            environment_overrides={
                "DATABASE_SECRET_ARN": stack.resources.database_secret_arn,
                "SECRET_ENVIRONMENT_DEFINITION": definition,
                "APPRUNNER_SERVICE_ARNS": SERVICE_ARN,
                # The rehearsal's stack runs on App Runner: no ECS Express service to redeploy.
                "ECS_SERVICE_ARNS": "",
            },
        )
        moto = stack._require_moto()
        follower = LambdaFunction(
            spec,
            stack.workdir,
            region=REGION,
            aws_endpoint_url=moto.url,
            extra_environment={"AWS_ENDPOINT_URL_APPRUNNER": self.app_runner.url},
        )
        stack_exit.callback(follower.stop)
        self.follower = follower.start()

    def turn_following_on(self) -> str:
        """An Update of AppEnvironment with Follow: "true", as the stack update does."""
        stack = self.rehearsal
        properties = {**stack.properties["AppEnvironment"], "Follow": "true"}
        body = stack.custom_resource(
            "SecretEnvironmentFunction",
            "Update",
            "Custom::SecretEnvironment",
            "AppEnvironment",
            properties,
        )
        if body.get("Status") != "SUCCESS":
            raise StepFailedError(f"AppEnvironment Update with Follow failed: {body.get('Reason')}")
        return str(body["Data"]["Definition"])

    def move_subscription(self) -> None:
        """The job endpoint behind the front door (App Runner's URL does not change on deploys)."""
        stack = self.rehearsal
        front_door = self._require(self.front_door, "the front door")
        sns = stack.client("sns")
        self.subscription_arn = sns.subscribe(
            TopicArn=stack.resources.topic_arn,
            Protocol="http",
            Endpoint=f"{front_door.url}{JOB_PATH}",
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        original = stack.physical_ids.get("JobSubscription")
        if original:
            sns.unsubscribe(SubscriptionArn=original)

    # -- the rotation (AWS's single-user PostgreSQL rotation function, step by step) ------------

    def rotate(self) -> Rotated:
        stack = self.rehearsal
        pg = stack._require_postgres()
        secrets = stack.client("secretsmanager")
        arn = stack.resources.database_secret_arn
        current = secrets.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")
        document = json.loads(current["SecretString"])
        # createSecret
        password = secrets.get_random_password(
            PasswordLength=32, ExcludeCharacters=EXCLUDE_CHARACTERS
        )["RandomPassword"]
        token = str(uuid.uuid4())
        secrets.put_secret_value(
            SecretId=arn,
            ClientRequestToken=token,
            SecretString=json.dumps({**document, "password": password}),
            VersionStages=["AWSPENDING"],
        )
        # setSecret: from here on, a new connection with the old password fails.
        role = document["username"].replace('"', '""')
        pg.psql(f"ALTER ROLE \"{role}\" WITH PASSWORD '{password}'")
        # testSecret
        with psycopg.connect(
            host=document["host"],
            port=int(document["port"]),
            user=document["username"],
            password=password,
            dbname=document["dbname"],
            sslmode="require",
            connect_timeout=5,
        ) as connection:
            connection.execute("SELECT 1")
        # finishSecret
        secrets.update_secret_version_stage(
            SecretId=arn,
            VersionStage="AWSCURRENT",
            MoveToVersionId=token,
            RemoveFromVersionId=current["VersionId"],
        )
        old_url = stack.app_environment["DATABASE_URL"]
        return Rotated(version_id=token, old_database_url=old_url, new_password=password)

    def event(self, version_id: str) -> dict[str, Any]:
        """The "Secret Label Updated" event Secrets Manager sends after finishSecret."""
        stack = self.rehearsal
        event: dict[str, Any] = copy.deepcopy(json.loads(EVENT_FILE.read_text(encoding="utf-8")))
        arn = stack.resources.database_secret_arn
        event["id"] = str(uuid.uuid4())
        event["time"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event["region"] = REGION
        event["resources"] = [arn]
        event["detail"] = {
            "name": arn.split(":")[-1].rsplit("-", 1)[0],
            "labelUpdated": "AWSCURRENT",
            "versionId": version_id,
        }
        return event

    def deliver(self, event: dict[str, Any]) -> Any:
        """EventBridge's invocation of the follower; returns what the handler returned."""
        follower = self._require(self.follower, "the follower")
        result = follower.invoke(event, timeout=120)
        if not result.ok:
            raise StepFailedError(f"the follower failed: {result.error}")
        return result.payload

    # -- App Runner's deployment -----------------------------------------------------------------

    def redeploy(self, service_arn: str) -> None:  # noqa: ARG002 - one service here
        """A new instance with the secret read at its start; traffic moves once it is healthy."""
        stack = self.rehearsal
        front_door = self._require(self.front_door, "the front door")
        old_app, old_port = stack.app, stack.app_port
        document = json.loads(
            stack.client("secretsmanager").get_secret_value(
                SecretId=stack.resources.target_secret_arn, VersionStage="AWSCURRENT"
            )["SecretString"]
        )
        stack.app_environment = {**stack.app_environment, "DATABASE_URL": document["DATABASE_URL"]}
        start_on_free_port(stack.launch_app, what="the new instance", attempts=APP_PORT_ATTEMPTS)
        front_door.switch(stack.app_port)
        if not front_door.drain(old_port, timeout=20):
            self.drain_timeouts += 1
        if old_app is not None:
            old_app.stop()

    @staticmethod
    def _require[T](value: T | None, what: str) -> T:
        if value is None:
            raise RuntimeError(f"{what} is not running: call start() first")
        return value

    def password_in(self, url: str) -> str:
        return urllib.parse.unquote(urllib.parse.urlsplit(url).password or "")
