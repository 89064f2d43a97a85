"""The committed benchmark summaries: small, complete for docs/performance.md (and the README),
and what they point to."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bench.report import table
from bench.summary import RAW_KEYS, SUMMARIES_DIR, main, summarize, write_summary

REPO_ROOT = Path(__file__).resolve().parents[2]
# The Performance document the README links to.
README = REPO_ROOT / "docs" / "performance.md"


def result_with_samples() -> dict[str, Any]:
    """A full result in the shape `python -m bench` writes, with a few raw samples."""
    target = {
        "requests": 3,
        "errors": 0,
        "statuses": {"200": 3},
        "error_samples": [],
        "rps": 300.0,
        "p50_ms": 2.0,
        "p99_ms": 3.0,
        "max_ms": 3.5,
        "latencies_ms": [1.5, 2.0, 3.5],
        "certificate_downloads": 1,
    }
    cold = {"median": 0.4, "min": 0.3, "max": 0.5}
    return {
        "name": "20270101T000000Z-full",
        "kind": "full",
        "started_at": "2027-01-01T00:00:00+00:00",
        "machine": {
            "cpu_model": "CPU",
            "cores": 2,
            "memory_bytes": 2**34,
            "kernel": "Linux 6",
            "python": "3.13.0",
        },
        "versions": {"uvicorn": "0.54.0", "postgresql": "postgres (PostgreSQL) 15.18"},
        "b1": {
            "setup": {"paths": {"real": "/jobs"}},
            "targets": {"real": target, "floor_b": target, "floor_a": target},
            "ratios": {
                "real_over_floor_b": 0.7,
                "real_over_floor_a": 0.1,
                "target_real_over_floor_b": 0.8,
            },
            "checks": {"job_runs_succeeded": 3, "server_log_tail": "INFO started\n"},
            "verification": {
                "bookapp": {"median_us": 55.0, "samples_us": [50.0, 55.0, 60.0]},
                "third_party": None,
            },
        },
        "b2": {
            "functions": {
                "SecretEnvironmentFunction": {
                    "cold_start_s": cold,
                    "floor_s": cold,
                    "ratio_median": 1.15,
                    "samples_s": [0.3, 0.4, 0.5],
                    "floor_samples_s": [0.3, 0.4, 0.5],
                    "package": {"disk_bytes": 143360},
                }
            }
        },
    }


def keys(node: object) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for value in node.values() for k in keys(value)}
    return set()


def test_a_summary_drops_every_raw_sample_and_keeps_its_count() -> None:
    summary = summarize(result_with_samples())

    assert not keys(summary) & RAW_KEYS
    assert summary["b1"]["targets"]["real"]["latencies_ms_count"] == 3
    assert summary["b1"]["targets"]["real"]["error_samples_count"] == 0
    assert summary["b1"]["verification"]["bookapp"]["samples_us_count"] == 3
    assert summary["b2"]["functions"]["SecretEnvironmentFunction"]["samples_s_count"] == 3
    assert "server_log_tail" not in summary["b1"]["checks"]


def test_a_summary_keeps_the_figures_the_machine_and_the_versions() -> None:
    result = result_with_samples()

    summary = summarize(result)

    assert summary["machine"] == result["machine"]
    assert summary["versions"] == result["versions"]
    assert summary["b1"]["ratios"]["real_over_floor_b"] == 0.7
    assert summary["b2"]["functions"]["SecretEnvironmentFunction"]["ratio_median"] == 1.15
    assert summary["b1"]["targets"]["real"]["p99_ms"] == 3.0
    assert table(summary) == table(result)


def test_summarize_leaves_the_full_result_untouched() -> None:
    result = result_with_samples()
    before = json.dumps(result, sort_keys=True)

    summarize(result)

    assert json.dumps(result, sort_keys=True) == before


def test_write_summary_names_the_file_after_the_run_unless_told(tmp_path: Path) -> None:
    result = result_with_samples()

    default = write_summary(result, tmp_path)
    renamed = write_summary(result, tmp_path, name="renamed-run")

    assert default == tmp_path / "20270101T000000Z-full.json"
    assert renamed == tmp_path / "renamed-run.json"
    assert json.loads(default.read_text()) == summarize(result)
    assert list(tmp_path.glob("*.tmp")) == []


def test_the_command_summarizes_result_files_under_their_file_names(tmp_path: Path) -> None:
    source = tmp_path / "results" / "20270101T000000Z-b1-baseline.json"
    source.parent.mkdir()
    source.write_text(json.dumps(result_with_samples()))

    assert main([str(source), "--summaries-dir", str(tmp_path / "summaries")]) == 0

    written = json.loads((tmp_path / "summaries" / source.name).read_text())
    assert written == summarize(result_with_samples())


# --- the committed summaries ----------------------------------------------------------------------


COMMITTED = sorted(SUMMARIES_DIR.glob("*.json"))


def test_summaries_are_committed_for_the_published_runs() -> None:
    assert len(COMMITTED) >= 1


@pytest.mark.parametrize("path", COMMITTED, ids=[path.stem for path in COMMITTED])
def test_each_committed_summary_is_small_and_holds_no_raw_sample(path: Path) -> None:
    assert path.stat().st_size < 16 * 1024
    summary = json.loads(path.read_text())
    assert not keys(summary) & RAW_KEYS
    assert summary["machine"]["cores"] >= 1
    assert summary["versions"]
    assert summary["b1"] or summary["b2"]


PERFORMANCE_DOC = REPO_ROOT / "docs" / "performance.md"
# Where published runs are quoted: the performance document, and the README while it still holds
# the first round's section.
DOCUMENTS = [path for path in (PERFORMANCE_DOC, README) if path.exists()]


def document_references(document: Path) -> list[str]:
    """Every `bench/...json` path a document names (a `*` stands for part of a name)."""
    return re.findall(r"bench/(?:summaries|results)/[^`\s)]*\.json", document.read_text())


def test_the_performance_document_exists_and_names_its_runs() -> None:
    assert PERFORMANCE_DOC in DOCUMENTS
    assert document_references(PERFORMANCE_DOC)


@pytest.mark.parametrize("document", DOCUMENTS, ids=[d.name for d in DOCUMENTS])
def test_a_document_names_only_committed_summaries_and_each_exists(document: Path) -> None:
    for reference in document_references(document):
        assert reference.startswith("bench/summaries/"), reference
        assert list(REPO_ROOT.glob(reference)), f"{reference} matches no committed summary"


@pytest.mark.parametrize("document", DOCUMENTS, ids=[d.name for d in DOCUMENTS])
def test_the_latest_results_of_a_document_are_the_figures_of_their_summary(
    document: Path,
) -> None:
    text = document.read_text()
    match = re.search(r"Full run [^`]*`(bench/summaries/[^`]+\.json)`", text)
    assert match is not None, f"{document.name} names the run of its latest results"
    summary = json.loads((REPO_ROOT / match.group(1)).read_text())
    real = summary["b1"]["targets"]["real"]
    ratio = summary["b1"]["ratios"]["real_over_floor_b"]

    assert f"real ÷ (b) = **{ratio:.2f}**" in text
    assert f"| {real['rps']:.0f} | {real['p50_ms']:.1f} | {real['p99_ms']:.1f} |" in text
    for name, function in summary["b2"]["functions"].items():
        assert f"| {name} | {function['cold_start_s']['median'] * 1000:.0f} (" in text
        assert f"| {function['ratio_median']:.2f} (" in text


def test_every_plot_the_performance_document_shows_is_committed_and_small() -> None:
    images = re.findall(r"\]\((performance/[^)]+\.png)\)", PERFORMANCE_DOC.read_text())
    assert images, "the performance document shows the plots of its latest run"
    for image in images:
        path = PERFORMANCE_DOC.parent / image
        assert path.exists(), image
        assert path.stat().st_size < 100 * 1024, image
