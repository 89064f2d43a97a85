"""The summaries B1 and B2 report are plain arithmetic; these pin down what each figure means."""

from __future__ import annotations

import pytest

from bench.stats import percentile, ratio, spread


@pytest.mark.parametrize(
    ("fraction", "expected"),
    [(0.0, 1.0), (0.5, 50.0), (0.99, 99.0), (1.0, 100.0)],
)
def test_percentile_is_the_nearest_rank_sample(fraction: float, expected: float) -> None:
    samples = [float(n) for n in range(100, 0, -1)]
    assert percentile(samples, fraction) == expected


def test_percentile_of_no_samples_is_an_error() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 0.5)


def test_spread_reports_median_and_extremes() -> None:
    result = spread([3.0, 1.0, 2.0, 10.0])
    assert result["median"] == 2.5
    assert (result["min"], result["max"]) == (1.0, 10.0)


def test_ratio_of_zero_denominator_is_none() -> None:
    assert ratio(1.0, 0.0) is None
    assert ratio(3.0, 4.0) == 0.75
