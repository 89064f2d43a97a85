"""Start-up on a free port: a port taken between picking and binding costs a retry, not the run."""

from __future__ import annotations

import pytest

from harness.processes import PortInUseError, bind_failed, start_on_free_port


@pytest.mark.parametrize(
    "output",
    [
        'LOG:  could not bind IPv4 address "127.0.0.1": Address already in use',
        "ERROR:    [Errno 98] error while attempting to bind on address "
        "('127.0.0.1', 8080): address already in use",
        "Address already in use\nPort 5000 is in use by another program.",
    ],
)
def test_the_bind_failures_of_postgres_uvicorn_and_werkzeug_are_recognised(output: str) -> None:
    assert bind_failed(output)


def test_other_start_up_failures_are_not_taken_for_a_port_clash() -> None:
    assert not bind_failed("FATAL:  data directory has wrong ownership")


def test_a_clash_is_retried_on_a_new_port() -> None:
    tried: list[int] = []
    picks = iter([2001, 2002])

    def launch(port: int) -> str:
        tried.append(port)
        if port != 2002:
            raise PortInUseError(f"port {port} taken")
        return f"up on {port}"

    result = start_on_free_port(launch, what="thing", first_port=2000, pick=lambda: next(picks))
    assert result == "up on 2002"
    assert tried == [2000, 2001, 2002]


def test_the_retries_are_bounded_and_the_error_names_the_ports() -> None:
    picks = iter([3001, 3002, 3003, 3004])

    def launch(port: int) -> None:
        raise PortInUseError(f"port {port} taken")

    with pytest.raises(
        RuntimeError, match=r"thing found its port taken 3 times \(ports 3001, 3002, 3003\)"
    ):
        start_on_free_port(launch, what="thing", pick=lambda: next(picks))


def test_any_other_start_up_error_is_not_retried() -> None:
    calls: list[int] = []

    def launch(port: int) -> None:
        calls.append(port)
        raise ValueError("bad configuration")

    with pytest.raises(ValueError, match="bad configuration"):
        start_on_free_port(launch, what="thing", pick=lambda: 4000)
    assert calls == [4000]
