"""crhelper's CfnResource as every custom-resource function of this stack builds it.

- No polling clients: crhelper makes lambda, events and logs clients for its polling mode, which
  no function here uses (each waits inside one invocation); they cost tens of milliseconds of
  every cold start.
- Explicit levels: crhelper's default DEBUG would log whole events, so the function's LOG_LEVEL
  is passed, and botocore's at ERROR.
- A short delete sleep: crhelper's 120 s on Delete only waits for logs to flush.
- A start-up error (a bad setting) makes crhelper answer FAILED, with its message, to every
  request.
"""

from __future__ import annotations

import os
from typing import Any, Final

from crhelper import CfnResource

SLEEP_ON_DELETE_SECONDS: Final = 5


def _without_polling_clients(**options: Any) -> CfnResource:
    # crhelper skips the polling clients when AWS_SAM_LOCAL is set, so it is set around the
    # constructor only and crhelper's copy of it is restored afterwards.
    previous = os.environ.get("AWS_SAM_LOCAL")
    os.environ["AWS_SAM_LOCAL"] = "true"
    try:
        resource = CfnResource(**options)
    finally:
        if previous is None:
            del os.environ["AWS_SAM_LOCAL"]
        else:
            os.environ["AWS_SAM_LOCAL"] = previous
    resource._sam_local = previous  # type: ignore[attr-defined]  # crhelper keeps no annotation
    return resource


def custom_resource(
    log_level: str, *, init_error: Exception | None = None, **options: Any
) -> CfnResource:
    """A CfnResource logging at `log_level`; `options` go to crhelper and override the defaults
    above. With `init_error`, every request is answered FAILED with it."""
    resource = _without_polling_clients(
        **{
            "log_level": log_level,
            "boto_level": "ERROR",
            "sleep_on_delete": SLEEP_ON_DELETE_SECONDS,
            **options,
        }
    )
    if init_error is not None:
        resource.init_failure(init_error)
    return resource
