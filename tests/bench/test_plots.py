"""`make bench` draws its plots beside the result: one PNG per part the result holds, small.

The plots are drawn in the bench's plotting virtualenv (bench.plot_env, made from hash-pinned
requirements on first use), from a result in the shape `python -m bench` writes.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench.plot_env import plot_python
from tests.bench.test_summary import result_with_samples

REPO_ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.slow


def full_result() -> dict[str, Any]:
    result = result_with_samples()
    result["b1"]["verification"] = {
        "floor": {"median_us": 21.0, "samples_us": [20.0, 21.0, 23.5, 40.0]},
        "bookapp": {
            "name": "bookapp.sns (parse_envelope + Verifier.verify)",
            "median_us": 24.0,
            "samples_us": [23.0, 24.0, 25.0, 60.0],
        },
        "third_party": {
            "name": "aws-sns-verifier 0.1.14 (validate_sns_signature)",
            "median_us": 80.0,
            "samples_us": [70.0, 80.0, 90.0, 95.0],
        },
        "bookapp_over_floor": 24.0 / 21.0,
    }
    second = dict(result["b2"]["functions"]["SecretEnvironmentFunction"])
    result["b2"]["functions"]["JobRunFunction"] = second | {"samples_s": [0.35, 0.45]}
    result["machine"]["load_average_at_start"] = [1.5, 1.0, 0.5]
    return result


def draw(result: dict[str, Any], tmp_path: Path) -> list[str]:
    source = tmp_path / f"{result['name']}.json"
    source.write_text(json.dumps(result))
    process = subprocess.run(
        [str(plot_python()), "-m", "bench.plots", str(source)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    return [Path(line).name for line in process.stdout.splitlines()]


def test_a_full_result_gets_latency_cold_start_and_verification_plots(tmp_path: Path) -> None:
    result = full_result()
    written = draw(result, tmp_path)
    name = result["name"]
    assert written == [
        f"{name}-b1-latency.png",
        f"{name}-b2-cold-start.png",
        f"{name}-verification.png",
    ]
    for file_name in written:
        data = (tmp_path / file_name).read_bytes()
        assert data.startswith(PNG_MAGIC), file_name
        assert 2_000 < len(data) < 100 * 1024, (file_name, len(data))


def test_a_result_of_one_benchmark_gets_only_its_plots(tmp_path: Path) -> None:
    result = full_result()
    result["b1"] = None
    assert draw(result, tmp_path) == [f"{result['name']}-b2-cold-start.png"]
