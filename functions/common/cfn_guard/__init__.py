"""The request guard every custom-resource function of this stack runs before it acts.

The layer also carries what the functions would otherwise each repeat: `settings` (LOG_LEVEL,
quiet loggers, bounded retries; no crhelper, so the rotation follower uses it too) and
`resource` (crhelper's CfnResource as every custom resource here builds it).
"""

from cfn_guard.guard import (
    LOCAL_RESPONSE_ORIGIN_VARIABLE,
    STACK_ID_VARIABLE,
    GuardConfigError,
    Pins,
    Verdict,
    check_request,
    pins_from_environment,
    redact_url,
)

__all__ = [
    "LOCAL_RESPONSE_ORIGIN_VARIABLE",
    "STACK_ID_VARIABLE",
    "GuardConfigError",
    "Pins",
    "Verdict",
    "check_request",
    "pins_from_environment",
    "redact_url",
]
