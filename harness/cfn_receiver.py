"""Where the rehearsal's custom resources send their answers: a ResponseURL on loopback.

In AWS the ResponseURL is a presigned S3 URL and crhelper PUTs the response body there with
`http.client.HTTPSConnection` and a default SSL context (no way to turn verification off from
the event). So this receiver speaks HTTPS with a throwaway certificate for 127.0.0.1 (an IP
subject alternative name) issued by a throwaway CA; the Lambda runtime process gets that CA as
`SSL_CERT_FILE`, which OpenSSL's default verify paths honour. The functions stay unchanged.

Bodies are kept by their `RequestId`; `wait(request_id, timeout)` returns the first one, as
CloudFormation takes the first answer for a request.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.processes import Service, stop_server_thread

# CloudFormation refuses a custom resource response larger than this.
MAX_RESPONSE_BYTES = 4096


def write_loopback_tls(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it: (ca.pem, cert.pem, key.pem)."""
    now = datetime.datetime.now(datetime.UTC)
    validity = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rehearsal throwaway CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    ca_path, cert_path, key_path = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.touch(mode=0o600)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_path, cert_path, key_path


class CfnResponseReceiver(Service):
    """An HTTPS endpoint on 127.0.0.1 that collects the JSON bodies PUT to ResponseURLs."""

    def __init__(self, workdir: Path) -> None:
        self.ca_file, self._cert_file, self._key_file = write_loopback_tls(workdir / "cfn-tls")
        self._bodies: dict[str, list[dict[str, Any]]] = {}
        self._sizes: dict[str, list[int]] = {}
        self._arrived = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the CloudFormation response receiver is not started")
        return self._server.server_address[1]

    @property
    def origin(self) -> str:
        """The https origin of this receiver, for the functions' LOCAL_RESPONSE_ORIGIN."""
        return f"https://127.0.0.1:{self.port}"

    def response_url(self, request_id: str) -> str:
        """A ResponseURL for `request_id`, shaped like CloudFormation's presigned one."""
        return (
            f"https://127.0.0.1:{self.port}/cloudformation-responses/{request_id}"
            "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=rehearsal"
        )

    @staticmethod
    def new_request_id() -> str:
        return str(uuid.uuid4())

    def start(self) -> Self:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: ARG002
                return

            def do_PUT(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                    request_id = str(body["RequestId"])
                except (ValueError, KeyError, TypeError):
                    self.send_response(400)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                receiver._record(request_id, body, len(raw))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self._cert_file, self._key_file)
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="cfn-receiver", daemon=True
        )
        self._thread.start()
        return self

    def _record(self, request_id: str, body: dict[str, Any], size: int) -> None:
        with self._arrived:
            self._bodies.setdefault(request_id, []).append(body)
            self._sizes.setdefault(request_id, []).append(size)
            self._arrived.notify_all()

    def wait(self, request_id: str, timeout: float) -> dict[str, Any]:
        """The first body sent for `request_id`; TimeoutError when none came within `timeout` s."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: request_id in self._bodies, timeout=timeout):
                raise TimeoutError(
                    f"no CloudFormation response for request {request_id} within {timeout:.0f} s"
                )
            body = self._bodies[request_id][0]
            size = self._sizes[request_id][0]
        if size > MAX_RESPONSE_BYTES:
            raise ValueError(
                f"response for request {request_id} is {size} bytes; "
                f"CloudFormation accepts at most {MAX_RESPONSE_BYTES}"
            )
        return body

    def bodies(self, request_id: str) -> list[dict[str, Any]]:
        """Every body sent for `request_id`, in arrival order (duplicates included)."""
        with self._arrived:
            return list(self._bodies.get(request_id, []))

    def stop(self) -> None:
        stop_server_thread(self._server, self._thread)
        self._server = None
        self._thread = None
