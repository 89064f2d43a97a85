"""`python -m bench.ab --candidate REV [--base REV] [--pairs 5] --label NAME`: one B1 candidate
against the code it changes, in alternating runs on the same machine.

A change to the job path is kept only if it helps beyond the noise of a shared 2-core machine, so
each candidate is measured on its own against its base: both revisions' `app/bookapp` are taken
from git (`git archive`; `WORKTREE` is the working tree's `app/`), and B1 runs alternately on each
(base, candidate, candidate, base, base, ...: each pair's order swaps, so a drift of the machine
falls on both alike). Every run is a whole B1 run with its own floors, so each gives its own
real ÷ floor (b). The verdict is a sign test over the pairs: the candidate "helps beyond noise"
when it won every pair of at least five (one-sided p ≤ 1/32), and the median of its ratios is
higher.

Writes `bench/results/ab/<time>-ab-<label>.json` with every run's figures and load average, and
the same document (it holds no raw samples) to `bench/summaries/ab/`.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import math
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import b1
from bench.machine import machine_info, versions
from bench.summary import SUMMARIES_DIR

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "bench" / "results"
WORKTREE = "WORKTREE"
AB_SUMMARIES_DIR = SUMMARIES_DIR / "ab"
# A whole B1 run per side, the endpoint only (verification alone is not what these candidates
# change, and the third-party validator would need its virtualenv).
PARAMETERS = replace(b1.FULL, verify_messages=0, verify_passes=0, third_party_validator=False)


def app_snapshot(revision: str, into: Path) -> tuple[Path, str]:
    """The folder to import `bookapp` from at `revision`, and the commit it names."""
    if revision == WORKTREE:
        return REPO_ROOT / "app", WORKTREE
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{revision}^{{commit}}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, "app/bookapp"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "app", commit


def sign_test_p(wins: int, pairs: int) -> float:
    """One-sided sign test: the chance of `wins` or more wins in `pairs` fair coin tosses."""
    return sum(math.comb(pairs, k) for k in range(wins, pairs + 1)) / (1 << pairs)


def _run_figures(result: dict[str, Any], side: str, load: Sequence[float]) -> dict[str, Any]:
    targets = result["targets"]
    return {
        "side": side,
        "real_over_floor_b": result["ratios"]["real_over_floor_b"],
        "real_over_floor_a": result["ratios"]["real_over_floor_a"],
        # Each round's real rate over the same round's floor (b) rate, median of the rounds: the
        # two ran within a second or two of each other, so load that comes and goes cancels more.
        "round_ratio_median": statistics.median(
            r / f
            for r, f in zip(
                targets["real"]["rps_per_round"], targets["floor_b"]["rps_per_round"], strict=True
            )
        ),
        "cpu_floor_b_over_real": result["cpu"]["floor_b_over_real_both"],
        "cpu_us_per_request": {
            t: [targets[t]["server_cpu_us_per_request"], targets[t]["postgres_cpu_us_per_request"]]
            for t in b1.TARGETS
        },
        "rps": {t: round(targets[t]["rps"], 1) for t in b1.TARGETS},
        "p50_ms": {t: round(targets[t]["p50_ms"], 2) for t in b1.TARGETS},
        "p99_ms": {t: round(targets[t]["p99_ms"], 2) for t in b1.TARGETS},
        "errors": {t: targets[t]["errors"] for t in b1.TARGETS},
        "checks": {k: v for k, v in result["checks"].items() if k != "server_log_tail"},
        "load_average_at_start": [round(x, 2) for x in load],
    }


def verdict(runs: Sequence[dict[str, Any]], key: str = "real_over_floor_b") -> dict[str, Any]:
    """The sign test over the pairs on `key` (higher is better for the candidate)."""
    base = [r[key] for r in runs if r["side"] == "base"]
    cand = [r[key] for r in runs if r["side"] == "candidate"]
    pairs = min(len(base), len(cand))
    wins = sum(1 for b, c in zip(base, cand, strict=False) if c > b)
    p = sign_test_p(wins, pairs) if pairs else 1.0
    helps = pairs >= 5 and p <= 1 / 32 and statistics.median(cand) > statistics.median(base)
    return {
        "base_median": statistics.median(base) if base else None,
        "candidate_median": statistics.median(cand) if cand else None,
        "base_range": [min(base), max(base)] if base else None,
        "candidate_range": [min(cand), max(cand)] if cand else None,
        "pairs": pairs,
        "candidate_wins": wins,
        "sign_test_p": p,
        "helps_beyond_noise": helps,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__)
    parser.add_argument("--base", default="HEAD", help="revision, or WORKTREE (default: HEAD)")
    parser.add_argument("--candidate", required=True, help="revision, or WORKTREE")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--label", required=True, help="what the candidate changes (file name)")
    parser.add_argument("--note", default="", help="one line kept with the result")
    args = parser.parse_args(argv)
    started = datetime.datetime.now(datetime.UTC)
    name = f"{started:%Y%m%dT%H%M%SZ}-ab-{args.label}"
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp:
        sides = {
            side: app_snapshot(revision, Path(tmp) / side)
            for side, revision in (("base", args.base), ("candidate", args.candidate))
        }
        for index in range(args.pairs):
            order = ("base", "candidate") if index % 2 == 0 else ("candidate", "base")
            for side in order:
                load = os.getloadavg()
                result = b1.run_b1(PARAMETERS, log=lambda _text: None, app_dir=sides[side][0])
                runs.append(_run_figures(result, side, load) | {"pair": index + 1})
                run = runs[-1]
                cpu = run["cpu_floor_b_over_real"]
                print(
                    f"pair {index + 1}/{args.pairs} {side:9s} real ÷ (b) "
                    f"{run['real_over_floor_b']:.3f}  real {run['rps']['real']:.0f} "
                    f"(b) {run['rps']['floor_b']:.0f} req/s  rounds {run['round_ratio_median']:.3f}"
                    f"  CPU (b) ÷ real "
                    f"{cpu if cpu is None else round(cpu, 3)}  load {load[0]:.2f}",
                    flush=True,
                )
    document = {
        "name": name,
        "kind": "ab",
        "label": args.label,
        "note": args.note,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "base": {"revision": args.base, "commit": sides["base"][1]},
        "candidate": {"revision": args.candidate, "commit": sides["candidate"][1]},
        "machine": machine_info(),
        "versions": versions(),
        "parameters": {
            "requests": PARAMETERS.requests,
            "rounds": PARAMETERS.rounds,
            "warmup": PARAMETERS.warmup,
            "concurrency": PARAMETERS.concurrency,
        },
        "runs": runs,
        "verdict": verdict(runs),
        "verdict_rounds": verdict(runs, "round_ratio_median"),
        # The same test on CPU per request (floor (b) ÷ real), which other load moves less.
        "verdict_cpu": verdict(runs, "cpu_floor_b_over_real")
        if all(r["cpu_floor_b_over_real"] is not None for r in runs)
        else None,
    }
    text = json.dumps(document, indent=1) + "\n"
    for directory in (RESULTS_DIR / "ab", AB_SUMMARIES_DIR):
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{name}.json").write_text(text)
    for label, v in (
        ("throughput", document["verdict"]),
        ("per-round ratio", document["verdict_rounds"]),
        ("CPU", document["verdict_cpu"]),
    ):
        if v is not None:
            _print_verdict(label, v)
    return 0


def _print_verdict(label: str, v: dict[str, Any]) -> None:
    print(
        f"{label}: base median {v['base_median']:.3f} {v['base_range']}, candidate median "
        f"{v['candidate_median']:.3f} {v['candidate_range']}; candidate won "
        f"{v['candidate_wins']}/{v['pairs']} (p = {v['sign_test_p']:.3f}): "
        f"{'helps beyond noise' if v['helps_beyond_noise'] else 'not beyond noise'}"
    )


if __name__ == "__main__":
    sys.exit(main())
