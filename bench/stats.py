"""Summaries of raw samples: percentiles by the nearest-rank method, so every figure is a sample."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` in 0..1) of non-empty `samples`."""
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be from 0 to 1, got {fraction}")
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def spread(samples: Sequence[float]) -> dict[str, float]:
    """Median, min, max, quartiles and (for 2+ samples) the standard deviation."""
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "p25": percentile(samples, 0.25),
        "p75": percentile(samples, 0.75),
        "max": max(samples),
        "stdev": statistics.stdev(samples) if len(samples) > 1 else 0.0,
    }


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, or None when the denominator is zero."""
    return numerator / denominator if denominator else None
