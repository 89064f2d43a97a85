"""Fixtures for the template guard tests: the expanded template and one rendering per condition
combination.

Every combination of the switches the stack exposes is rendered once per test session (rendering is
a few milliseconds; the SAM transform runs once) and handed to the tests through the `variant`
fixture.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest

from tests.template.render import Rendered, expanded_template, render, source_template

GOOD_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/bookapp:1.0.0"
EXISTING_VPC = "vpc-0123456789abcdef0"
EXISTING_SUBNETS = ("subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2")


@dataclass(frozen=True)
class Variant:
    network: str
    jobs: str
    tracing: str
    nat: str
    zones: str
    delivery: str
    min_acu: str

    @property
    def overrides(self) -> dict[str, str]:
        values = {
            "ImageUri": GOOD_IMAGE,
            "NetworkMode": self.network,
            "JobServiceMode": self.jobs,
            "Tracing": self.tracing,
            "NatGatewayMode": self.nat,
            "AvailabilityZoneCount": self.zones,
            "SecretDelivery": self.delivery,
            "DatabaseMinCapacity": self.min_acu,
        }
        if self.network == "existing":
            values["ExistingVpcId"] = EXISTING_VPC
            values["ExistingPrivateSubnetIds"] = ",".join(EXISTING_SUBNETS)
        return values

    @property
    def id(self) -> str:
        return "-".join(
            [
                self.network,
                self.jobs,
                "tracing" if self.tracing == "true" else "no-tracing",
                f"nat-{self.nat}",
                f"{self.zones}az",
                self.delivery,
                f"acu{self.min_acu}",
            ]
        )


VARIANTS = [
    Variant(*combo)
    for combo in itertools.product(
        ["create", "existing"],
        ["dedicated", "shared"],
        ["true", "false"],
        ["single", "per-zone"],
        ["2", "3"],
        ["SecretReference", "PlainText"],
        ["0", "0.5"],
    )
]

_RENDERED: dict[Variant, Rendered] = {}


@dataclass(frozen=True)
class Case:
    variant: Variant
    stack: Rendered


@pytest.fixture(params=VARIANTS, ids=[v.id for v in VARIANTS])
def case(request: pytest.FixtureRequest) -> Case:
    variant: Variant = request.param
    if variant not in _RENDERED:
        _RENDERED[variant] = render(expanded_template(), variant.overrides)
    return Case(variant, _RENDERED[variant])


@pytest.fixture(scope="session")
def source() -> dict[str, Any]:
    return source_template()


@pytest.fixture(scope="session")
def expanded() -> dict[str, Any]:
    return expanded_template()
