"""Job results for a caller that waits for them: the deploy's Custom::JobRun (DESIGN §2.6).

A job message with `"report": true` asks for the run's outcome. Once the outcome is recorded in
job_runs, the job endpoint sends one message to the results queue (JOB_RESULTS_QUEUE_URL):

    {"message_id": "<SNS MessageId>", "job": "db_migrate",
     "status": "succeeded" | "failed" | "rejected", "attempt": 1,
     "error": null | "<text>", "finished_at": "<ISO 8601>"}

Everything in it comes from the job_runs row, so a redelivery of a finished run sends the same
result again. `error` is the text job_runs holds: the error's class and first line, never the
payload (see job_endpoint._error_text). The message is sent only to the queue the stack gave the
app; a send that fails raises `ReportNotSent`, and the endpoint then answers 5xx so SNS retries.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
import botocore.exceptions

from bookapp.aws import RETRY_CONFIG

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from bookapp.runs import RecordedRun

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 1000


class ReportNotSent(RuntimeError):  # noqa: N818 - reads as the condition it reports
    """The result could not be sent; the message says why, without the result's content."""


@dataclass(frozen=True)
class JobResult:
    message_id: str
    job: str
    status: str
    attempt: int
    error: str | None
    finished_at: str

    @classmethod
    def of(cls, run: RecordedRun) -> JobResult:
        return cls(
            message_id=run.message_id,
            job=run.job,
            status=run.status,
            attempt=run.attempts,
            error=run.error[:MAX_ERROR_CHARS] if run.error is not None else None,
            finished_at=run.finished_at.isoformat(),
        )

    def body(self) -> str:
        return json.dumps(
            {
                "message_id": self.message_id,
                "job": self.job,
                "status": self.status,
                "attempt": self.attempt,
                "error": self.error,
                "finished_at": self.finished_at,
            },
            separators=(",", ":"),
        )


@functools.cache
def sqs_client(region: str) -> SQSClient:
    """boto3 reads AWS_ENDPOINT_URL_SQS itself, so local stacks and tests need nothing here."""
    client: SQSClient = boto3.client("sqs", region_name=region, config=RETRY_CONFIG)
    return client


class ResultQueue:
    """Sends results to the one queue the app was configured with."""

    def __init__(self, queue_url: str, region: str) -> None:
        self.queue_url = queue_url
        self.region = region

    def send(self, result: JobResult) -> None:
        try:
            sqs_client(self.region).send_message(QueueUrl=self.queue_url, MessageBody=result.body())
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            code = (
                error.response.get("Error", {}).get("Code", "")
                if isinstance(error, botocore.exceptions.ClientError)
                else type(error).__name__
            )
            raise ReportNotSent(f"sqs:SendMessage failed: {code}") from None
        log.info(
            "job result reported",
            extra={"job": result.job, "run_status": result.status, "attempt": result.attempt},
        )
