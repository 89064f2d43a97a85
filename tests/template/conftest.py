"""Fixtures for the template guard tests: the expanded template and one rendering per condition
combination.

Every combination of the switches the stack exposes is rendered once per test session (rendering is
a few milliseconds; the SAM transform runs once), nested templates included, and handed to the
tests through the `case` fixture (every variant), `app_runner_case` or `express_case` (the variants
of one compute platform). Combinations the template's Rules refuse (Tracing on ECS Express, no NAT
on App Runner) are left out; a test checks that every variant passes the Rules.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Any

import pytest

from tests.template.render import Rendered, expanded_template, render, source_template

GOOD_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/bookapp:1.0.0"
EXISTING_VPC = "vpc-0123456789abcdef0"
EXISTING_SUBNETS = ("subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2")
EXISTING_PUBLIC_SUBNETS = ("subnet-0ccccccccccccccc3", "subnet-0ddddddddddddddd4")
APP_RUNNER = "AppRunner"
ECS_EXPRESS = "EcsExpress"


@dataclass(frozen=True)
class Variant:
    platform: str
    network: str
    jobs: str
    tracing: str
    nat: str
    zones: str
    delivery: str
    min_acu: str

    @property
    def express(self) -> bool:
        return self.platform == ECS_EXPRESS

    @property
    def overrides(self) -> dict[str, str]:
        values = {
            "ImageUri": GOOD_IMAGE,
            "ComputePlatform": self.platform,
            "NetworkMode": self.network,
            "JobServiceMode": self.jobs,
            "Tracing": self.tracing,
            "NatGatewayMode": self.nat,
            "AvailabilityZoneCount": self.zones,
            "SecretDelivery": self.delivery,
            "DatabaseMinCapacity": self.min_acu,
        }
        if self.delivery == "PlainText":
            # Rotation (on by default) is refused with PlainText: nothing could follow it.
            values["DatabaseRotationDays"] = "0"
        if self.network == "existing":
            values["ExistingVpcId"] = EXISTING_VPC
            values["ExistingPrivateSubnetIds"] = ",".join(EXISTING_SUBNETS)
            if self.express:
                values["ExistingPublicSubnetIds"] = ",".join(EXISTING_PUBLIC_SUBNETS)
        return values

    @property
    def id(self) -> str:
        return "-".join(
            [
                "express" if self.express else "apprunner",
                self.network,
                self.jobs,
                "tracing" if self.tracing == "true" else "no-tracing",
                f"nat-{self.nat}",
                f"{self.zones}az",
                self.delivery,
                f"acu{self.min_acu}",
            ]
        )


APP_RUNNER_VARIANTS = [
    Variant(APP_RUNNER, *combo)
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
# Tracing is refused on ECS Express (Rule EcsExpressRunsWithoutTracing); NAT is optional there.
EXPRESS_VARIANTS = [
    Variant(ECS_EXPRESS, network, jobs, "false", nat, zones, delivery, acu)
    for network, jobs, nat, zones, delivery, acu in itertools.product(
        ["create", "existing"],
        ["dedicated", "shared"],
        ["single", "per-zone", "none"],
        ["2", "3"],
        ["SecretReference", "PlainText"],
        ["0", "0.5"],
    )
]
VARIANTS = APP_RUNNER_VARIANTS + EXPRESS_VARIANTS

_RENDERED: dict[Variant, Rendered] = {}


def app_runner_twin(variant: Variant) -> Variant:
    """The App Runner variant with the same settings as an ECS Express one (NAT none aside)."""
    nat = "single" if variant.nat == "none" else variant.nat
    return dataclasses.replace(variant, platform=APP_RUNNER, nat=nat)


@dataclass(frozen=True)
class Case:
    variant: Variant
    stack: Rendered


def rendered(variant: Variant) -> Rendered:
    """The variant's rendering, made once per session."""
    if variant not in _RENDERED:
        _RENDERED[variant] = render(expanded_template(), variant.overrides)
    return _RENDERED[variant]


@pytest.fixture(params=VARIANTS, ids=[v.id for v in VARIANTS])
def case(request: pytest.FixtureRequest) -> Case:
    return Case(request.param, rendered(request.param))


@pytest.fixture(params=APP_RUNNER_VARIANTS, ids=[v.id for v in APP_RUNNER_VARIANTS])
def app_runner_case(request: pytest.FixtureRequest) -> Case:
    return Case(request.param, rendered(request.param))


@pytest.fixture(params=EXPRESS_VARIANTS, ids=[v.id for v in EXPRESS_VARIANTS])
def express_case(request: pytest.FixtureRequest) -> Case:
    return Case(request.param, rendered(request.param))


@pytest.fixture(scope="session")
def source() -> dict[str, Any]:
    return source_template()


@pytest.fixture(scope="session")
def expanded() -> dict[str, Any]:
    return expanded_template()
