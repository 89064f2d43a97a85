"""The certificate download answers for itself: a redirect is never followed (the URL was checked,
its target was not), and only answers that mean "later" are retried."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from bookapp.sns import CertificateUnavailable, VerificationFailed, make_fetcher
from harness.sns_signing import TestCA

CERT_URL = (
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-"
    "0123456789abcdef0123456789abcdef.pem"
)


class _Server(http.server.ThreadingHTTPServer):
    status: int
    pem: bytes
    paths: list[str]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        if self.path == "/elsewhere.pem":
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.server.pem)))
            self.end_headers()
            self.wfile.write(self.server.pem)
            return
        self.send_response(self.server.status)
        host, port = self.server.server_address[:2]
        self.send_header("Location", f"http://{host!s}:{port}/elsewhere.pem")
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture(scope="module")
def running_server(ca: TestCA) -> Iterator[_Server]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.pem = ca.issue_signer().certificate_pem
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def server(running_server: _Server) -> _Server:
    running_server.paths = []
    return running_server


def _endpoint(server: _Server) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_certificate_download_that_redirects_is_refused_and_not_followed(
    server: _Server, status: int
) -> None:
    server.status = status
    with pytest.raises(VerificationFailed) as raised:
        make_fetcher(_endpoint(server), timeout=5)(CERT_URL)
    assert raised.value.check == "SigningCertURL"
    assert "redirect" in str(raised.value)
    assert server.paths == ["/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem"]


@pytest.mark.parametrize("status", [408, 429, 500, 503])
def test_certificate_download_answered_later_is_retryable(server: _Server, status: int) -> None:
    server.status = status
    with pytest.raises(CertificateUnavailable):
        make_fetcher(_endpoint(server), timeout=5)(CERT_URL)


@pytest.mark.parametrize("status", [403, 404])
def test_certificate_download_refused_is_a_failed_verification(
    server: _Server, status: int
) -> None:
    server.status = status
    with pytest.raises(VerificationFailed):
        make_fetcher(_endpoint(server), timeout=5)(CERT_URL)
