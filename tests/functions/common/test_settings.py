"""The start-up the functions share through the layer: LOG_LEVEL, quiet loggers, bounded retries,
and crhelper's CfnResource as every custom resource here builds it (each handler's own start-up:
tests/functions/test_cold_start.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from cfn_guard.resource import custom_resource
from cfn_guard.settings import hold_loggers, log_level, retry_config
from tests.support.cfn import CfnResponses, LambdaContext
from tests.support.events import load_event


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, "INFO"), ("", "INFO"), ("  ", "INFO"), ("debug", "DEBUG"), (" Warning ", "WARNING")],
)
def test_log_level_is_read_case_blind_with_info_as_the_default(
    raw: str | None, expected: str
) -> None:
    environ = {} if raw is None else {"LOG_LEVEL": raw}

    assert log_level(environ) == expected


def test_an_unknown_log_level_is_refused_naming_the_levels_and_the_value() -> None:
    with pytest.raises(ValueError, match="DEBUG, INFO, WARNING, ERROR, CRITICAL, not 'CHATTY'"):
        log_level({"LOG_LEVEL": "chatty"})


@pytest.fixture
def loggers() -> Iterator[tuple[logging.Logger, logging.Logger]]:
    loud, quiet = logging.getLogger("test.settings.loud"), logging.getLogger("test.settings.quiet")
    yield loud, quiet
    loud.setLevel(logging.NOTSET)
    quiet.setLevel(logging.NOTSET)


def test_held_loggers_follow_the_level_but_never_go_below_their_floor(
    loggers: tuple[logging.Logger, logging.Logger],
) -> None:
    loud, quiet = loggers
    floors = {loud.name: logging.INFO, quiet.name: logging.ERROR}

    hold_loggers(floors, "DEBUG")
    assert (loud.level, quiet.level) == (logging.INFO, logging.ERROR)
    hold_loggers(floors, "WARNING")
    assert (loud.level, quiet.level) == (logging.WARNING, logging.ERROR)


def test_retry_config_bounds_attempts_and_timeouts_and_takes_a_function_s_own_numbers() -> None:
    shared: Any = retry_config()
    own: Any = retry_config(connect_timeout=3, read_timeout=30, attempts=4)

    assert (shared.connect_timeout, shared.read_timeout) == (5, 10)
    assert shared.retries == {"total_max_attempts": 3, "mode": "standard"}
    assert (own.connect_timeout, own.read_timeout) == (3, 30)
    assert own.retries == {"total_max_attempts": 4, "mode": "standard"}


def test_custom_resource_logs_at_the_given_level_and_sleeps_briefly_on_delete() -> None:
    resource: Any = custom_resource("WARNING")

    assert resource._log_level == "WARNING"
    assert resource._boto_level == "ERROR"
    assert resource._sleep_on_delete == 5
    assert custom_resource("INFO", sleep_on_delete=0)._sleep_on_delete == 0  # type: ignore[attr-defined]


def test_a_start_up_error_answers_failed_with_its_message_and_runs_no_handler(
    cfn_responses: CfnResponses,
) -> None:
    resource = custom_resource(
        "INFO", init_error=ValueError("LOG_LEVEL must be one of ..."), sleep_on_delete=0
    )
    ran: list[str] = []

    @resource.create
    def create(event: dict[str, Any], context: Any) -> str:
        ran.append("create")
        return "id"

    resource(load_event("log_retention/create"), LambdaContext())

    assert ran == []
    assert cfn_responses.only["Status"] == "FAILED"
    assert cfn_responses.only["Reason"] == "LOG_LEVEL must be one of ..."
