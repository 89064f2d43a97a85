"""Runs a crhelper handler only for requests the guard admits; answers the refused ones itself.

A refused request never reaches the resource's code: a ResponseURL that is not CloudFormation's
gets nothing at all (logged), a request of another stack gets FAILED with the refusal as Reason,
sent with crhelper's own sender (the one tests capture by patching `crhelper.utils`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from crhelper import utils as crhelper_utils

from cfn_guard.guard import check_request, pins_from_environment

LOGGER = logging.getLogger(__name__)


def refused_physical_id(event: Mapping[str, Any]) -> str:
    """The physical id of a refused request: the one CloudFormation sent, else a marker that no
    function of this stack ever issues for a real resource."""
    physical_id = event.get("PhysicalResourceId")
    if isinstance(physical_id, str) and physical_id:
        return physical_id
    return f"refused-{str(event.get('RequestId', ''))[:64]}"


def serve(
    event: Any,
    context: Any,
    run: Callable[[Any, Any], None],
    environ: Mapping[str, str] | None = None,
) -> None:
    """Call `run(event, context)` when the guard admits the request; otherwise refuse it."""
    verdict = check_request(
        event, pins_from_environment(os.environ if environ is None else environ)
    )
    if verdict.refusal is None:
        run(event, context)
        return
    request_type = event.get("RequestType") if isinstance(event, Mapping) else None
    LOGGER.warning(
        "Refused %s request: %s",
        request_type if isinstance(request_type, str) else "a",
        verdict.refusal,
    )
    if not verdict.send:
        return
    body = {
        "Status": "FAILED",
        "Reason": verdict.refusal,
        "PhysicalResourceId": refused_physical_id(event),
        "StackId": event.get("StackId"),
        "RequestId": event.get("RequestId"),
        "LogicalResourceId": event.get("LogicalResourceId"),
        "Data": {},
    }
    # crhelper's own sender (private, stable since 2.0): one place sends every answer.
    crhelper_utils._send_response(event["ResponseURL"], body)  # type: ignore[attr-defined]
