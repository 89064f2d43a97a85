"""The small record of a run that goes into git: `bench/summaries/<name>.json`.

A full result (`bench/results/<name>.json`, ignored by git) holds every latency, verification
timing and cold-start sample: hundreds of KB per run. The summary keeps everything else, which is
what the README quotes: the machine, the versions, the parameters, and per target and function the
rates, percentiles, medians, ratios, counts and checks. Raw samples stay local.

`python -m bench.summary RESULT.json ...` writes the summaries of results made before `make bench`
wrote them itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

SUMMARIES_DIR: Final = Path(__file__).resolve().parent / "summaries"

# Keys of a result that hold raw samples (lists with one entry per request, message or cold
# start) or free text from a run (server log, error bodies); only their counts are kept.
RAW_KEYS: Final = frozenset(
    {
        "latencies_ms",
        "samples_us",
        "samples_s",
        "floor_samples_s",
        "error_samples",
        "server_log_tail",
    }
)


def summarize(result: Mapping[str, Any]) -> dict[str, Any]:
    """The result without its raw samples; each dropped list leaves its length as `<key>_count`."""
    return _without_raw(result)


def _without_raw(node: Mapping[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, value in node.items():
        if key in RAW_KEYS:
            if isinstance(value, list):
                kept[f"{key}_count"] = len(value)
            continue
        kept[key] = _without_raw(value) if isinstance(value, Mapping) else value
    return kept


def write_summary(result: Mapping[str, Any], directory: Path, name: str | None = None) -> Path:
    """Write `<directory>/<name>.json` (the run's name by default); return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name or result['name']}.json"
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(summarize(result), indent=1, ensure_ascii=False) + "\n")
    partial.replace(path)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.summary", description=__doc__)
    parser.add_argument("results", nargs="+", type=Path, help="full result files")
    parser.add_argument("--summaries-dir", type=Path, default=SUMMARIES_DIR)
    args = parser.parse_args(argv)
    for source in args.results:
        result = json.loads(source.read_text())
        # A result file renamed after its run keeps its file name for the summary.
        print(write_summary(result, args.summaries_dir, name=source.stem))
    return 0


if __name__ == "__main__":
    sys.exit(main())
