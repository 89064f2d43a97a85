"""`make bench` must keep working: both benchmarks run tiny and write a well-formed result.

The smoke run is `python -m bench --smoke` as a subprocess, as `make bench ARGS=--smoke` runs it:
a few requests per B1 target, one cold start per B2 function and floor. Figures are never
asserted (a 2-core machine under `make test` says nothing about speed); what is asserted is that
every part ran, every request was answered 200 and recorded, and the document has what the
README's table and a reader of the raw samples need.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.b1 import SMOKE as B1_SMOKE
from bench.report import table
from bench.summary import summarize

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the smoke run wrote into: `results/s.json` and `summaries/s.json`."""
    if not (REPO_ROOT / ".aws-sam" / "build" / "template.yaml").exists():
        pytest.fail("run `make build` first: B2 starts the functions sam build made")
    out = tmp_path_factory.mktemp("bench")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench",
            "--smoke",
            "--results-dir",
            str(out / "results"),
            "--summaries-dir",
            str(out / "summaries"),
            "--name",
            "s",
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        # SIGINT, not SIGKILL: the run's `with` blocks then stop the PostgreSQL and servers it
        # started (each in a session of its own, which killing the run would leave behind).
        process.send_signal(signal.SIGINT)
        try:
            stdout, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        pytest.fail(f"the smoke run took more than 120 s: {stdout[-3000:]}{stderr[-3000:]}")
    assert process.returncode == 0, stdout[-3000:] + stderr[-3000:]
    assert "B1 target" in stdout
    assert "B2 function" in stdout
    return out


@pytest.fixture(scope="module")
def smoke_result(smoke_run: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((smoke_run / "results" / "s.json").read_text())
    return document


def test_smoke_result_names_the_machine_and_the_versions(smoke_result: dict[str, Any]) -> None:
    assert smoke_result["kind"] == "smoke"
    machine = smoke_result["machine"]
    assert machine["cores"] >= 1
    assert machine["cpu_model"]
    assert machine["python"].startswith("3.")
    assert smoke_result["versions"]["uvicorn"]
    assert smoke_result["versions"]["awslambdaric"]


def test_b1_drove_every_target_and_each_request_was_answered_200(
    smoke_result: dict[str, Any],
) -> None:
    b1 = smoke_result["b1"]
    for name in ("real", "floor_a", "floor_b"):
        target = b1["targets"][name]
        assert target["requests"] == B1_SMOKE.requests, name
        assert target["errors"] == 0, target["error_samples"]
        assert target["statuses"] == {"200": B1_SMOKE.requests}
        assert len(target["latencies_ms"]) == B1_SMOKE.requests
        assert target["p50_ms"] <= target["p99_ms"] <= target["max_ms"]
    assert b1["ratios"]["real_over_floor_b"] is not None


def test_b1_real_messages_ran_once_each_and_floor_b_wrote_one_receipt_each(
    smoke_result: dict[str, Any],
) -> None:
    checks = smoke_result["b1"]["checks"]
    assert checks["job_runs_succeeded"] == checks["job_runs_expected"]
    assert checks["receipts"] == checks["receipts_expected"]
    assert checks["certificate_downloads"] >= 1
    assert checks["server_alive_at_end"] is True


def test_b1_timed_bookapps_verifier_with_one_download(smoke_result: dict[str, Any]) -> None:
    verification = smoke_result["b1"]["verification"]
    bookapp = verification["bookapp"]
    assert bookapp["certificate_downloads"] == 1
    assert bookapp["rejects_tampered"] is True
    assert len(bookapp["samples_us"]) == bookapp["messages_timed"] > 0
    assert verification["third_party"] is None  # the smoke run installs nothing


def test_b1_timed_the_verification_floor_beside_bookapp(smoke_result: dict[str, Any]) -> None:
    verification = smoke_result["b1"]["verification"]
    floor = verification["floor"]
    assert floor["rejects_tampered"] is True
    assert len(floor["samples_us"]) == verification["bookapp"]["messages_timed"]
    assert verification["bookapp_over_floor"] == pytest.approx(
        verification["bookapp"]["median_us"] / floor["median_us"]
    )
    assert verification["target_bookapp_over_floor"] == 1.2


def test_b1_measured_cpu_per_request_of_the_server_and_postgres(
    smoke_result: dict[str, Any],
) -> None:
    b1 = smoke_result["b1"]
    # /proc counts in clock ticks (10 ms): a dozen requests may read as no time at all.
    for name in ("real", "floor_a", "floor_b"):
        target = b1["targets"][name]
        assert target["server_cpu_us_per_request"] >= 0, name
        assert target["postgres_cpu_us_per_request"] >= 0, name
    assert set(b1["cpu"]) == {
        "floor_b_over_real_server",
        "floor_b_over_real_postgres",
        "floor_b_over_real_both",
    }


def test_b2_cold_started_each_function_and_its_floor(smoke_result: dict[str, Any]) -> None:
    functions = smoke_result["b2"]["functions"]
    assert set(functions) == {
        "SecretEnvironmentFunction",
        "HttpsSubscriptionFunction",
        "JobRunFunction",
        "LogRetentionFunction",
    }
    for name, function in functions.items():
        assert len(function["samples_s"]) == 1, name
        assert len(function["floor_samples_s"]) == 1, name
        assert function["ratio_median"] is not None
        package = function["package"]
        assert package["bundles_sdk"] is False, package["entries"]
        assert package["disk_bytes"] > 0


def test_the_printed_table_renders_from_the_document(smoke_result: dict[str, Any]) -> None:
    text = table(smoke_result)
    assert "real ÷ (b)" in text
    assert "bookapp ÷ floor" in text
    assert "SecretEnvironmentFunction" in text


def test_the_run_also_wrote_its_summary_without_the_raw_samples(
    smoke_run: Path, smoke_result: dict[str, Any]
) -> None:
    summary_path = smoke_run / "summaries" / "s.json"
    summary = json.loads(summary_path.read_text())

    assert summary == summarize(smoke_result)
    assert summary_path.stat().st_size < (smoke_run / "results" / "s.json").stat().st_size
    # The keys the README and a reader of the full result use are where they were.
    assert smoke_result["b1"]["ratios"]["real_over_floor_b"] is not None
    assert smoke_result["b1"]["verification"]["bookapp_over_floor"] is not None
    for function in smoke_result["b2"]["functions"].values():
        assert function["ratio_median"] is not None
        assert function["target_ratio"] == 1.15
    assert "plots" not in smoke_result  # a smoke run draws none unless --plots
