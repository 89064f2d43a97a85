"""`python -m bench.plots RESULT.json [--out DIR]`: the plots of one `make bench` result.

Run by `bench.__main__` in the plotting virtualenv (`bench.plot_env`: matplotlib is no dependency
of the app or of the development tools), on the full result with its raw samples. Writes, beside
the result unless `--out` says otherwise:

- `<name>-b1-latency.png`: B1's latency distribution per target (real endpoint, floor (b),
  floor (a)), as the share of requests answered within a time, log time axis;
- `<name>-b2-cold-start.png`: every cold start of each function beside its floor's;
- `<name>-verification.png`: verification per message: the floor, bookapp and (when it ran) the
  third-party validator.

A part the result does not hold (a run with `--only`) draws nothing. Prints the files written, one
a line. Small on purpose (about 30 KB each): a published run's plots go into git.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

DPI = 72
SIZE = (8.0, 4.2)
COLOURS = {"real": "#1f77b4", "floor_b": "#2ca02c", "floor_a": "#7f7f7f"}
LABELS = {"real": "real POST /jobs", "floor_b": "floor (b): + one INSERT", "floor_a": "floor (a)"}


def _ecdf(axes: Axes, values: Sequence[float], label: str, colour: str | None) -> None:
    ordered = sorted(values)
    count = len(ordered)
    axes.step(
        ordered, [(i + 1) / count for i in range(count)], where="post", label=label, color=colour
    )


def _title(result: Mapping[str, Any], what: str) -> str:
    load = result.get("machine", {}).get("load_average_at_start") or [0.0]
    return f"{what}\n{result['name']} (load average {load[0]:.1f} at start)"


def b1_latency(result: Mapping[str, Any], path: Path) -> Path | None:
    b1 = result.get("b1")
    if not b1:
        return None
    figure, axes = plt.subplots(figsize=SIZE, dpi=DPI)
    for target, data in b1["targets"].items():
        label = (
            f"{LABELS.get(target, target)}: {data['rps']:.0f} req/s, p99 {data['p99_ms']:.1f} ms"
        )
        _ecdf(axes, data["latencies_ms"], label, COLOURS.get(target))
    ratio = b1["ratios"]["real_over_floor_b"]
    axes.set_xscale("log")
    axes.set_xlabel("latency, ms (log)")
    axes.set_ylabel("share of requests answered")
    axes.set_title(_title(result, f"B1 latency per target; real ÷ floor (b) = {ratio:.2f}"))
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="lower right", fontsize="small")
    return _save(figure, path)


def b2_cold_start(result: Mapping[str, Any], path: Path) -> Path | None:
    b2 = result.get("b2")
    if not b2:
        return None
    functions = b2["functions"]
    figure, axes = plt.subplots(figsize=(SIZE[0], SIZE[1] + 0.4), dpi=DPI)
    names = list(functions)
    for index, name in enumerate(names):
        data = functions[name]
        for offset, key, colour in (
            (-0.15, "samples_s", "#1f77b4"),
            (0.15, "floor_samples_s", "#7f7f7f"),
        ):
            values = [v * 1000 for v in data[key]]
            axes.scatter(
                [index + offset] * len(values), values, s=12, color=colour, alpha=0.7, linewidths=0
            )
            middle = sorted(values)[len(values) // 2] if values else 0
            axes.hlines(middle, index + offset - 0.12, index + offset + 0.12, color=colour)
        axes.annotate(
            f"{data['ratio_median']:.2f}",
            (index, max(v * 1000 for v in data["samples_s"])),
            textcoords="offset points",
            xytext=(0, 6),
            ha="center",
            fontsize="small",
        )
    axes.set_xticks(range(len(names)), [n.removesuffix("Function") for n in names])
    axes.set_ylabel("cold start to response, ms")
    axes.scatter([], [], color="#1f77b4", label="function (line: median)")
    axes.scatter([], [], color="#7f7f7f", label="floor: boto3 + the same client")
    axes.legend(loc="lower right", fontsize="small")
    axes.set_ylim(bottom=0)
    axes.grid(True, axis="y", alpha=0.3)
    axes.set_title(
        _title(result, "B2 cold starts, each function beside its floor (ratio of medians)")
    )
    return _save(figure, path)


def verification(result: Mapping[str, Any], path: Path) -> Path | None:
    b1 = result.get("b1")
    v = (b1 or {}).get("verification")
    if not v or not v.get("floor"):
        return None
    figure, axes = plt.subplots(figsize=SIZE, dpi=DPI)
    for key, colour in (("floor", "#7f7f7f"), ("bookapp", "#1f77b4"), ("third_party", "#d62728")):
        data = v.get(key)
        if not data:
            continue
        name = "floor" if key == "floor" else data["name"].split(" (")[0]
        _ecdf(axes, data["samples_us"], f"{name}: median {data['median_us']:.1f} µs", colour)
    axes.set_xscale("log")
    axes.set_xlabel("time per message, µs (log)")
    axes.set_ylabel("share of messages")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="lower right", fontsize="small")
    axes.set_title(
        _title(result, f"Verification per message; bookapp ÷ floor = {v['bookapp_over_floor']:.2f}")
    )
    return _save(figure, path)


def _save(figure: Any, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(figure)
    return path


def render(result: Mapping[str, Any], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    name = result["name"]
    written = [
        b1_latency(result, out / f"{name}-b1-latency.png"),
        b2_cold_start(result, out / f"{name}-b2-cold-start.png"),
        verification(result, out / f"{name}-verification.png"),
    ]
    return [path for path in written if path is not None]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.plots", description=__doc__)
    parser.add_argument("result", type=Path, help="a full result (bench/results/<name>.json)")
    parser.add_argument("--out", type=Path, help="folder for the PNG files (default: beside it)")
    args = parser.parse_args(argv)
    result = json.loads(args.result.read_text())
    for path in render(result, args.out or args.result.parent):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
