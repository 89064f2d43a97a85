"""app/requirements.in pins all the image installs: exact pins, closed under Requires-Dist; and
app/requirements.txt, compiled from it, pins the same versions with a hash for every file.

The Dockerfile installs exactly the compiled file (pip --require-hashes), so a dependency missing
from it (or pinned at a version its dependent does not accept) shows up only when the image starts,
or fails the build. Offline: the metadata is read from the development virtualenv, which installs
the same versions (requirements-dev.txt includes requirements.in), and markers are evaluated for
the image's platform, Python 3.13 on Linux.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

APP = Path(__file__).resolve().parents[2] / "app"
REQUIREMENTS = APP / "requirements.in"
HASHED = APP / "requirements.txt"

# The image: python:3.13-slim (Debian, CPython) on App Runner's x86_64. Marker.evaluate fills in
# the rest (platform_release, ...) from this machine.
IMAGE_ENVIRONMENT: dict[str, str] = {
    "implementation_name": "cpython",
    "implementation_version": "3.13.0",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_system": "Linux",
    "python_full_version": "3.13.0",
    "python_version": "3.13",
    "sys_platform": "linux",
}


@dataclass(frozen=True)
class Pin:
    line: int
    name: NormalizedName
    version: Version


def read_pins(text: str) -> tuple[dict[NormalizedName, Pin], list[str]]:
    """The pins of a requirements file, and a problem for every line that is not `name==version`."""
    pins: dict[NormalizedName, Pin] = {}
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:
            problems.append(f"line {number} ({line!r}) is not a requirement: {error}")
            continue
        specifiers = list(requirement.specifier)
        if (
            len(specifiers) != 1
            or specifiers[0].operator != "=="
            or "*" in specifiers[0].version
            or requirement.url
            or requirement.marker
            or requirement.extras
        ):
            problems.append(f"line {number} ({line!r}) is not an exact pin name==version")
            continue
        name = canonicalize_name(requirement.name)
        if name in pins:
            problems.append(f"line {number}: {requirement.name} is pinned twice")
            continue
        pins[name] = Pin(number, name, Version(specifiers[0].version))
    return pins, problems


def _requires(name: str, extras: frozenset[str]) -> list[Requirement]:
    """Requires-Dist of the installed `name` that apply to the image with these extras asked for."""
    needed: list[Requirement] = []
    for text in importlib.metadata.requires(name) or []:
        requirement = Requirement(text)
        marker = requirement.marker
        if marker is None or any(
            marker.evaluate({**IMAGE_ENVIRONMENT, "extra": extra}) for extra in ("", *extras)
        ):
            needed.append(requirement)
    return needed


def closure_problems(pins: dict[NormalizedName, Pin]) -> list[str]:
    """What the pinned set lacks: every dependency of a pin must be pinned at a version it accepts.

    An extra that a Requires-Dist line asks for (`foo[bar]`) brings in foo's requirements for it;
    extras nobody asks for are ignored.
    """
    problems: list[str] = []
    pending: list[tuple[NormalizedName, frozenset[str]]] = [(name, frozenset()) for name in pins]
    seen: set[tuple[NormalizedName, frozenset[str]]] = set()
    while pending:
        name, extras = pending.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        installed = Version(importlib.metadata.version(name))
        if installed != pins[name].version:
            problems.append(
                f"{name}: {installed} is installed but {pins[name].version} is pinned, so its "
                "metadata cannot be checked (pip install -r app/requirements.in)"
            )
            continue
        for requirement in _requires(name, extras):
            dependency = canonicalize_name(requirement.name)
            pin = pins.get(dependency)
            if pin is None:
                problems.append(f"{name} requires {requirement}, and {dependency} is not pinned")
            elif not requirement.specifier.contains(pin.version, prereleases=True):
                problems.append(
                    f"{name} requires {requirement}, but {dependency}=={pin.version} is pinned"
                )
            else:
                pending.append((dependency, frozenset(requirement.extras)))
    return sorted(set(problems))


def test_every_line_of_the_app_requirements_is_an_exact_pin() -> None:
    pins, problems = read_pins(REQUIREMENTS.read_text())
    assert problems == []
    assert len(pins) > 10


def test_every_dependency_of_a_pinned_package_is_pinned_at_a_version_it_accepts() -> None:
    pins, _problems = read_pins(REQUIREMENTS.read_text())
    assert closure_problems(pins) == []


# The checks themselves, on edited copies of the file: they must see what they are for.


def _without(text: str, name: str) -> str:
    kept = [line for line in text.splitlines() if not line.lower().startswith(f"{name}==")]
    assert len(kept) == len(text.splitlines()) - 1, f"{name} is not pinned in the file"
    return "\n".join(kept)


@pytest.mark.parametrize(
    ("removed", "dependent"),
    [
        ("six", "python-dateutil"),  # alembic -> python-dateutil -> six: two levels down
        ("markupsafe", "mako"),
        ("h11", "uvicorn"),
    ],
)
def test_a_transitive_dependency_missing_from_the_file_is_reported(
    removed: str, dependent: str
) -> None:
    pins, _problems = read_pins(_without(REQUIREMENTS.read_text(), removed))
    problems = closure_problems(pins)
    assert any(
        problem.startswith(f"{dependent} requires") and f"{removed} is not pinned" in problem
        for problem in problems
    ), problems


def test_a_pin_its_dependent_does_not_accept_is_reported() -> None:
    text = REQUIREMENTS.read_text().replace("\nh11==", "\nh11==0.1.0\n# was h11==")
    pins, problems = read_pins(text)
    assert problems == []
    assert any(
        problem.startswith("uvicorn requires h11") and "h11==0.1.0 is pinned" in problem
        for problem in closure_problems(pins)
    )


@pytest.mark.parametrize(
    "line",
    [
        "starlette>=1.10",
        "starlette",
        "starlette==1.*",
        "starlette[full]==1.10.0",
        "starlette ~= 1.10",
    ],
)
def test_a_line_that_is_not_an_exact_pin_is_reported(line: str) -> None:
    _pins, problems = read_pins(f"uvicorn==0.54.0\n{line}\n")
    assert problems == [f"line 2 ({line!r}) is not an exact pin name==version"]


# The hashed file the image installs.


def hashed_pins(text: str) -> dict[NormalizedName, tuple[Version, int]]:
    """`name==version` of each requirement in the compiled file that applies to the image, with
    the number of hashes it carries (continuation lines joined)."""
    pins: dict[NormalizedName, tuple[Version, int]] = {}
    joined = text.replace("\\\n", " ")
    for raw in joined.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split(" --hash=")
        requirement = Requirement(words[0].strip())
        if requirement.marker is not None and not requirement.marker.evaluate(IMAGE_ENVIRONMENT):
            continue
        [specifier] = list(requirement.specifier)
        hashes = [word for word in words[1:] if word.strip().startswith("sha256:")]
        pins[canonicalize_name(requirement.name)] = (Version(specifier.version), len(hashes))
    return pins


def test_the_hashed_requirements_pin_exactly_the_versions_of_requirements_in() -> None:
    wanted, _problems = read_pins(REQUIREMENTS.read_text())
    compiled = hashed_pins(HASHED.read_text())
    assert {name: version for name, (version, _) in compiled.items()} == {
        name: pin.version for name, pin in wanted.items()
    }, "app/requirements.txt is stale: run `make pins`"


def test_every_package_the_image_installs_carries_its_hashes() -> None:
    compiled = hashed_pins(HASHED.read_text())
    assert compiled
    assert [name for name, (_version, hashes) in compiled.items() if hashes == 0] == []


def test_a_stale_hashed_file_is_reported() -> None:
    wanted, _problems = read_pins(REQUIREMENTS.read_text())
    stale = hashed_pins(HASHED.read_text().replace("\nh11==", "\nh11==0.1.0 \\\n# was h11=="))
    assert stale[canonicalize_name("h11")][0] == Version("0.1.0")
    assert stale[canonicalize_name("h11")][0] != wanted[canonicalize_name("h11")].version
