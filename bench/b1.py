"""B1: the job endpoint beside its two floors, same server, same run; then verification alone.

One PostgreSQL with TLS (`harness.postgres`), a certificate server for the signing certificate
(`harness.sns_signing.CertificateServer`, reached through `AWS_ENDPOINT_URL_SNS` as the app
documents), and one server process (`bench.served`: the app's own `serve` command, one worker,
the image's environment) that serves the real endpoint and both floors. The load generator
(`bench.loadgen`) runs in a second process. Each target gets a warm-up, then `rounds` rounds of
`requests / rounds` requests; the order of the targets rotates every round so a slow patch of
the machine falls on all three.

The real endpoint gets distinct Notifications signed with signature version 2 for the no-op job;
the floors get bodies of the same shape and size (a signed envelope with a new MessageId each:
they do not verify). After the run the database must hold exactly one succeeded run per real
message and one receipt per floor (b) message, and the certificate must have been downloaded
once.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.contract import FLOOR_A_PATH, FLOOR_B_PATH, NOOP_JOB, RECEIPTS_DDL
from bench.cpu import tree_cpu_seconds
from bench.stats import percentile, ratio
from bench.validator_env import validator_python
from harness.postgres import PostgresServer, running_postgres
from harness.processes import ChildProcess, free_port, http_status, wait_until
from harness.sns_signing import CertificateServer, Signer, TestCA, build_envelope

REPO_ROOT = Path(__file__).resolve().parent.parent
APP_DIR = REPO_ROOT / "app"
REGION = "us-east-1"
TOPIC_ARN = f"arn:aws:sns:{REGION}:123456789012:bench-jobs"
JOB_PATH = "/jobs"
TARGETS = ("real", "floor_b", "floor_a")
PATHS = {"real": JOB_PATH, "floor_a": FLOOR_A_PATH, "floor_b": FLOOR_B_PATH}
# The validator requires an issuer naming Amazon or AWS; the test CA's name says so.
CA_NAME = "Amazon Bench Test CA (throwaway)"


@dataclass(frozen=True)
class B1Parameters:
    requests: int  # measured requests per target, over all rounds
    rounds: int
    warmup: int  # unmeasured requests per target before the first round
    concurrency: int
    verify_messages: int
    verify_passes: int
    third_party_validator: bool


# Twelve short rounds rather than three long ones: on a machine shared with other work, load comes
# and goes within seconds, and the finer the targets alternate, the more evenly it falls on each.
FULL = B1Parameters(
    requests=6000,
    rounds=12,
    warmup=300,
    concurrency=16,
    verify_messages=400,
    verify_passes=5,
    third_party_validator=True,
)
SMOKE = B1Parameters(
    requests=12,
    rounds=1,
    warmup=3,
    concurrency=4,
    verify_messages=5,
    verify_passes=1,
    third_party_validator=False,
)


def _signed_bodies(
    signer: Signer, cert_url: str, count: int, subject: str | None = None
) -> list[bytes]:
    return [
        json.dumps(
            build_envelope(
                "Notification",
                signer=signer,
                cert_url=cert_url,
                topic_arn=TOPIC_ARN,
                message={"job": NOOP_JOB, "payload": {}, "timestamp": int(time.time())},
                signature_version="2",
                subject=subject,
            )
        ).encode()
        for _ in range(count)
    ]


def _floor_bodies(template: bytes, count: int) -> list[bytes]:
    """The signed envelope's shape and size, a new MessageId each (a uuid4, as SNS's)."""
    base = json.loads(template)
    bodies = []
    for _ in range(count):
        envelope = copy.copy(base)
        envelope["MessageId"] = str(uuid.uuid4())
        bodies.append(json.dumps(envelope).encode())
    return bodies


def server_environment(pg: PostgresServer, certs: CertificateServer, port: int) -> dict[str, str]:
    """The image's environment (app/Dockerfile) with one worker, as App Runner would set it."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(REPO_ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "OTEL_PYTHON_STARLETTE_EXCLUDED_URLS": "healthz,readyz",
        "WEB_CONCURRENCY": "1",
        "PORT": str(port),
        "DATABASE_URL": pg.url(),
        "JOB_TOPIC_ARN": TOPIC_ARN,
        "JOB_PATH": JOB_PATH,
        "APP_ROLE": "jobs",
        "AWS_REGION": REGION,
        "ENABLE_OTEL": "false",
        "ENABLE_TEST_JOBS": "true",  # as in the rehearsal (the load itself is bench_noop)
        "AWS_ENDPOINT_URL_SNS": certs.endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }


@contextmanager
def running_server(
    workdir: Path, env: Mapping[str, str], port: int, app_dir: Path = APP_DIR
) -> Iterator[ChildProcess]:
    migrate = subprocess.run(
        [sys.executable, "-m", "bookapp", "migrate"],
        cwd=app_dir,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if migrate.returncode != 0:
        raise RuntimeError(f"bookapp migrate failed: {migrate.stderr[-2000:]}")
    server = ChildProcess(
        "bench-server",
        [sys.executable, "-m", "bench.served"],
        log_path=workdir / "server.log",
        env=env,
        cwd=app_dir,
    )
    try:

        def healthy() -> bool | None:
            if not server.alive():
                raise RuntimeError(f"the bench server exited:\n{server.log_tail()}")
            return True if http_status(f"http://127.0.0.1:{port}/healthz") == 200 else None

        wait_until(healthy, timeout=60, what="the bench server's /healthz")
        yield server
    finally:
        server.stop(timeout=10)


def _load(
    workdir: Path,
    port: int,
    target: str,
    bodies: Sequence[bytes],
    *,
    concurrency: int,
    tag: str,
) -> dict[str, Any]:
    bodies_file = workdir / f"bodies-{target}-{tag}.txt"
    bodies_file.write_bytes(b"\n".join(bodies) + b"\n")
    out = workdir / f"load-{target}-{tag}.json"
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.loadgen",
            "--port",
            str(port),
            "--path",
            PATHS[target],
            "--bodies",
            str(bodies_file),
            "--concurrency",
            str(concurrency),
            "--out",
            str(out),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if process.returncode != 0:
        raise RuntimeError(f"load generator failed for {target}: {process.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def summarise(rounds: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    latencies_ms = [ns / 1e6 for r in rounds for ns in r["latencies_ns"]]
    statuses: dict[str, int] = {}
    for r in rounds:
        for status, count in r["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    requests = sum(int(r["requests"]) for r in rounds)
    wall = sum(float(r["wall_seconds"]) for r in rounds)
    return {
        "requests": requests,
        "server_cpu_us_per_request": _per_request(rounds, "server_cpu_s", requests),
        "postgres_cpu_us_per_request": _per_request(rounds, "postgres_cpu_s", requests),
        "errors": sum(c for s, c in statuses.items() if s != "200"),
        "statuses": statuses,
        "error_samples": [e for r in rounds for e in r["error_samples"]][:5],
        "wall_seconds": wall,
        "rps": requests / wall if wall else 0.0,
        "rps_per_round": [r["requests"] / r["wall_seconds"] for r in rounds],
        "p50_ms": percentile(latencies_ms, 0.50),
        "p99_ms": percentile(latencies_ms, 0.99),
        "max_ms": max(latencies_ms),
        "latencies_ms": [round(v, 3) for v in latencies_ms],
    }


def _per_request(rounds: Sequence[Mapping[str, Any]], key: str, requests: int) -> float | None:
    values = [r.get(key) for r in rounds]
    if not requests or any(v is None for v in values):
        return None
    return sum(values) / requests * 1e6  # type: ignore[arg-type]


def cpu_ratios(targets: Mapping[str, Mapping[str, Any]]) -> dict[str, float | None]:
    """Floor (b)'s CPU per request over the real endpoint's: server, database, and both."""

    def cost(target: str, *keys: str) -> float | None:
        values = [targets[target][k] for k in keys]
        return None if any(v is None for v in values) else sum(values)

    server, database = "server_cpu_us_per_request", "postgres_cpu_us_per_request"
    ratios: dict[str, float | None] = {}
    for name, keys in (
        ("server", (server,)),
        ("postgres", (database,)),
        ("both", (server, database)),
    ):
        real, floor = cost("real", *keys), cost("floor_b", *keys)
        ratios[f"floor_b_over_real_{name}"] = (
            ratio(floor, real) if real is not None and floor is not None else None
        )
    return ratios


_SUCCEEDED_RUNS = "SELECT count(*) FROM job_runs WHERE job = 'bench_noop' AND status = 'succeeded'"


def _count(pg: PostgresServer, sql: str) -> int:
    return int(pg.psql(sql, dbname=pg.dbname).strip())


def verification_alone(
    workdir: Path, params: B1Parameters, signer: Signer, cert_url: str, app_dir: Path = APP_DIR
) -> dict[str, Any]:
    # aws-sns-verifier's model requires a Subject key; give every message one (both sign it).
    bodies = _signed_bodies(signer, cert_url, params.verify_messages, subject="bench job")
    envelopes = workdir / "verify-envelopes.txt"
    envelopes.write_bytes(b"\n".join(bodies) + b"\n")
    cert = workdir / "signing-cert.pem"
    cert.write_bytes(signer.certificate_pem)
    out = workdir / "verify.json"
    python, skipped = Path(sys.executable), "not part of a smoke run"
    if params.third_party_validator:
        try:
            python, skipped = validator_python(), ""
        except (subprocess.CalledProcessError, OSError) as error:
            # No registry (offline): B1 still reports bookapp's own figure.
            skipped = f"could not make the validator's virtualenv: {error}"
    argv = [
        str(python),
        "-m",
        "bench.verify_compare",
        "--envelopes",
        str(envelopes),
        "--cert",
        str(cert),
        "--topic",
        TOPIC_ARN,
        "--passes",
        str(params.verify_passes),
        "--out",
        str(out),
    ]
    if not skipped:
        argv.append("--validator")
    env = {**os.environ, "PYTHONPATH": f"{app_dir}{os.pathsep}{REPO_ROOT}"}
    process = subprocess.run(
        argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False, timeout=600
    )
    if process.returncode != 0:
        raise RuntimeError(f"verification benchmark failed: {process.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    if "third_party" in result:
        result["ratio_third_party_over_bookapp"] = ratio(
            result["third_party"]["median_us"], result["bookapp"]["median_us"]
        )
    else:
        result["third_party"] = None
        result["third_party_skipped"] = skipped
    return result


def _spent(before: float | None, pid: int | None) -> float | None:
    after = tree_cpu_seconds(pid)
    return None if before is None or after is None else after - before


def run_b1(params: B1Parameters, log: Any = print, app_dir: Path = APP_DIR) -> dict[str, Any]:
    """One B1 run; `app_dir` is the folder bookapp is imported from (bench.ab: another revision's).

    `params.verify_messages` 0 leaves verification alone out (bench.ab measures the endpoint only).
    """
    with tempfile.TemporaryDirectory(prefix="bench-b1-") as tmp:
        workdir = Path(tmp)
        with running_postgres() as pg, CertificateServer(region=REGION) as certs:
            pg.psql(
                f"{RECEIPTS_DDL}; ALTER TABLE bench_receipts OWNER TO {pg.user};", dbname=pg.dbname
            )
            ca = TestCA(CA_NAME)
            signer = ca.issue_signer()
            cert_url = certs.publish(signer)
            per_round = max(1, params.requests // params.rounds)
            log(f"B1: signing {params.warmup + per_round * params.rounds} notifications ...")
            real = _signed_bodies(signer, cert_url, params.warmup + per_round * params.rounds)
            floors = {
                t: _floor_bodies(real[0], params.warmup + per_round * params.rounds)
                for t in ("floor_a", "floor_b")
            }
            bodies = {"real": real, **floors}
            port = free_port()
            env = server_environment(pg, certs, port)
            rounds: dict[str, list[dict[str, Any]]] = {t: [] for t in TARGETS}
            warmups: dict[str, dict[str, Any]] = {}
            with running_server(workdir, env, port, app_dir) as server:
                for target in TARGETS:
                    warm = bodies[target][: params.warmup]
                    warmups[target] = _load(
                        workdir, port, target, warm, concurrency=params.concurrency, tag="warmup"
                    )
                for index in range(params.rounds):
                    order = TARGETS[index % 3 :] + TARGETS[: index % 3]
                    for target in order:
                        start = params.warmup + index * per_round
                        chunk = bodies[target][start : start + per_round]
                        server_cpu = tree_cpu_seconds(server.process.pid)
                        postgres_cpu = tree_cpu_seconds(pg.pid)
                        result = _load(
                            workdir,
                            port,
                            target,
                            chunk,
                            concurrency=params.concurrency,
                            tag=f"round{index}",
                        )
                        result["server_cpu_s"] = _spent(server_cpu, server.process.pid)
                        result["postgres_cpu_s"] = _spent(postgres_cpu, pg.pid)
                        rounds[target].append(result)
                        log(
                            f"  round {index + 1}/{params.rounds} {target:8s} "
                            f"{result['requests'] / result['wall_seconds']:8.1f} req/s"
                        )
                server_alive = server.alive()
                server_log_tail = server.log_tail(5)
            downloads = certs.hits(cert_url)
            succeeded = _count(pg, _SUCCEEDED_RUNS)
            receipts = _count(pg, "SELECT count(*) FROM bench_receipts")
            verification: dict[str, Any] | None = None
            if params.verify_messages:
                log("B1: signature verification alone ...")
                verification = verification_alone(workdir, params, signer, cert_url, app_dir)
    targets = {t: summarise(rounds[t]) for t in TARGETS}
    for t in TARGETS:
        targets[t]["warmup_errors"] = sum(
            c for s, c in warmups[t]["statuses"].items() if s != "200"
        )
        targets[t]["certificate_downloads"] = downloads if t == "real" else 0
    real_messages = params.warmup + per_round * params.rounds
    return {
        "parameters": asdict(params) | {"requests_per_round": per_round},
        "setup": {
            "server": "python -m bench.served (bookapp's serve command, uvicorn, 1 worker)",
            "environment": {k: v for k, v in env.items() if k in _SHOWN_ENV},
            "message": {"job": NOOP_JOB, "signature_version": "2", "bytes": len(real[0])},
            "paths": PATHS,
        },
        "targets": targets,
        "ratios": {
            "real_over_floor_b": ratio(targets["real"]["rps"], targets["floor_b"]["rps"]),
            "real_over_floor_a": ratio(targets["real"]["rps"], targets["floor_a"]["rps"]),
            "target_real_over_floor_b": 0.8,
        },
        # CPU per request (bench.cpu): the cost behind the throughput, steadier under other load.
        "cpu": cpu_ratios(targets),
        "checks": {
            "certificate_downloads": downloads,
            "job_runs_succeeded": succeeded,
            "job_runs_expected": real_messages,
            "receipts": receipts,
            "receipts_expected": params.warmup + per_round * params.rounds,
            "server_alive_at_end": server_alive,
            "server_log_tail": server_log_tail if not server_alive else "",
        },
        "verification": verification,
    }


_SHOWN_ENV = (
    "WEB_CONCURRENCY",
    "APP_ROLE",
    "JOB_PATH",
    "ENABLE_OTEL",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
)
