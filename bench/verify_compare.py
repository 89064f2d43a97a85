"""Signature verification alone, per message, warm certificate cache: bookapp and a PyPI
validator, each beside a floor measured in the same run.

The floor is the least any verifier must do per message: parse the body's JSON, build the
documented string to sign from it, decode the signature and make one RSA verification with a key
parsed beforehand (no checks of topic, age, URL or validity, no cache look-up). Both verifiers are
reported as a ratio to it (`bookapp_over_floor`, `third_party_over_floor`), which holds on a noisy
machine where the microseconds do not.

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
import base64
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

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bench.contract import VALIDATOR_DISTRIBUTION
from bookapp.sns import CertificateCache, VerificationFailed, Verifier, parse_envelope

Check = Callable[[bytes], object]
TARGET_BOOKAPP_OVER_FLOOR = 1.2


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


# The keys of a Notification's string to sign, in AWS's order (the bench signs Notifications only).
_NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_HASHES = {"1": hashes.SHA1(), "2": hashes.SHA256()}  # noqa: S303 - SNS's version 1 is SHA1


def floor_verifier(pem: bytes) -> Check:
    """JSON parse, string to sign, base64 decode, one RSA verify with the key parsed beforehand."""
    public_key = x509.load_pem_x509_certificate(pem).public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise TypeError("the signing certificate's key is not RSA")
    pkcs1 = padding.PKCS1v15()

    def check(body: bytes) -> None:
        data = json.loads(body)
        signed = "".join(
            f"{key}\n{data[key]}\n" for key in _NOTIFICATION_KEYS if data.get(key) is not None
        ).encode()
        public_key.verify(
            base64.b64decode(data["Signature"]), signed, pkcs1, _HASHES[data["SignatureVersion"]]
        )

    return check


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

    floor = floor_verifier(pem)
    floor(bodies[0])
    if not _rejects(floor, _tampered(bodies[0])):
        raise RuntimeError("the floor accepted a tampered message")
    checks: dict[str, Check] = {"floor": floor}

    downloads: list[str] = []
    check = bookapp_verifier(args.topic, pem, downloads)
    check(bodies[0])  # warms the cache: the one download
    if not _rejects(check, _tampered(bodies[0])):
        raise VerificationFailed("bench", "bookapp accepted a tampered message")
    checks["bookapp"] = check
    results["floor"] = {
        "name": "floor (JSON parse, string to sign, one RSA verify with the key parsed once)",
        "rejects_tampered": True,
    }
    results["bookapp"] = {
        "name": "bookapp.sns (parse_envelope + Verifier.verify)",
        "certificate_downloads": len(downloads),
        "rejects_tampered": True,
    }
    if args.validator:
        third_downloads: list[str] = []
        third = third_party_verifier(args.topic, pem, cert_url, third_downloads)
        if not _rejects(third, _tampered(bodies[0])):
            raise RuntimeError(f"{VALIDATOR_DISTRIBUTION} accepted a tampered message")
        checks["third_party"] = third
        results["third_party"] = {
            "name": f"{VALIDATOR_DISTRIBUTION} {importlib.metadata.version(VALIDATOR_DISTRIBUTION)}"
            " (validate_sns_signature)",
            "certificate_downloads": len(third_downloads),
            "rejects_tampered": True,
        }
    # Interleaved passes (floor, bookapp, validator; then the next pass), so a slow patch of the
    # machine falls on each alike.
    samples: dict[str, list[int]] = {name: [] for name in checks}
    for _ in range(args.passes):
        for name, timed in checks.items():
            samples[name] += _time_each(timed, bodies, 1)
    for name, timed_samples in samples.items():
        results[name].update(_summary(timed_samples))
    floor_median = results["floor"]["median_us"]
    results["bookapp_over_floor"] = results["bookapp"]["median_us"] / floor_median
    results["target_bookapp_over_floor"] = TARGET_BOOKAPP_OVER_FLOOR
    if "third_party" in results:
        results["third_party_over_floor"] = results["third_party"]["median_us"] / floor_median
    args.out.write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
