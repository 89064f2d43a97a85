"""Start-up settings every function of this stack reads the same way: LOG_LEVEL, quiet loggers,
bounded AWS retries.

Shared through the layer so that the rule is stated once; each function keeps its own numbers
and its own settings beside it. No crhelper here: the rotation follower, which is not a custom
resource, uses this module too. It imports only the standard library and `botocore.config`,
which boto3 has loaded already, so it adds nothing to a cold start.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Final

from botocore.config import Config

LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_level(environ: Mapping[str, str]) -> str:
    """LOG_LEVEL from the environment (INFO when unset or blank); ValueError for an unknown name,
    which a function treats as a start-up error."""
    level = environ.get("LOG_LEVEL", "").strip().upper() or "INFO"
    if level not in LOG_LEVELS:
        raise ValueError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
    return level


def hold_loggers(floors: Mapping[str, int], level: str) -> None:
    """Set each named logger to `level`, but never below its floor (loggers that would print
    request or response bodies below it)."""
    for name, floor in floors.items():
        logging.getLogger(name).setLevel(max(floor, logging.getLevelNamesMapping()[level]))


def retry_config(
    *, connect_timeout: float = 5, read_timeout: float = 10, attempts: int = 3
) -> Config:
    """Bounded retries (standard mode's backoff) and short timeouts: a stuck call must not eat the
    time left for the answer."""
    return Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"total_max_attempts": attempts, "mode": "standard"},
    )
