"""`python -m bench [--smoke] [--only b1|b2] [--results-dir DIR] [--summaries-dir DIR] [--name N]
[--plots | --no-plots]`.

Runs B1 and B2 (or one of them), writes `<results-dir>/<name>.json` (machine, versions,
parameters, raw samples; ignored by git), the plots beside it (`<name>-*.png`, drawn by
`bench.plots` in the plotting virtualenv of `bench.plot_env`), and `<summaries-dir>/<name>.json`
(the result without the raw samples, a few KB: what is committed for a published run), and prints
a short table. `--smoke` runs both tiny (a few requests, one cold start, no third-party validator,
no plots unless `--plots`) so the code keeps working; its figures mean nothing, and its summaries
(`<time>-smoke.json`) are ignored by git.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import b1, b2
from bench.machine import machine_info, versions
from bench.plot_env import plot_python
from bench.report import table
from bench.summary import SUMMARIES_DIR, write_summary
from harness.postgres import PostgresError, find_bindir

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "bench" / "results"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny run: checks the code, not speed")
    parser.add_argument("--only", choices=("b1", "b2"), help="run one benchmark")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--summaries-dir", type=Path, default=SUMMARIES_DIR)
    parser.add_argument("--name", help="result file name without .json (default: date and kind)")
    parser.add_argument(
        "--plots",
        action=argparse.BooleanOptionalAction,
        help="draw the plots (default: yes, but not for --smoke)",
    )
    args = parser.parse_args(argv)
    started = datetime.datetime.now(datetime.UTC)
    kind = "smoke" if args.smoke else "full"
    name = args.name or f"{started:%Y%m%dT%H%M%SZ}-{kind}"
    try:
        bindir: Path | None = find_bindir()
    except PostgresError:
        bindir = None
    result: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "started_at": started.isoformat(timespec="seconds"),
        "machine": machine_info(),
        "versions": versions(bindir),
        "b1": None,
        "b2": None,
    }
    clock = time.monotonic()
    if args.only in (None, "b1"):
        print("B1: job endpoint vs its floors", flush=True)
        result["b1"] = b1.run_b1(b1.SMOKE if args.smoke else b1.FULL, log=_log)
    if args.only in (None, "b2"):
        print("B2: custom resource cold start vs its floor", flush=True)
        result["b2"] = b2.run_b2(b2.SMOKE if args.smoke else b2.FULL, log=_log)
    result["finished_at"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    result["duration_seconds"] = round(time.monotonic() - clock, 1)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"{name}.json"
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(result, indent=1) + "\n")
    partial.replace(path)
    if args.plots if args.plots is not None else not args.smoke:
        result["plots"] = plots(path)
        partial.write_text(json.dumps(result, indent=1) + "\n")
        partial.replace(path)
    summary = write_summary(result, args.summaries_dir)
    print()
    print(table(result))
    print(f"\nresults: {path}\nsummary: {summary}")
    for plot in result.get("plots", {}).get("files", []):
        print(f"plot: {path.parent / plot}")
    return 0


def plots(result_path: Path) -> dict[str, Any]:
    """Draws the plots beside the result; what was written, or why nothing was."""
    try:
        python = plot_python()
    except (subprocess.CalledProcessError, OSError) as error:
        # No registry (offline) and no virtualenv yet: the result stands without its plots.
        return {"files": [], "skipped": f"could not make the plotting virtualenv: {error}"}
    process = subprocess.run(
        [str(python), "-m", "bench.plots", str(result_path)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if process.returncode != 0:
        raise RuntimeError(f"bench.plots failed: {process.stderr[-3000:]}")
    return {"files": [Path(line).name for line in process.stdout.splitlines() if line]}


def _log(text: str) -> None:
    print(text, flush=True)


if __name__ == "__main__":
    sys.exit(main())
