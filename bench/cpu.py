"""CPU time of a process tree, from /proc: what each B1 request costs the server and PostgreSQL.

Throughput on a machine shared with other work moves with that work; the CPU time a request takes
in the server process and in the database hardly does. B1 reads both trees before and after each
round, so every target also gets microseconds of CPU per request, and `b1.cpu` the ratio of the
floor's to the real endpoint's (server and database together), a figure that holds when the load
average does not. Linux only; elsewhere the figures are None.
"""

from __future__ import annotations

import os
from pathlib import Path

_PROC = Path("/proc")
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> list[str] | None:
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    return text.rpartition(")")[2].split()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list((_PROC / str(pid) / "task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def tree_cpu_seconds(root: int | None) -> float | None:
    """User + system time of `root` and its live descendants, with the time of the children each
    has reaped (a backend that exited counts in its postmaster's); None if `root` is gone."""
    if root is None or not _PROC.is_dir():
        return None
    total = 0.0
    pending, seen = [root], set()
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        fields = _stat(pid)
        if fields is None:
            if pid == root:
                return None
            continue
        # After the name: state, ppid, ...; utime, stime, cutime, cstime are fields 14-17.
        total += sum(int(value) for value in fields[11:15]) / _TICK
        pending += _children(pid)
    return total
