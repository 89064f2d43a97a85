"""The third-party SNS validator's own virtualenv, kept under `.aws-sam/` between runs.

aws-sns-verifier (and its pydantic, logfire-api and boto3) is only ever compared against, never
used by the app, so it goes into a virtualenv of its own rather than app/requirements.txt or the
development virtualenv. `cryptography` is pinned to the version the app runs, so both verifiers
use the same RSA code. The virtualenv is made on first use with pip (the package registry) and
reused while its pins are unchanged; `make clean` removes it with `.aws-sam/`.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

from bench.contract import VALIDATOR_DISTRIBUTION, VALIDATOR_VERSION

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV = REPO_ROOT / ".aws-sam" / "bench-validator-venv"


def requirements() -> list[str]:
    return [
        f"{VALIDATOR_DISTRIBUTION}=={VALIDATOR_VERSION}",
        f"cryptography=={importlib.metadata.version('cryptography')}",
    ]


def validator_python() -> Path:
    """The virtualenv's python, after making or updating the virtualenv if its pins changed."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".bench-requirements"
    wanted = "\n".join(requirements())
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "-qq", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, *requirements()],
        check=True,
    )
    stamp.write_text(wanted)
    return python
