"""Fixtures for the harness's own tests: a moto server per module, a capturing HTTP subscriber."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.moto_server import MotoServer
from tests.support.subscriber import CapturingSubscriber


@pytest.fixture(scope="module")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    with MotoServer(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture
def subscriber() -> Iterator[CapturingSubscriber]:
    capture = CapturingSubscriber("/jobs")
    yield capture
    capture.close()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
