"""The request guard every custom-resource function of this stack runs before it acts."""

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
