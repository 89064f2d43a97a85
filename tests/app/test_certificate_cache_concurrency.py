"""A burst of deliveries that all miss the certificate cache downloads the certificate once.

Found by `make bench` (B1): with 16 concurrent first deliveries each request downloaded the
certificate itself. Requests that miss while a download of the same URL runs now wait for it.
"""

from __future__ import annotations

import threading
import time

import pytest

from bookapp.sns import CertificateCache, CertificateUnavailable
from harness.sns_signing import TestCA

URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-burst.pem"


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


def test_a_failed_download_is_not_cached_and_the_next_request_tries_again(ca: TestCA) -> None:
    pem = ca.issue_signer().certificate_pem
    attempts: list[str] = []

    def flaky_fetch(url: str) -> bytes:
        attempts.append(url)
        if len(attempts) == 1:
            raise CertificateUnavailable("certificate download answered 503")
        return pem

    cache = CertificateCache(flaky_fetch)
    with pytest.raises(CertificateUnavailable):
        cache.get(URL)
    cache.get(URL)
    cache.get(URL)
    assert attempts == [URL, URL]
