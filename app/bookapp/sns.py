"""Verification of SNS HTTP(S) deliveries, as AWS documents it; pure apart from the certificate
download.

Every message is checked before anything is done with it: the envelope's shape (a UUID MessageId,
an ISO 8601 Timestamp), the topic, the signature version, the message's age (older than SNS's
longest retry window plus clock skew is a replay), the SigningCertURL (https, no credentials or
port, the SNS host of the topic's own region, an SNS certificate's path, no query), the
certificate's validity period, and the signature over the documented string to sign for its type.
There is no switch that skips a check. When `AWS_ENDPOINT_URL_SNS` is set (local stacks and
tests), the certificate is downloaded from that endpoint with the original URL's path, after the
original URL passed every check (the region's host included).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import SplitResult, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# SNS retries a delivery for at most 3600 s (the longest delivery policy it accepts) with the same
# Timestamp; 300 s more for the difference between SNS's clock and ours. An older message is a
# replay, not a retry. (bookapp.config reads JOB_MAX_MESSAGE_AGE_SECONDS against these.)
SNS_MAX_RETRY_SECONDS: Final = 3600
CLOCK_SKEW_SECONDS: Final = 300
DEFAULT_MAX_MESSAGE_AGE_SECONDS: Final = SNS_MAX_RETRY_SECONDS + CLOCK_SKEW_SECONDS

MessageType = Literal["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"]

MAX_BODY_BYTES: Final = 300 * 1024
# SNS's MessageId is a UUID; anything else is not SNS's, and is not worth logging or storing.
MESSAGE_ID_PATTERN: Final = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE
)
# How far in the future a Timestamp may be (SNS's clock ahead of ours).
CLOCK_SKEW: Final = datetime.timedelta(seconds=CLOCK_SKEW_SECONDS)
# SNS names its certificates SimpleNotificationService-<32 hex>.pem (moto: a uuid4 without dashes).
# Anything else on an SNS host is not a signing certificate, so it is not worth a download.
CERT_PATH_PATTERN: Final = re.compile(r"/SimpleNotificationService-[0-9a-f]{32}\.pem")
_MAX_CERT_BYTES: Final = 64 * 1024

_SIGNED_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_SIGNED_KEYS["UnsubscribeConfirmation"] = _SIGNED_KEYS["SubscriptionConfirmation"]
_REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    kind: (*(k for k in keys if k != "Subject"), "Signature", "SignatureVersion", "SigningCertURL")
    for kind, keys in _SIGNED_KEYS.items()
}
_HASHES: Final[dict[str, hashes.HashAlgorithm]] = {
    "1": hashes.SHA1(),  # noqa: S303 - SHA1withRSA, SNS's default signature version
    "2": hashes.SHA256(),  # SHA256withRSA, SignatureVersion "2" on the topic
}
_PKCS1: Final = padding.PKCS1v15()


class MalformedMessage(ValueError):  # noqa: N818 - reads as the condition it reports
    """The body is not an SNS envelope (400)."""


class VerificationFailed(Exception):  # noqa: N818
    """A check failed (403). `check` names it for the log."""

    def __init__(self, check: str, detail: str) -> None:
        super().__init__(f"{check}: {detail}")
        self.check = check


class CertificateUnavailable(Exception):  # noqa: N818
    """The certificate could not be downloaded right now (503: SNS retries)."""


@dataclass(frozen=True, slots=True)
class Envelope:
    type: MessageType
    fields: Mapping[str, str]
    timestamp: datetime.datetime

    @property
    def message_id(self) -> str:
        return self.fields["MessageId"]

    @property
    def topic_arn(self) -> str:
        return self.fields["TopicArn"]

    @property
    def message(self) -> str:
        return self.fields["Message"]


def parse_envelope(body: bytes) -> Envelope:
    """JSON whatever the Content-Type (SNS sends text/plain), with the fields its type requires."""
    if len(body) > MAX_BODY_BYTES:
        raise MalformedMessage(f"body is larger than {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise MalformedMessage("body is not JSON") from None
    except (RecursionError, ValueError):
        # Valid JSON that Python will not hold: nesting deeper than the recursion limit, or an
        # integer longer than int's digit limit.
        raise MalformedMessage(
            "body is JSON nested too deeply or with too large a number"
        ) from None
    if not isinstance(data, dict):
        raise MalformedMessage("body is not a JSON object")
    kind = data.get("Type")
    if kind not in _SIGNED_KEYS:
        raise MalformedMessage(f"Type must be one of {sorted(_SIGNED_KEYS)}")
    missing = [key for key in _REQUIRED[kind] if not isinstance(data.get(key), str)]
    if missing:
        raise MalformedMessage(f"{kind} lacks string field(s): {', '.join(missing)}")
    if "Subject" in data and not isinstance(data["Subject"], str | None):
        raise MalformedMessage("Subject must be a string")
    if not MESSAGE_ID_PATTERN.fullmatch(data["MessageId"]):
        raise MalformedMessage("MessageId is not a UUID")
    fields = {k: v for k, v in data.items() if isinstance(v, str)}
    return Envelope(type=kind, fields=fields, timestamp=_timestamp(data["Timestamp"]))


def _timestamp(raw: str) -> datetime.datetime:
    """SNS's Timestamp, ISO 8601 in UTC (2012-04-26T20:45:04.751Z)."""
    try:
        parsed = datetime.datetime.fromisoformat(raw) if len(raw) <= 40 else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise MalformedMessage("Timestamp is not an ISO 8601 time with a time zone")
    return parsed.astimezone(datetime.UTC)


# Each signed key with its "Key\n" line, built once: the string to sign is joined from these and
# the values as they are, with no per-field copy of the message.
_SIGNED_LINES: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    kind: tuple((key, f"{key}\n") for key in keys) for kind, keys in _SIGNED_KEYS.items()
}


def string_to_sign(envelope: Envelope) -> bytes:
    """ "Key\\nValue\\n" for each signed key of the message type, in AWS's order, when present."""
    fields = envelope.fields
    parts: list[str] = []
    for key, line in _SIGNED_LINES[envelope.type]:
        value = fields.get(key)
        if value is not None:
            parts += (line, value, "\n")
    return "".join(parts).encode()


def certificate_host(region: str) -> str:
    """The host SNS serves the signing certificates of `region`'s topics from."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"sns.{region}.{suffix}"


def _port_given(parts: SplitResult) -> bool:
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range: still a port
        return True
    return port is not None or parts.netloc.endswith(":")


# Each check looks at one part of the URL and refuses with its own reason: (name, reason, check).
# tests/app/test_sns_verification.py gives each a URL that every other check accepts.
CertificateUrlCheck = Callable[[str, SplitResult, str], bool]
CERTIFICATE_URL_CHECKS: Final[tuple[tuple[str, str, CertificateUrlCheck], ...]] = (
    ("scheme", "scheme is not https", lambda _url, parts, _region: parts.scheme == "https"),
    (
        "credentials",
        "has credentials",
        lambda _url, parts, _region: parts.username is None and parts.password is None,
    ),
    ("port", "has a port", lambda _url, parts, _region: not _port_given(parts)),
    # Exactly the topic's region's SNS host: any other host, a look-alike, another region's.
    (
        "host",
        "host is not SNS's in the topic's region",
        lambda _url, parts, region: parts.hostname == certificate_host(region),
    ),
    (
        "path",
        "path is not an SNS signing certificate's",
        lambda _url, parts, _region: CERT_PATH_PATTERN.fullmatch(parts.path) is not None,
    ),
    ("query", "has a query", lambda url, parts, _region: not parts.query and "?" not in url),
    (
        "fragment",
        "has a fragment",
        lambda url, parts, _region: not parts.fragment and "#" not in url,
    ),
)


def check_certificate_url(
    url: str,
    region: str,
    checks: tuple[tuple[str, str, CertificateUrlCheck], ...] = CERTIFICATE_URL_CHECKS,
) -> None:
    """Raises VerificationFailed with the reason of the first check the URL fails."""
    parts = urlsplit(url)
    for _name, reason, passes in checks:
        if not passes(url, parts, region):
            raise VerificationFailed("SigningCertURL", reason)


Fetcher = Callable[[str], bytes]


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """urlopen follows up to 10 redirects to any host, http included; the URL was checked, the
    target of a redirect was not. Returning None makes urllib raise the 3xx as an HTTPError."""

    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        return None


_OPENER: Final = urllib.request.build_opener(_RefuseRedirects)
# The answers that mean "later" rather than "no": SNS retries a 503 from us.
_RETRYABLE_STATUS: Final = frozenset({408, 429})


def make_fetcher(endpoint_override: str | None, timeout: float = 5.0) -> Fetcher:
    """Download over HTTPS from the validated host, or from `endpoint_override` + the URL's path."""

    def fetch(url: str) -> bytes:
        target = url
        if endpoint_override:
            target = endpoint_override.rstrip("/") + urlsplit(url).path
        request = urllib.request.Request(target, headers={"User-Agent": "bookapp"})  # noqa: S310
        try:
            with _OPENER.open(request, timeout=timeout) as response:
                data: bytes = response.read(_MAX_CERT_BYTES + 1)
        except urllib.error.HTTPError as error:
            if 300 <= error.code < 400:
                raise VerificationFailed("SigningCertURL", "redirect") from None
            if error.code >= 500 or error.code in _RETRYABLE_STATUS:
                raise CertificateUnavailable(
                    f"certificate download answered {error.code}"
                ) from None
            raise VerificationFailed(
                "SigningCertURL", f"certificate download answered {error.code}"
            ) from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise CertificateUnavailable(f"certificate download failed: {error}") from None
        if len(data) > _MAX_CERT_BYTES:
            raise VerificationFailed("SigningCertURL", "certificate document is too large")
        return data

    return fetch


# A certificate URL comes from an unsigned request: anyone can make the app download. Failures are
# remembered per URL (a refusal longer; "unavailable" for less than SNS's default 20 s between
# retries, so a real delivery's retry downloads again), and only a few downloads run at once, so
# worker threads shared with the API are not all spent waiting on downloads.
REFUSED_CACHE_SECONDS: Final = 60.0
UNAVAILABLE_CACHE_SECONDS: Final = 15.0
MAX_CONCURRENT_DOWNLOADS: Final = 4
DOWNLOAD_SLOT_WAIT_SECONDS: Final = 2.0
_MAX_FAILURES: Final = 256
# Certificate URLs a Verifier remembers as having passed the URL checks (SNS uses one per region
# at a time; a new one appears when SNS rotates its signing certificate).
_MAX_ACCEPTED_URLS: Final = 64


@dataclass(frozen=True, slots=True)
class SigningCertificate:
    """A downloaded certificate with what verification reads from it, parsed once per URL.

    `public_key` is None when the key is not RSA: such a certificate is kept (a refusal, not a
    failure to download) and refused each time it is named.
    """

    certificate: x509.Certificate
    public_key: rsa.RSAPublicKey | None
    not_before: datetime.datetime
    not_after: datetime.datetime

    @classmethod
    def of(cls, certificate: x509.Certificate) -> SigningCertificate:
        key = certificate.public_key()
        return cls(
            certificate=certificate,
            public_key=key if isinstance(key, rsa.RSAPublicKey) else None,
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
        )


class CertificateCache:
    """Parsed certificates by URL, least recently used dropped first; failures kept briefly.

    One download per URL at a time: requests that miss while it runs wait for it and take its
    result, so a burst of deliveries at start downloads the certificate once, not once each. At
    most MAX_CONCURRENT_DOWNLOADS run at once; a request that finds no free slot within
    DOWNLOAD_SLOT_WAIT_SECONDS answers "unavailable" (503: SNS retries).
    """

    def __init__(
        self,
        fetch: Fetcher,
        max_entries: int = 32,
        *,
        max_downloads: int = MAX_CONCURRENT_DOWNLOADS,
        slot_wait: float = DOWNLOAD_SLOT_WAIT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._max = max_entries
        self._entries: OrderedDict[str, SigningCertificate] = OrderedDict()
        self._failures: OrderedDict[str, tuple[float, Callable[[], Exception]]] = OrderedDict()
        self._lock = threading.Lock()
        self._downloads: dict[str, threading.Lock] = {}
        self._slots = threading.BoundedSemaphore(max_downloads)
        self._slot_wait = slot_wait
        self._clock = clock

    def _cached(self, url: str) -> SigningCertificate | None:
        """The certificate, or None; raises the remembered failure while it lasts."""
        with self._lock:
            if url in self._entries:
                self._entries.move_to_end(url)
                return self._entries[url]
            failure = self._failures.get(url)
            if failure is not None:
                expires, make_error = failure
                if self._clock() < expires:
                    raise make_error()
                del self._failures[url]
        return None

    def _remember_failure(self, url: str, error: Exception) -> None:
        make_error: Callable[[], Exception]
        if isinstance(error, VerificationFailed):
            check, detail = error.check, str(error).partition(": ")[2]
            make_error = lambda: VerificationFailed(check, detail)  # noqa: E731
            seconds = REFUSED_CACHE_SECONDS
        else:
            message = str(error)
            make_error = lambda: CertificateUnavailable(message)  # noqa: E731
            seconds = UNAVAILABLE_CACHE_SECONDS
        with self._lock:
            self._failures[url] = (self._clock() + seconds, make_error)
            self._failures.move_to_end(url)
            while len(self._failures) > _MAX_FAILURES:
                self._failures.popitem(last=False)

    def _download(self, url: str) -> SigningCertificate:
        if not self._slots.acquire(timeout=self._slot_wait):
            raise CertificateUnavailable("too many certificate downloads at once")
        try:
            document = self._fetch(url)
        except (VerificationFailed, CertificateUnavailable) as error:
            self._remember_failure(url, error)
            raise
        finally:
            self._slots.release()
        try:
            return SigningCertificate.of(x509.load_pem_x509_certificate(document))
        except ValueError:
            refused = VerificationFailed("certificate", "document is not a PEM certificate")
            self._remember_failure(url, refused)
            raise refused from None

    def get(self, url: str) -> x509.Certificate:
        return self.signing_certificate(url).certificate

    def signing_certificate(self, url: str) -> SigningCertificate:
        """The certificate of `url` and its parsed key: downloaded and parsed once per URL."""
        cached = self._cached(url)
        if cached is not None:
            return cached
        with self._lock:
            download = self._downloads.setdefault(url, threading.Lock())
        with download:
            try:
                cached = self._cached(url)  # another request finished it while this one waited
                if cached is not None:
                    return cached
                certificate = self._download(url)
            finally:
                with self._lock:
                    if self._downloads.get(url) is download:
                        del self._downloads[url]
            with self._lock:
                self._entries[url] = certificate
                self._entries.move_to_end(url)
                while len(self._entries) > self._max:
                    self._entries.popitem(last=False)
        return certificate

    def __len__(self) -> int:
        return len(self._entries)


# SNS's longest retry window plus clock skew; JOB_MAX_MESSAGE_AGE_SECONDS (bookapp.config).
DEFAULT_MAX_AGE: Final = datetime.timedelta(seconds=DEFAULT_MAX_MESSAGE_AGE_SECONDS)


class Verifier:
    """Checks envelopes for one topic; raises VerificationFailed or CertificateUnavailable.

    The certificate URL checks are a pure function of the URL and the topic's region, so a URL that
    passed them is remembered (at most _MAX_ACCEPTED_URLS, then the memory starts again) and the
    next message naming it skips the parse; a URL that failed is checked again every time.
    """

    def __init__(
        self,
        topic_arn: str,
        certificates: CertificateCache,
        clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
        max_age: datetime.timedelta = DEFAULT_MAX_AGE,
    ) -> None:
        self.topic_arn = topic_arn
        self.region = topic_arn.split(":")[3]
        self.certificates = certificates
        self.max_age = max_age
        self._clock = clock
        self._accepted_urls: set[str] = set()

    def _check_url(self, url: str) -> None:
        if url in self._accepted_urls:
            return
        check_certificate_url(url, self.region)
        if len(self._accepted_urls) >= _MAX_ACCEPTED_URLS:
            self._accepted_urls.clear()
        self._accepted_urls.add(url)

    def verify(self, envelope: Envelope) -> None:
        fields = envelope.fields
        if fields["TopicArn"] != self.topic_arn:
            raise VerificationFailed("TopicArn", "message is not from the job topic")
        version = fields["SignatureVersion"]
        algorithm = _HASHES.get(version)
        if algorithm is None:
            raise VerificationFailed("SignatureVersion", f"unknown version {version[:8]!r}")
        # Before the certificate download: a replayed message costs nothing. The Timestamp is
        # signed, so once the signature is checked below this is SNS's own time.
        now = self._clock()
        age = now - envelope.timestamp
        if age > self.max_age:
            raise VerificationFailed(
                "Timestamp", f"message is older than {int(self.max_age.total_seconds())} s"
            )
        if age < -CLOCK_SKEW:
            raise VerificationFailed("Timestamp", "message is from the future")
        url = fields["SigningCertURL"]
        self._check_url(url)
        try:
            signature = base64.b64decode(fields["Signature"], validate=True)
        except (binascii.Error, ValueError):
            raise VerificationFailed("Signature", "not base64") from None
        signing = self.certificates.signing_certificate(url)
        if not signing.not_before <= now <= signing.not_after:
            raise VerificationFailed("certificate", "outside its validity period")
        if signing.public_key is None:
            raise VerificationFailed("certificate", "key is not RSA")
        try:
            signing.public_key.verify(signature, string_to_sign(envelope), _PKCS1, algorithm)
        except InvalidSignature:
            raise VerificationFailed("Signature", "does not match the message") from None
