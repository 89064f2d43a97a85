"""The JSON filter pattern evaluator the job-metric tests rely on: it matches what CloudWatch Logs
matches for its subset, and refuses what it does not understand."""

from __future__ import annotations

import json

import pytest

from tests.support.metric_filter import UnsupportedPatternError, apply_filter, compile_pattern

FINISHED = {"message": "job finished", "job": "db_seed", "run_status": "failed"}


@pytest.mark.parametrize(
    ("pattern", "event", "matches"),
    [
        ('{ $.message = "job finished" }', FINISHED, True),
        ('{ $.message = "job started" }', FINISHED, False),
        ('{ $.run_status != "succeeded" }', FINISHED, True),
        ('{ $.run_status != "failed" }', FINISHED, False),
        ('{ $.missing != "x" }', FINISHED, False),
        ('{ $.message = "job finished" && $.run_status = "succeeded" }', FINISHED, False),
        ('{ $.message = "nope" || $.job = "db_seed" }', FINISHED, True),
        ('{ ($.message = "a" || $.message = "job finished") && ($.job != "x") }', FINISHED, True),
        ('{ ($.message = "a" || $.message = "b") && ($.job != "x") }', FINISHED, False),
    ],
)
def test_comparisons_and_boolean_operators_match_as_cloudwatch_documents(
    pattern: str, event: dict[str, str], matches: bool
) -> None:
    assert compile_pattern(pattern)(event) is matches


@pytest.mark.parametrize(
    "pattern",
    [
        "job finished",
        '{ $.message = "job*" }',
        "{ $.attempt = 2 }",
        '{ $.a.b = "x" }',
        "{ $.message IS NULL }",
        '{ $.message = "x" ',
        '{ ($.message = "x" }',
    ],
)
def test_syntax_outside_the_subset_is_refused(pattern: str) -> None:
    with pytest.raises(UnsupportedPatternError):
        compile_pattern(pattern)


def test_a_transformation_publishes_one_datum_per_matching_json_line_with_its_dimensions() -> None:
    lines = [
        json.dumps(FINISHED),
        json.dumps({**FINISHED, "run_status": "succeeded"}),
        json.dumps({"message": "job finished", "run_status": "failed"}),  # no job: nothing
        "not json",
        json.dumps(["job finished"]),
    ]
    transformation = {
        "MetricValue": "1",
        "Dimensions": [
            {"Key": "Job", "Value": "$.job"},
            {"Key": "Outcome", "Value": "$.run_status"},
        ],
    }

    data = apply_filter('{ $.message = "job finished" }', transformation, lines)

    assert [(d.dimensions, d.value) for d in data] == [
        ((("Job", "db_seed"), ("Outcome", "failed")), 1.0),
        ((("Job", "db_seed"), ("Outcome", "succeeded")), 1.0),
    ]
