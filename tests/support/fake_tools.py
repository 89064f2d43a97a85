"""Stand-in executables (aws, docker, podman, git, sam, python3.13) for testing the deploy tools.

There is no AWS account, no AWS CLI v2 and no running container engine on the build machines, so
the tests of `make doctor`, `make image` and `make push` put small executables of these names on a
PATH of their own. Each answers from a list of rules (the first rule whose arguments all appear, in
order, among the call's arguments wins) and records every call, with what it read on stdin, so a
test can assert both what the tool printed and what it ran. A call no rule answers fails loudly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_STUB = """#!{python}
import json, os, sys

def subsequence(wanted, args):
    it = iter(args)
    return all(any(w == a for a in it) for w in wanted)

name = os.path.basename(sys.argv[0])
args = sys.argv[1:]
stdin = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
with open({log!r}, "a", encoding="utf-8") as log:
    log.write(json.dumps({{"tool": name, "args": args, "stdin": stdin}}) + "\\n")
with open({rules!r}, encoding="utf-8") as handle:
    rules = json.load(handle)
for rule in rules:
    if subsequence(rule["args"], args):
        sys.stdout.write(rule.get("stdout", ""))
        sys.stderr.write(rule.get("stderr", ""))
        sys.exit(rule.get("code", 0))
sys.stderr.write("fake " + name + ": no rule for " + " ".join(args) + "\\n")
sys.exit(99)
"""


@dataclass
class Call:
    tool: str
    args: list[str]
    stdin: str


@dataclass
class FakeTools:
    """A directory of fake executables; `env()` is an environment whose PATH is only that."""

    root: Path
    rules: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def log(self) -> Path:
        return self.root / "calls.jsonl"

    def add(
        self, tool: str, args: list[str], *, stdout: str = "", stderr: str = "", code: int = 0
    ) -> None:
        """Answer `tool ...args...` (args: a subsequence of the call's arguments)."""
        self.bin.mkdir(parents=True, exist_ok=True)
        rules = self.rules.setdefault(tool, [])
        rules.append({"args": args, "stdout": stdout, "stderr": stderr, "code": code})
        rules_file = self.root / f"{tool}.rules.json"
        rules_file.write_text(json.dumps(rules), encoding="utf-8")
        executable = self.bin / tool
        executable.write_text(
            _STUB.format(python=sys.executable, log=str(self.log), rules=str(rules_file)),
            encoding="utf-8",
        )
        executable.chmod(0o755)

    def calls(self, tool: str | None = None) -> list[Call]:
        if not self.log.exists():
            return []
        calls = [Call(**json.loads(line)) for line in self.log.read_text().splitlines()]
        return [call for call in calls if tool is None or call.tool == tool]

    def env(self, **variables: str) -> dict[str, str]:
        """No AWS setting from the machine running the tests leaks in: only what is given."""
        home = self.root / "home"
        home.mkdir(exist_ok=True)
        base = {
            "PATH": str(self.bin),
            "HOME": str(home),
            "AWS_CONFIG_FILE": str(home / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
        }
        return {**base, **variables}


def run_tool(
    script: Path, args: list[str], env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a Python script with the test's interpreter (the fake PATH has no python3)."""
    return subprocess.run(
        [sys.executable, str(script), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
