"""bench.ab's verdict: a candidate helps beyond noise only when it won every one of 5+ pairs."""

from __future__ import annotations

from typing import Any

import pytest

from bench.ab import sign_test_p, verdict


def runs(base: list[float], candidate: list[float]) -> list[dict[str, Any]]:
    return [{"side": "base", "real_over_floor_b": b} for b in base] + [
        {"side": "candidate", "real_over_floor_b": c} for c in candidate
    ]


@pytest.mark.parametrize(
    ("wins", "pairs", "expected"),
    [(5, 5, 1 / 32), (4, 5, 6 / 32), (0, 5, 1.0), (6, 6, 1 / 64), (3, 3, 1 / 8)],
)
def test_the_sign_test_is_the_chance_of_that_many_wins_or_more(
    wins: int, pairs: int, expected: float
) -> None:
    assert sign_test_p(wins, pairs) == pytest.approx(expected)


def test_a_candidate_that_won_every_one_of_five_pairs_helps_beyond_noise() -> None:
    result = verdict(runs([0.60, 0.62, 0.58, 0.61, 0.63], [0.66, 0.65, 0.64, 0.70, 0.64]))
    assert result["candidate_wins"] == 5
    assert result["helps_beyond_noise"] is True
    assert result["candidate_median"] == pytest.approx(0.65)


def test_a_candidate_that_lost_one_pair_does_not_help_beyond_noise() -> None:
    result = verdict(runs([0.60, 0.62, 0.58, 0.61, 0.63], [0.66, 0.65, 0.57, 0.70, 0.64]))
    assert result["candidate_wins"] == 4
    assert result["helps_beyond_noise"] is False


def test_three_winning_pairs_are_too_few_to_say() -> None:
    assert verdict(runs([0.5, 0.5, 0.5], [0.9, 0.9, 0.9]))["helps_beyond_noise"] is False
