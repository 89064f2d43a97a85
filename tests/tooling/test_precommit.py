"""Runs the project's pre-commit hooks the way a contributor does, on a clean clone of HEAD.

The hooks are `repo: local` hooks on the pinned virtualenv, so this proves the configuration works
offline and that the committed tree passes them. A clone keeps the fixers (ruff format,
end-of-file) from touching the working tree.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_pre_commit_passes_on_every_committed_file(tmp_path: Path) -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    (clone / ".venv").symlink_to(ROOT / ".venv")
    env_home = tmp_path / "home"
    env_home.mkdir()
    result = subprocess.run(
        [str(ROOT / ".venv/bin/pre-commit"), "run", "--all-files", "--show-diff-on-failure"],
        cwd=clone,
        capture_output=True,
        text=True,
        env={"PATH": f"{ROOT / '.venv/bin'}:/usr/bin:/bin", "HOME": str(env_home)},
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "cfn-lint" in result.stdout
    assert "detect private key" in result.stdout
    shutil.rmtree(clone)


def test_pre_commit_hooks_use_the_pinned_tools_of_the_virtualenv() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    assert all(repo["repo"] == "local" for repo in config["repos"])
    ids = {hook["id"] for hook in hooks}
    assert {"cfn-lint", "ruff-check", "ruff-format", "detect-private-key"} <= ids
    assert "detect-aws-credentials" in ids
    for hook in hooks:
        assert hook["entry"].startswith(".venv/bin/"), hook["id"]
        tool = hook["entry"].split()[0]
        assert (ROOT / tool).exists(), f"{tool} is not installed by requirements-dev.txt"
