"""SIGTERM to a test run stops every process the harness started; a second signal cannot cut
the cleanup short.

Every child of the harness runs in its own session (tests/harness/../../harness/processes.py), so
a signal to pytest's process group does not reach it: only pytest's fixture teardown can stop it.
These tests send the signals for real, to a child pytest and to this process.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.demo import Rehearsal, Reporter
from harness.processes import signals_ignored, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(__file__).with_name("sigterm_target.py")


def _processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, session id) of every live (not zombie) process on the machine."""
    found: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # state ppid pgrp session ...
        if fields[0] != "Z":
            found[int(entry.name)] = (int(fields[1]), int(fields[3]))
    return found


def _family(pids: list[int]) -> set[int]:
    """`pids`, the processes in their sessions and all their descendants, alive now.

    PostgreSQL's backends and auxiliary processes each start a session of their own, so the
    sessions alone would miss them; their parent is the postmaster.
    """
    processes = _processes()
    family = {pid for pid in pids if pid in processes}
    sessions = set(family)
    family |= {pid for pid, (_parent, sid) in processes.items() if sid in sessions}
    while True:
        more = {pid for pid, (parent, _sid) in processes.items() if parent in family} - family
        if not more:
            return family
        family |= more


def _left_over(family: set[int]) -> list[int]:
    return sorted(family & set(_processes()))


@pytest.fixture
def child_pytest(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path]]:
    report = tmp_path / "report.json"
    output = tmp_path / "pytest.log"
    with output.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(TARGET)],
            cwd=REPO_ROOT,
            env={**os.environ, "HARNESS_SIGTERM_REPORT": str(report)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process, report, output
    finally:
        # Whatever the test found, leave nothing behind on this machine either.
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        if report.exists():
            found = json.loads(report.read_text())
            for pid in found["pids"]:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
            for folder in found["folders"]:
                shutil.rmtree(folder, ignore_errors=True)


def test_sigterm_to_pytest_stops_postgres_moto_and_the_app_and_removes_their_folders(
    child_pytest: tuple[subprocess.Popen[bytes], Path, Path],
) -> None:
    process, report, output = child_pytest

    def reported() -> dict[str, Any] | None:
        if process.poll() is not None:
            pytest.fail(f"the child pytest exited early:\n{output.read_text()[-3000:]}")
        return json.loads(report.read_text()) if report.exists() else None

    found = wait_until(reported, timeout=60, what="the child pytest's stand-ins")
    pids = [int(pid) for pid in found["pids"]]
    folders = [Path(str(folder)) for folder in found["folders"]]
    assert len(_family(pids) & set(pids)) == 3, f"not every stand-in is running: {found}"
    assert all(folder.is_dir() for folder in folders)

    def grandchild_started() -> set[int] | None:
        family = _family(pids)
        processes = _processes()
        parents = {processes[pid][0] for pid in family if pid in processes}
        return family if int(found["app"]) in parents else None

    # The app stand-in's own child, the postmaster's backends: what a stop must reach too.
    family = wait_until(grandchild_started, timeout=30, what="the app stand-in's child")
    assert len(family) > len(pids) + 2

    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=60)

    log = output.read_text()
    assert code == pytest.ExitCode.INTERRUPTED, f"exit {code}:\n{log[-3000:]}"
    assert _left_over(family) == []
    assert [folder for folder in folders if folder.exists()] == []


def test_a_second_signal_during_close_does_not_stop_the_cleanup(tmp_path: Path) -> None:
    stack = Rehearsal(reporter=Reporter(out=None))
    ran: list[str] = []
    # Callbacks run last-in first-out: the signals arrive first, then the cleanup continues.
    stack._stack.callback(ran.append, "the cleanup after the signals")
    stack._stack.callback(os.kill, os.getpid(), signal.SIGTERM)
    stack._stack.callback(os.kill, os.getpid(), signal.SIGINT)
    with _interrupting(signal.SIGINT, signal.SIGTERM):
        stack.close()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert ran == ["the cleanup after the signals"]
    assert not stack.workdir.exists()


def test_signals_are_handled_again_after_the_shielded_block() -> None:
    with _interrupting(signal.SIGINT, signal.SIGTERM):
        with signals_ignored():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGTERM)


@contextlib.contextmanager
def _interrupting(*signums: int) -> Iterator[None]:
    """`signums` raise KeyboardInterrupt inside, whatever pytest inherited: a process started in
    the background by a shell without job control (`make test &`, nohup) starts with SIGINT
    ignored, and Python then leaves it ignored."""
    previous = {signum: signal.signal(signum, signal.default_int_handler) for signum in signums}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
