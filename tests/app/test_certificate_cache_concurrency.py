"""Downloads of signing certificates stay few, whoever asks for them.

A burst of deliveries that all miss the cache downloads the certificate once (found by `make bench`
(B1): with 16 concurrent first deliveries each request downloaded the certificate itself). The URL
comes from an unsigned request, so anyone can ask: failures are remembered per URL for a while, and
only a few downloads run at once.
"""

from __future__ import annotations

import threading
import time

import pytest

from bookapp.sns import CertificateCache, CertificateUnavailable, VerificationFailed
from harness.sns_signing import TestCA

URL = (
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-"
    "00000000000000000000000000000b57.pem"
)


def _burst(cache: CertificateCache, requests: int) -> list[BaseException | None]:
    start = threading.Barrier(requests)
    outcomes: list[BaseException | None] = [None] * requests

    def deliver(index: int) -> None:
        start.wait()
        try:
            cache.get(URL)
        except Exception as error:
            outcomes[index] = error

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    return outcomes


def test_concurrent_misses_of_one_url_download_it_once(ca: TestCA) -> None:
    pem = ca.issue_signer().certificate_pem
    downloads: list[str] = []

    def slow_fetch(url: str) -> bytes:
        downloads.append(url)
        time.sleep(0.2)  # long enough for every other request to miss the cache meanwhile
        return pem

    cache = CertificateCache(slow_fetch)
    outcomes = _burst(cache, 16)
    assert outcomes == [None] * 16
    assert downloads == [URL]
    assert len(cache) == 1


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("failure", "remembered_for"),
    [
        (CertificateUnavailable("certificate download answered 503"), 15.0),
        (VerificationFailed("SigningCertURL", "certificate download answered 404"), 60.0),
    ],
    ids=["unavailable", "refused"],
)
def test_a_failed_download_is_remembered_briefly_then_tried_again(
    ca: TestCA, failure: Exception, remembered_for: float
) -> None:
    pem = ca.issue_signer().certificate_pem
    attempts: list[str] = []

    def flaky_fetch(url: str) -> bytes:
        attempts.append(url)
        if len(attempts) == 1:
            raise failure
        return pem

    clock = FakeClock()
    cache = CertificateCache(flaky_fetch, clock=clock)
    for _ in range(3):
        with pytest.raises(type(failure), match=str(failure)):
            cache.get(URL)
    assert attempts == [URL]
    clock.now += remembered_for - 1
    with pytest.raises(type(failure)):
        cache.get(URL)
    clock.now += 1
    cache.get(URL)
    cache.get(URL)
    assert attempts == [URL, URL]


def test_a_burst_of_failing_first_requests_downloads_once() -> None:
    downloads: list[str] = []

    def missing(url: str) -> bytes:
        downloads.append(url)
        time.sleep(0.2)
        raise VerificationFailed("SigningCertURL", "certificate download answered 404")

    outcomes = _burst(CertificateCache(missing), 8)
    assert all(isinstance(outcome, VerificationFailed) for outcome in outcomes)
    assert downloads == [URL]


def _many_urls(count: int) -> list[str]:
    return [
        f"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-{i:032x}.pem"
        for i in range(count)
    ]


def test_at_most_four_downloads_run_at_once(ca: TestCA) -> None:
    pem = ca.issue_signer().certificate_pem
    running = 0
    most = 0
    lock = threading.Lock()

    def slow_fetch(_url: str) -> bytes:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.15)
        with lock:
            running -= 1
        return pem

    cache = CertificateCache(slow_fetch)
    urls = _many_urls(12)
    start = threading.Barrier(len(urls))
    errors: list[BaseException] = []

    def deliver(url: str) -> None:
        start.wait()
        try:
            cache.get(url)
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=deliver, args=(url,)) for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert errors == []
    assert most == 4
    assert len(cache) == len(urls)


def test_request_that_finds_no_free_download_slot_in_time_is_unavailable(ca: TestCA) -> None:
    pem = ca.issue_signer().certificate_pem
    release = threading.Event()
    fetching: list[str] = []

    def stuck_fetch(url: str) -> bytes:
        fetching.append(url)
        release.wait(10)
        return pem

    cache = CertificateCache(stuck_fetch, slot_wait=0.2)
    first, *others = _many_urls(5)
    busy = [threading.Thread(target=cache.get, args=(url,)) for url in others]
    for thread in busy:
        thread.start()
    try:
        # Every slot is taken before the request comes: with a slot still free it would get
        # through and wait 10 s on the stuck download instead of being refused.
        deadline = time.monotonic() + 10
        while len(fetching) < len(others):
            assert time.monotonic() < deadline, f"only {len(fetching)} downloads started"
            time.sleep(0.01)
        started = time.monotonic()
        with pytest.raises(CertificateUnavailable, match="too many certificate downloads"):
            cache.get(first)
        assert time.monotonic() - started < 2
    finally:
        release.set()
        for thread in busy:
            thread.join(timeout=10)
    cache.get(first)  # a slot shortage is not remembered as this URL's failure
