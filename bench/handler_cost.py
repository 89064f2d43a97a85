"""`python -m bench.handler_cost --revision REV [--revision REV ...]`: CPU per delivery of the job
endpoint's handler alone, per revision of `app/bookapp`, to tell small differences apart.

B1 measures the whole server under load, which is what counts, but on a machine shared with other
work its ratios move by ±0.07 from run to run: a change that saves 2 % of a delivery cannot be
seen there. This takes the HTTP server, the threadpool and concurrency away: one process per
revision (taken from git as `bench.ab` does; `WORKTREE` is the working tree's `app/`) builds the
app with its own `create_app`, takes its `JobEndpoint` and calls `handle(body)` for distinct
signed Notifications of the no-op job one after another, against the same PostgreSQL with TLS,
and reports the CPU time of its own process per delivery (the database's is not counted). The
revisions take turns, several times, so that other load falls on each alike; the figure per
revision is the median of its turns. Each process then does floor (b)'s work the same way (one
INSERT ... ON CONFLICT DO NOTHING and commit per message, `bench.served`'s code, on an engine from
the revision's own `create_engine`), so each revision also gets floor (b) ÷ real in CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import b1
from bench.ab import app_snapshot
from bench.contract import RECEIPTS_DDL

REPO_ROOT = Path(__file__).resolve().parent.parent


def worker(bodies_file: Path, warmup: int) -> dict[str, float]:
    """In the revision's process: time `handle` over the bodies; CPU and wall µs per delivery."""
    import bench.served  # noqa: PLC0415 - registers bench_noop in this process only
    from bookapp.config import load_settings  # noqa: PLC0415 - the revision's own
    from bookapp.db import create_engine  # noqa: PLC0415
    from bookapp.web import create_app  # noqa: PLC0415

    bench.served.register_noop_job()
    app = create_app()
    [endpoint] = [
        route.endpoint.__self__  # type: ignore[attr-defined]
        for route in app.routes
        if getattr(route, "path", None) == b1.JOB_PATH
    ]
    bodies = [line for line in bodies_file.read_bytes().splitlines() if line]
    for body in bodies[:warmup]:
        endpoint.handle(body)
    measured = bodies[warmup:]
    cpu, wall = time.process_time(), time.perf_counter()
    for body in measured:
        outcome = endpoint.handle(body)
        if outcome.status != 200:
            raise RuntimeError(f"delivery answered {outcome.status}: {outcome.body}")
    real_cpu = (time.process_time() - cpu) / len(measured) * 1e6
    real_wall = (time.perf_counter() - wall) / len(measured) * 1e6
    # Floor (b)'s work as bench.served does it, on an engine of this revision's create_engine.
    engine = create_engine(load_settings(os.environ).require_database())
    write = bench.served.floor_b_write(engine)
    for body in bodies[:warmup]:
        write(str(json.loads(body)["MessageId"]) + "-floor")
    cpu = time.process_time()
    for body in measured:
        write(str(json.loads(body)["MessageId"]) + "-floor")
    floor_cpu = (time.process_time() - cpu) / len(measured) * 1e6
    engine.dispose()
    return {"cpu_us": real_cpu, "wall_us": real_wall, "floor_b_cpu_us": floor_cpu}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.handler_cost", description=__doc__)
    parser.add_argument("--revision", action="append", default=[], help="revision or WORKTREE")
    parser.add_argument("--deliveries", type=int, default=3000, help="measured, per turn")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.warmup)))
        return 0
    if not args.revision:
        parser.error("name at least one --revision")
    # The same machinery as B1: PostgreSQL with TLS, the certificate through the SNS endpoint.
    from harness.postgres import running_postgres  # noqa: PLC0415
    from harness.processes import free_port  # noqa: PLC0415
    from harness.sns_signing import CertificateServer, TestCA  # noqa: PLC0415

    results: dict[str, list[dict[str, float]]] = {rev: [] for rev in args.revision}
    with (
        tempfile.TemporaryDirectory(prefix="bench-handler-") as tmp,
        running_postgres() as pg,
        CertificateServer(region=b1.REGION) as certs,
    ):
        workdir = Path(tmp)
        pg.psql(f"{RECEIPTS_DDL}; ALTER TABLE bench_receipts OWNER TO {pg.user};", dbname=pg.dbname)
        signer = TestCA(b1.CA_NAME).issue_signer()
        cert_url = certs.publish(signer)
        dirs = {
            rev: app_snapshot(rev, workdir / f"rev{index}")[0]
            for index, rev in enumerate(args.revision)
        }
        env = b1.server_environment(pg, certs, free_port())
        migrate = subprocess.run(
            [sys.executable, "-m", "bookapp", "migrate"],
            cwd=dirs[args.revision[0]],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if migrate.returncode != 0:
            raise RuntimeError(migrate.stderr[-2000:])
        per_turn = args.warmup + args.deliveries
        for turn in range(args.turns):
            order = (
                args.revision[turn % len(args.revision) :]
                + args.revision[: turn % len(args.revision)]
            )
            for rev in order:
                bodies = workdir / "bodies.txt"
                bodies.write_bytes(b"\n".join(b1._signed_bodies(signer, cert_url, per_turn)))
                process = subprocess.run(
                    [
                        *(sys.executable, "-m", "bench.handler_cost"),
                        *("--worker", str(bodies), "--warmup", str(args.warmup)),
                    ],
                    cwd=dirs[rev],
                    env={**env, "PYTHONPATH": str(REPO_ROOT)},
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if process.returncode != 0:
                    raise RuntimeError(f"{rev}: {process.stderr[-3000:]}")
                figures = json.loads(process.stdout.strip().splitlines()[-1])
                results[rev].append(figures)
                print(
                    f"turn {turn + 1}/{args.turns} {rev:12s} {figures['cpu_us']:6.0f} µs CPU, "
                    f"{figures['wall_us']:6.0f} µs wall per delivery; floor (b) "
                    f"{figures['floor_b_cpu_us']:6.0f} µs CPU, "
                    f"load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
    summary: dict[str, Any] = {
        rev: {
            "cpu_us_median": statistics.median(r["cpu_us"] for r in turns),
            "floor_b_cpu_us_median": statistics.median(r["floor_b_cpu_us"] for r in turns),
            "floor_b_over_real": statistics.median(
                r["floor_b_cpu_us"] / r["cpu_us"] for r in turns
            ),
            "cpu_us": [round(r["cpu_us"], 1) for r in turns],
            "floor_b_cpu_us": [round(r["floor_b_cpu_us"], 1) for r in turns],
        }
        for rev, turns in results.items()
    }
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
