"""Not collected by a plain `pytest` run: tests/harness/test_signals.py runs it in a child pytest.

It starts what the end-to-end rehearsal starts first (PostgreSQL, moto's server and the SNS
endpoint in front of it, plus a child that spawned a grandchild, standing in for the app), writes
their process ids and folders to the file named by HARNESS_SIGTERM_REPORT, and waits for the
SIGTERM the outer test sends. Only the fixture's teardown can then stop them.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.demo import Rehearsal, Reporter
from harness.processes import ChildProcess

REPORT_VARIABLE = "HARNESS_SIGTERM_REPORT"


@pytest.fixture
def stack() -> Iterator[Rehearsal]:
    rehearsal = Rehearsal(reporter=Reporter(out=None))
    rehearsal.start_postgres()
    rehearsal.start_moto()
    app = ChildProcess(
        "app stand-in",
        [sys.executable, "-c", "import subprocess; subprocess.run(['sleep', '300'])"],
        log_path=rehearsal.workdir / "app.log",
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )
    rehearsal.app = app
    rehearsal.children.append(app)
    rehearsal._stack.callback(app.stop)
    yield rehearsal
    rehearsal.close()  # after the yield: runs only if pytest tears the fixture down


def test_the_stand_ins_run_until_pytest_gets_sigterm(stack: Rehearsal) -> None:
    assert stack.app is not None
    assert stack.postgres is not None
    report = {
        "pids": stack.pids(),
        "app": stack.app.pid,
        "folders": [str(stack.workdir), str(stack.postgres.root)],
    }
    target = Path(os.environ[REPORT_VARIABLE])
    partial = target.with_suffix(".partial")
    partial.write_text(json.dumps(report))
    partial.rename(target)  # the outer test never reads half a file
    time.sleep(120)  # the outer test sends SIGTERM long before
    pytest.fail("no SIGTERM came within 120 s")
