"""The SNS endpoint the app talks to in the rehearsal: moto's server, plus its signing certificates.

moto 5.2.5 signs every HTTP notification with SignatureVersion "2" (SHA256withRSA, whatever the
topic says), with a fresh certificate per subscription, and puts
`https://sns.<region>.amazonaws.com/SimpleNotificationService-<id>.pem` in `SigningCertURL`. Its
server hands that certificate out only to a request whose `Authorization` header has an SigV4
credential scope naming the `sns` service (that is how it picks the backend for a loopback host);
a real certificate download carries no signature, so the app's unsigned GET would get a 404.

This forwarder sits at the app's `AWS_ENDPOINT_URL_SNS`: SNS API calls pass to moto unchanged
(they are signed already), and an unsigned GET of a `.pem` path gets an `Authorization` header
naming `sns` in the harness's region. The app keeps its real verification path: it still checks
the certificate URL's shape, downloads the certificate, and verifies the signature with it.
"""

from __future__ import annotations

import http.client
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

# Headers that belong to one hop, never forwarded (RFC 9110 §7.6.1).
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


def certificate_authorization(region: str) -> str:
    """An Authorization header moto's server reads as "this is an SNS request in `region`".

    moto's server only parses the credential scope to route the request; it does not check the
    signature of a certificate download.
    """
    return (
        f"AWS4-HMAC-SHA256 Credential=testing/20250101/{region}/sns/aws4_request, "
        "SignedHeaders=host, Signature=0"
    )


class SnsCertProxy:
    """A forwarding HTTP endpoint on 127.0.0.1 in front of moto's server, in a background thread."""

    def __init__(self, upstream_url: str, *, region: str) -> None:
        parts = urllib.parse.urlsplit(upstream_url)
        if parts.scheme != "http" or parts.hostname is None or parts.port is None:
            raise ValueError(f"upstream must be http://host:port, got {upstream_url!r}")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port
        self.region = region
        self.certificate_requests = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the SNS certificate proxy is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Self:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: ARG002
                return

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {
                    name: value
                    for name, value in self.headers.items()
                    if name.lower() not in _HOP_BY_HOP
                }
                path = urllib.parse.urlsplit(self.path).path
                if (
                    self.command == "GET"
                    and path.endswith(".pem")
                    and "Authorization" not in self.headers
                ):
                    headers["Authorization"] = certificate_authorization(proxy.region)
                    proxy.certificate_requests += 1
                connection = http.client.HTTPConnection(
                    proxy.upstream_host, proxy.upstream_port, timeout=60
                )
                try:
                    connection.request(self.command, self.path, body=body, headers=headers)
                    upstream = connection.getresponse()
                    payload = upstream.read()
                    self.send_response(upstream.status, upstream.reason)
                    for name, value in upstream.getheaders():
                        if name.lower() not in _HOP_BY_HOP:
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError as error:
                    message = f"moto's server is unreachable: {error}".encode()
                    self.send_response(502)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(message)))
                    self.end_headers()
                    self.wfile.write(message)
                finally:
                    connection.close()

            do_GET = do_POST = do_PUT = do_DELETE = _forward  # noqa: N815

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="sns-cert-proxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
