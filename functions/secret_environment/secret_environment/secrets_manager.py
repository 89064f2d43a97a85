"""The Secrets Manager calls of Custom::SecretEnvironment, with errors a stack reader can act on.

The client is an argument, so tests hand in moto's or a stubbed one. Reads happen once per distinct
SecretId per request (AWSCURRENT); the target secret gets a new version only when the JSON document
differs from what it holds, so repeated or duplicate requests add no versions. Error messages name
the variables and the secret and the error code, never a value nor AWS's message text.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final

from botocore.exceptions import BotoCoreError, ClientError

from secret_environment.core import (
    PropertyError,
    SecretEnvironmentError,
    SecretRead,
    same_document,
)

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

LOGGER = logging.getLogger(__name__)

NOT_FOUND: Final = "ResourceNotFoundException"
CURRENT: Final = "AWSCURRENT"
RETRYABLE_CODES: Final = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "InternalServiceError",
        "InternalFailure",
        "ServiceUnavailable",
    }
)


class SecretsManagerError(SecretEnvironmentError):
    """A Secrets Manager call failed; the message is safe for stack events."""


@dataclass(frozen=True)
class TargetWrite:
    """The target secret after the request: its ARN, current version and whether we wrote it.

    `created` is when the version it already held was created (None when this call wrote it): a
    service deployed after that time already reads these values."""

    arn: str
    version_id: str
    written: bool
    created: datetime | None = None


def read_secrets(
    client: SecretsManagerClient, users: Mapping[str, Sequence[str]]
) -> dict[str, SecretRead]:
    """GetSecretValue once for each SecretId in `users` (SecretId -> names of its variables)."""
    reads: dict[str, SecretRead] = {}
    for secret_id, names in users.items():
        subject = f"{_variables(names)}: secret {secret_id}"
        try:
            # AWSCURRENT is GetSecretValue's default; named, because it is the contract (and moto
            # 5.2 answers its "default version" otherwise, which a moved label does not update).
            response = client.get_secret_value(SecretId=secret_id, VersionStage=CURRENT)
        except ClientError as error:
            raise SecretsManagerError(f"{subject}: {_explain(error, 'GetSecretValue')}") from None
        except BotoCoreError as error:
            raise SecretsManagerError(f"{subject}: {_unreachable(error)}") from None
        reads[secret_id] = SecretRead(
            arn=response["ARN"],
            version_id=response["VersionId"],
            secret_string=response.get("SecretString"),
            is_binary="SecretString" not in response,
        )
        LOGGER.info("Read %s version %s", response["ARN"], response["VersionId"])
    return reads


def write_target(
    client: SecretsManagerClient,
    target_secret_arn: str,
    document: str,
    source_arns: Iterable[str],
) -> TargetWrite:
    """Put `document` into the target secret unless it already holds exactly that.

    Refuses, before writing, a target that is one of the secrets read (`source_arns`, the ARNs
    GetSecretValue answered for the Variables' SecretIds).
    """
    subject = f"TargetSecretArn {target_secret_arn}"
    sources = set(source_arns)
    current: str | None = None
    created: datetime | None = None
    arn, version_id = target_secret_arn, ""
    try:
        response = client.get_secret_value(SecretId=target_secret_arn, VersionStage=CURRENT)
    except ClientError as error:
        # A secret created without a value has no AWSCURRENT version yet: the first write makes it.
        if _code(error) != NOT_FOUND:
            raise SecretsManagerError(f"{subject}: {_explain(error, 'GetSecretValue')}") from None
    except BotoCoreError as error:
        raise SecretsManagerError(f"{subject}: {_unreachable(error)}") from None
    else:
        arn, version_id = response["ARN"], response["VersionId"]
        current = response.get("SecretString")
        created = response.get("CreatedDate")
    # Both sides are the full ARNs GetSecretValue answered, whatever form the template used (a
    # name, a partial ARN, a full ARN). A target without a value keeps the ARN it was given: it
    # cannot be a source, which was just read.
    if arn in sources:
        raise PropertyError(
            f"{subject} is also a SecretId of Variables; the target must be a secret of its own"
        )
    if same_document(current, document):
        LOGGER.info("Target %s already holds these values (version %s)", arn, version_id)
        return TargetWrite(arn=arn, version_id=version_id, written=False, created=created)
    try:
        put = client.put_secret_value(SecretId=target_secret_arn, SecretString=document)
    except ClientError as error:
        raise SecretsManagerError(f"{subject}: {_explain(error, 'PutSecretValue')}") from None
    except BotoCoreError as error:
        raise SecretsManagerError(f"{subject}: {_unreachable(error)}") from None
    LOGGER.info("Wrote target %s version %s", put["ARN"], put["VersionId"])
    return TargetWrite(arn=put["ARN"], version_id=put["VersionId"], written=True)


def _variables(names: Sequence[str]) -> str:
    return f"variable {names[0]}" if len(names) == 1 else f"variables {', '.join(names)}"


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "Unknown"))


def _explain(error: ClientError, operation: str) -> str:
    code = _code(error)
    if code == NOT_FOUND:
        return "not found, or it has no AWSCURRENT value (ResourceNotFoundException)"
    if code == "AccessDeniedException":
        return (
            f"access denied: the function's role needs secretsmanager:{operation} on it, "
            "and kms:Decrypt via Secrets Manager if it uses a customer managed key"
        )
    if code == "DecryptionFailure":
        return (
            "Secrets Manager cannot decrypt it (DecryptionFailure): allow the function's "
            "role kms:Decrypt on its KMS key via Secrets Manager"
        )
    if code in RETRYABLE_CODES:
        attempts = int(error.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)) + 1
        return f"Secrets Manager answered {code} after {attempts} attempts; deploy again later"
    return f"{operation} failed with {code}"


def _unreachable(error: BotoCoreError) -> str:
    return f"Secrets Manager could not be reached ({type(error).__name__}); deploy again later"
