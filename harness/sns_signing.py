"""Real SNS message signing for tests and the local stack: keys, certificates, envelopes, a server.

The app verifies every SNS message the way AWS documents it, with no switch to turn that off, so
tests and the demo must produce messages that are really signed: this module makes a test CA and
signing certificates, builds SNS-shaped envelopes (Notification, SubscriptionConfirmation,
UnsubscribeConfirmation) signed with signature version 1 (SHA1withRSA) or 2 (SHA256withRSA) over the
documented string to sign, and serves the certificate over HTTP at the path of its
`SigningCertURL`. Point the app's `AWS_ENDPOINT_URL_SNS` at `CertificateServer.endpoint`; with
`upstream=` (moto's server) every other request is forwarded, so SNS API calls such as
ConfirmSubscription reach moto through the same endpoint.

The string to sign is implemented here independently of the app, on purpose: the tests check one
implementation against the other.

Usage::

    ca = TestCA()
    signer = ca.issue_signer()  # valid now; issue_signer(expired=True) for a dead one
    with CertificateServer(upstream=moto_url) as certs:
        # https://sns.us-east-1.amazonaws.com/SimpleNotificationService-<id>.pem
        cert_url = certs.publish(signer)
        envelope = build_envelope(
            "Notification", signer=signer, cert_url=cert_url, topic_arn=arn,
            message={"job": "test_book_job", "payload": {}}, signature_version="2",
        )
"""

from __future__ import annotations

import base64
import datetime
import http.client
import http.server
import json
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Self
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

__all__ = [
    "CertificateServer",
    "MessageType",
    "Signer",
    "TestCA",
    "build_envelope",
    "sign_envelope",
    "string_to_sign",
]

MessageType = Literal["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"]

_NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_CONFIRMATION_KEYS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass(frozen=True)
class Signer:
    """A signing key and its certificate (PEM), as SNS holds them."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


class TestCA:
    """A throwaway certificate authority that issues SNS-like signing certificates."""

    __test__ = False  # not a pytest test class

    def __init__(self, common_name: str = "Harness Test Root CA") -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = _utcnow()
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    def issue_signer(
        self,
        common_name: str = "sns.amazonaws.com",
        *,
        not_before: datetime.datetime | None = None,
        not_after: datetime.datetime | None = None,
        expired: bool = False,
        key_size: int = 2048,
    ) -> Signer:
        """A new RSA key and a certificate for it; `expired=True` ends its validity an hour ago."""
        now = _utcnow()
        if expired:
            not_before = not_before or now - datetime.timedelta(days=2)
            not_after = not_after or now - datetime.timedelta(hours=1)
        key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - datetime.timedelta(hours=1))
            .not_valid_after(not_after or now + datetime.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        return Signer(key=key, certificate=certificate)


def string_to_sign(envelope: Mapping[str, str]) -> bytes:
    """AWS's documented form: "Key\\nValue\\n" for the type's keys in order, those present."""
    keys = _NOTIFICATION_KEYS if envelope["Type"] == "Notification" else _CONFIRMATION_KEYS
    return "".join(f"{key}\n{envelope[key]}\n" for key in keys if key in envelope).encode()


def sign_envelope(envelope: dict[str, str], signer: Signer, signature_version: str = "1") -> None:
    """Set `SignatureVersion` and `Signature` on an envelope in place."""
    algorithm: hashes.HashAlgorithm = hashes.SHA1() if signature_version == "1" else hashes.SHA256()  # noqa: S303
    signature = signer.key.sign(string_to_sign(envelope), padding.PKCS1v15(), algorithm)
    envelope["SignatureVersion"] = signature_version
    envelope["Signature"] = base64.b64encode(signature).decode()


def build_envelope(
    message_type: MessageType,
    *,
    signer: Signer,
    cert_url: str,
    topic_arn: str,
    message: str | Mapping[str, object] = "",
    signature_version: str = "1",
    message_id: str | None = None,
    subject: str | None = None,
    token: str | None = None,
    subscribe_url: str | None = None,
    timestamp: datetime.datetime | None = None,
) -> dict[str, str]:
    """A complete SNS HTTP(S) delivery body, signed for real.

    `message` may be a mapping (it is JSON-encoded, like the job messages). Confirmation types get a
    Token and SubscribeURL if not given. `signature_version` "1" signs with SHA1withRSA, "2" with
    SHA256withRSA; any other value is written as given with a SHA256 signature (to test rejection).
    """
    body = message if isinstance(message, str) else json.dumps(message)
    region = topic_arn.split(":")[3] if topic_arn.count(":") >= 5 else "us-east-1"
    stamp = (timestamp or _utcnow()).astimezone(datetime.UTC)
    envelope: dict[str, str] = {
        "Type": message_type,
        "MessageId": message_id or str(uuid.uuid4()),
        "TopicArn": topic_arn,
        "Message": body,
        "Timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z",
        "SigningCertURL": cert_url,
    }
    if message_type == "Notification":
        if subject is not None:
            envelope["Subject"] = subject
        envelope["UnsubscribeURL"] = (
            f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic_arn}:"
            f"{uuid.uuid4()}"
        )
    else:
        envelope["Token"] = token or uuid.uuid4().hex * 4
        envelope["SubscribeURL"] = subscribe_url or (
            f"https://sns.{region}.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic_arn}"
            f"&Token={envelope['Token']}"
        )
        if not body:
            envelope["Message"] = (
                f"You have chosen to subscribe to the topic {topic_arn}.\n"
                "To confirm the subscription, visit the SubscribeURL included in this message."
            )
    sign_envelope(envelope, signer, signature_version)
    return envelope


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _CertHTTPServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: ARG002 - quiet
        return

    def _forward(self) -> None:
        upstream = self.server.upstream
        if upstream is None:
            self.send_error(404, "not a published certificate")
            return
        target = urlsplit(upstream)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        connection = http.client.HTTPConnection(
            target.hostname or "127.0.0.1", target.port, timeout=30
        )
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in {"transfer-encoding", "connection", "content-length"}:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        finally:
            connection.close()

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        pem = self.server.certificates.get(path)
        if pem is None:
            self._forward()
            return
        with self.server.lock:
            self.server.hits[path] = self.server.hits.get(path, 0) + 1
        self.send_response(200)
        self.send_header("Content-Type", "application/x-pem-file")
        self.send_header("Content-Length", str(len(pem)))
        self.end_headers()
        self.wfile.write(pem)

    def do_POST(self) -> None:
        self._forward()


class _CertHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = upstream
        self.certificates: dict[str, bytes] = {}
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()


class CertificateServer:
    """Serves published signing certificates at `/SimpleNotificationService-<id>.pem` on loopback.

    `endpoint` is what `AWS_ENDPOINT_URL_SNS` points at. Other requests go to `upstream` if given
    (for example moto's server), else 404. `hits(cert_url)` counts downloads, to test caching.
    """

    def __init__(self, *, upstream: str | None = None, region: str = "us-east-1") -> None:
        self._server = _CertHTTPServer(upstream)
        self._region = region
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def publish(self, signer: Signer | bytes, name: str | None = None) -> str:
        """Serve a certificate; returns the SigningCertURL an SNS message would carry for it."""
        pem = signer if isinstance(signer, bytes) else signer.certificate_pem
        path = f"/SimpleNotificationService-{name or uuid.uuid4().hex}.pem"
        with self._server.lock:
            self._server.certificates[path] = pem
        return f"https://sns.{self._region}.amazonaws.com{path}"

    def hits(self, cert_url: str) -> int:
        with self._server.lock:
            return self._server.hits.get(urlsplit(cert_url).path, 0)

    def start(self) -> Self:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def iter_message_types() -> Iterator[MessageType]:
    """All three envelope types, for parametrised tests."""
    yield from ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")
