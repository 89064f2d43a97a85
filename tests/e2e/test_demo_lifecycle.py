"""End to end: `make demo`'s whole path on a rehearsal of its own: deploy, Update and Delete, close.

The shared rehearsal of test_rehearsal.py must stay deployed for its tests, whatever order they
run in; Update and Delete of the stack's custom resources and the closing end a rehearsal, so they
run here, once, in the fixture. The tests read what it recorded, so their order does not matter.
"""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.demo import StepFailedError, StepResult
from tests.e2e.conftest import deployed_rehearsal

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


@dataclass(frozen=True)
class Ended:
    """What a rehearsal did after its deploy, and what it had running before it closed."""

    steps: list[StepResult]
    log_groups: dict[str, int | None]
    pids: list[int]
    folders: list[Path]
    ports: list[int]


@pytest.fixture(scope="module")
def ended() -> Ended:
    with deployed_rehearsal() as stack:
        deployed = len(stack.reporter.results)
        # A failed step is in the results, which the tests name.
        with contextlib.suppress(StepFailedError):
            stack.update_and_delete()
        log_groups = stack.log_groups()
        pids = stack.pids()
        folders = [stack.workdir]
        ports = [stack.app_port]
        if stack.postgres is not None:
            folders.append(stack.postgres.root)
            ports.append(stack.postgres.port)
    # Closed: deployed_rehearsal's exit stopped every process and removed every folder.
    return Ended(stack.reporter.results[deployed:], log_groups, pids, folders, ports)


def test_update_and_delete_of_the_custom_resources_succeed(ended: Ended) -> None:
    assert [(step.name, step.detail) for step in ended.steps if not step.ok] == []
    assert [step.name for step in ended.steps] == [
        "Custom::LogRetention Update",
        "Custom::LogRetention Delete",
        "Custom::SecretEnvironment Update",
        "Custom::HttpsSubscription Update",
        "Custom::JobRun Update (new Revision)",
        "Custom::JobRun Delete",
        "Custom::HttpsSubscription Delete",
        "Custom::SecretEnvironment Delete",
    ]


def test_log_retentions_delete_removed_the_groups_it_was_asked_to(ended: Ended) -> None:
    # The rehearsal's Delete runs with ServiceLogsOnDelete=Delete; the default keeps them.
    assert ended.log_groups == {}


def test_nothing_is_left_behind_after_the_rehearsal_closes(ended: Ended) -> None:
    assert len(ended.pids) >= 7  # PostgreSQL, moto, four functions, the app
    for pid in ended.pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    for folder in ended.folders:
        assert not folder.exists()
    for port in ended.ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
