"""Signature verification alone, per message, warm certificate cache: bookapp vs a PyPI validator.

Run as `python -m bench.verify_compare --envelopes FILE --cert PEM --topic ARN --out FILE` by
`bench.b1`, in a virtualenv of its own when the third-party validator takes part (it is never a
dependency of the app or of the development virtualenv). Both verifiers get the same bodies
(bytes, as they arrive) and do their whole check: bookapp's `parse_envelope` + `Verifier.verify`,
and `aws_sns_verifier.validate_sns_signature` (pydantic model, URL pattern, signature version,
topic, issuer, validity, RSA signature). Each certificate cache is warmed with one download that
is counted; both must accept every message and reject a tampered one, else the figures would
compare different work.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import io
import json
import statistics
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from bench.contract import VALIDATOR_DISTRIBUTION
from bookapp.sns import CertificateCache, VerificationFailed, Verifier, parse_envelope

Check = Callable[[bytes], object]


def _time_each(check: Check, bodies: Sequence[bytes], passes: int) -> list[int]:
    samples: list[int] = []
    for _ in range(passes):
        for body in bodies:
            started = time.perf_counter_ns()
            check(body)
            samples.append(time.perf_counter_ns() - started)
    return samples


def _tampered(body: bytes) -> bytes:
    data = json.loads(body)
    data["Message"] = data["Message"] + " "
    return json.dumps(data).encode()


def _rejects(check: Check, body: bytes) -> bool:
    try:
        check(body)
    except Exception:
        return True
    return False


def _summary(samples: Sequence[int]) -> dict[str, Any]:
    ordered = sorted(samples)
    return {
        "messages_timed": len(samples),
        "median_us": statistics.median(samples) / 1000,
        "p99_us": ordered[max(0, int(len(ordered) * 0.99) - 1)] / 1000,
        "mean_us": statistics.fmean(samples) / 1000,
        "samples_us": [round(s / 1000, 2) for s in samples],
    }


def bookapp_verifier(topic: str, pem: bytes, downloads: list[str]) -> Check:
    def fetch(url: str) -> bytes:
        downloads.append(url)
        return pem

    verifier = Verifier(topic, CertificateCache(fetch))

    def check(body: bytes) -> None:
        verifier.verify(parse_envelope(body))

    return check


@contextlib.contextmanager
def _serve_certificate(pem: bytes, downloads: list[str]) -> Iterator[None]:
    """urlopen answers with `pem` while the validator's cache is warmed (no network here)."""
    original = urllib.request.urlopen

    def urlopen(url: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: ARG001
        downloads.append(str(url))
        return contextlib.nullcontext(io.BytesIO(pem))

    urllib.request.urlopen = urlopen
    try:
        yield
    finally:
        urllib.request.urlopen = original


def third_party_verifier(topic: str, pem: bytes, cert_url: str, downloads: list[str]) -> Check:
    # Only in the validator's own virtualenv; untyped.
    validator: Any = importlib.import_module("aws_sns_verifier.validator")

    with _serve_certificate(pem, downloads):
        validator._get_certificate(cert_url)

    def check(body: bytes) -> None:
        validator.validate_sns_signature(body, expected_topic_arn=topic)

    return check


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.verify_compare", description=__doc__)
    parser.add_argument("--envelopes", type=Path, required=True, help="one SNS body per line")
    parser.add_argument("--cert", type=Path, required=True, help="the signing certificate (PEM)")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--validator", action="store_true", help="also time aws-sns-verifier")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    bodies = [line for line in args.envelopes.read_bytes().splitlines() if line]
    pem = args.cert.read_bytes()
    cert_url = json.loads(bodies[0])["SigningCertURL"]
    results: dict[str, Any] = {"messages": len(bodies), "passes": args.passes}

    downloads: list[str] = []
    check = bookapp_verifier(args.topic, pem, downloads)
    check(bodies[0])  # warms the cache: the one download
    if not _rejects(check, _tampered(bodies[0])):
        raise VerificationFailed("bench", "bookapp accepted a tampered message")
    results["bookapp"] = {
        "name": "bookapp.sns (parse_envelope + Verifier.verify)",
        "certificate_downloads": len(downloads),
        "rejects_tampered": True,
        **_summary(_time_each(check, bodies, args.passes)),
    }
    if args.validator:
        third_downloads: list[str] = []
        third = third_party_verifier(args.topic, pem, cert_url, third_downloads)
        if not _rejects(third, _tampered(bodies[0])):
            raise RuntimeError(f"{VALIDATOR_DISTRIBUTION} accepted a tampered message")
        results["third_party"] = {
            "name": f"{VALIDATOR_DISTRIBUTION} {importlib.metadata.version(VALIDATOR_DISTRIBUTION)}"
            " (validate_sns_signature)",
            "certificate_downloads": len(third_downloads),
            "rejects_tampered": True,
            **_summary(_time_each(third, bodies, args.passes)),
        }
    args.out.write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
