"""cfn-lint on the template as CloudFormation receives it after the SAM transform, per platform.

`make cfn-lint` lints the source, every condition branch at once. This module lints the
SAM-expanded template (what `sam deploy` hands to CloudFormation) with each platform's parameter
set, so a finding the transform's output would raise (a nested stack without a deletion policy, for
example) does not hide behind the SAM resource that produced it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint  # type: ignore[import-untyped]
from cfnlint.context.parameters import ParameterSet  # type: ignore[import-untyped]

from tests.template.conftest import GOOD_IMAGE

PARAMETER_SETS = {
    "AppRunner": {"ImageUri": GOOD_IMAGE},
    "EcsExpress": {
        "ImageUri": GOOD_IMAGE,
        "ComputePlatform": "EcsExpress",
        "Tracing": "false",
        "NatGatewayMode": "none",
    },
}
# A local nested-template path works only through `sam package` / `sam deploy`, which upload it.
PACKAGE_ONLY = [
    ("W3002", ("Resources", "ExpressApiService", "Properties", "TemplateURL")),
    ("W3002", ("Resources", "ExpressJobService", "Properties", "TemplateURL")),
]


@pytest.mark.parametrize("platform", sorted(PARAMETER_SETS))
def test_the_expanded_template_lints_clean_for_each_platforms_parameters(
    expanded: dict[str, Any], platform: str
) -> None:
    config = ManualArgs(
        regions=["us-east-1"],
        include_checks=["I"],
        parameters=[ParameterSet(None, PARAMETER_SETS[platform])],
    )
    findings = [(m.rule.id, tuple(m.path)) for m in lint(json.dumps(expanded), config=config)]
    assert sorted(findings) == PACKAGE_ONLY
