"""The bench's plotting virtualenv, kept under `.aws-sam/` between runs.

matplotlib (with numpy and pillow) draws the plots `make bench` writes beside its JSON; it is never
used by the app and would add a tenth to the development virtualenv, so it gets a virtualenv of its
own, installed from `bench/requirements-plots.txt` (every file hash-pinned, compiled by
`make pins`) with pip's `--require-hashes`. Made on first use, remade when the pins change;
`make clean` removes it with `.aws-sam/`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = Path(__file__).resolve().parent / "requirements-plots.txt"
VENV = REPO_ROOT / ".aws-sam" / "bench-plot-venv"


def plot_python() -> Path:
    """The virtualenv's python, after making or updating the virtualenv if its pins changed."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".bench-requirements"
    wanted = REQUIREMENTS.read_text()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-qq",
            "--disable-pip-version-check",
            "--require-hashes",
            "--only-binary",
            ":all:",
            "-r",
            str(REQUIREMENTS),
        ],
        check=True,
    )
    stamp.write_text(wanted)
    return python
