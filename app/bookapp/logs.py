"""Structured JSON logs on stdout, one object a line, with the request id and, for jobs, the
message id.

App Runner ships stdout to CloudWatch Logs, where JSON lines can be queried field by field. Much of
what is logged comes from whoever sent the request (a path, a reason quoting a URL, a job name), so
every text field is cut to a bound here: one request cannot write a large or misleading line.
"""

from __future__ import annotations

import contextvars
import datetime
import json
import logging
import sys
from typing import Any

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
message_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("message_id", default=None)

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
# Longest text of one field; tracebacks (our own frames) get more room.
MAX_FIELD_CHARS = 1000
MAX_TRACE_CHARS = 16000
_TRACE_FIELDS = frozenset({"exception", "traceback"})


def _capped(key: str, value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    limit = MAX_TRACE_CHARS if key in _TRACE_FIELDS else MAX_FIELD_CHARS
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) <= limit:
        return value
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (rid := request_id.get()) is not None:
            entry["request_id"] = rid
        if (mid := message_id.get()) is not None:
            entry["message_id"] = mid
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps({key: _capped(key, value) for key, value in entry.items()}, default=str)


class StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stdout is when a record is emitted (tests replace it)."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _: Any) -> None:
        return


def configure(level: str = "INFO") -> None:
    handler = StdoutHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("botocore", "urllib3", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
