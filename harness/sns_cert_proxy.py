"""The rehearsal's SNS endpoint: moto's server, plus its signing certificates and SNS's handshake.

moto 5.2.5 signs every HTTP notification with SignatureVersion "2" (SHA256withRSA, whatever the
topic says), with a fresh certificate per subscription, and puts
`https://sns.<region>.amazonaws.com/SimpleNotificationService-<id>.pem` in `SigningCertURL`. Its
server hands that certificate out only to a request whose `Authorization` header has an SigV4
credential scope naming the `sns` service (that is how it picks the backend for a loopback host);
a real certificate download carries no signature, so the app's unsigned GET would get a 404.

This forwarder sits at `AWS_ENDPOINT_URL_SNS` of the app and of the functions: SNS API calls pass
to moto unchanged (they are signed already), and an unsigned GET of a `.pem` path gets an
`Authorization` header naming `sns` in the harness's region. The app keeps its real verification
path: it checks the certificate URL's shape, downloads the certificate, verifies the signature.

moto also confirms HTTP(S) subscriptions at once and never sends a SubscriptionConfirmation, so
"deploy succeeded means jobs can be delivered" could not fail locally. With
`confirm_subscriptions=True` the forwarder plays SNS's part of the handshake: after a Subscribe
for an http(s) endpoint it keeps the subscription pending (GetSubscriptionAttributes answers
`PendingConfirmation` "true"), POSTs a signed SubscriptionConfirmation to the endpoint (a few
attempts, as SNS retries), and marks it confirmed when ConfirmSubscription brings the token back.
Not reproduced: moto still delivers notifications to a pending subscription.
"""

from __future__ import annotations

import html
import http.client
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

from harness.processes import Service, stop_server_thread
from harness.sns_signing import Signer, TestCA, build_envelope

_XMLNS = "http://sns.amazonaws.com/doc/2010-03-31/"
# SNS tries a SubscriptionConfirmation a few times before giving up on an endpoint.
CONFIRMATION_ATTEMPTS = 3
CONFIRMATION_RETRY_SECONDS = 2.0

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


@dataclass
class _Pending:
    topic_arn: str
    endpoint: str
    token: str


@dataclass(frozen=True)
class _Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _xml(status: int, body: str) -> _Reply:
    return _Reply(status, [("Content-Type", "text/xml")], body.encode())


def _error(code: str, message: str) -> _Reply:
    return _xml(
        400,
        f'<ErrorResponse xmlns="{_XMLNS}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{html.escape(message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>",
    )


class SnsCertProxy(Service):
    """A forwarding HTTP endpoint on 127.0.0.1 in front of moto's server, in a background thread."""

    def __init__(
        self, upstream_url: str, *, region: str, confirm_subscriptions: bool = False
    ) -> None:
        parts = urllib.parse.urlsplit(upstream_url)
        if parts.scheme != "http" or parts.hostname is None or parts.port is None:
            raise ValueError(f"upstream must be http://host:port, got {upstream_url!r}")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port
        self.region = region
        self.confirm_subscriptions = confirm_subscriptions
        self.certificate_requests = 0
        self.confirmation_attempts: dict[str, int] = {}
        self._pending: dict[str, _Pending] = {}
        self._confirmed: set[str] = set()
        self._certificates: dict[str, bytes] = {}
        self._signer: Signer | None = None
        self._cert_url = ""
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the SNS certificate proxy is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def is_pending(self, subscription_arn: str) -> bool:
        with self._lock:
            return subscription_arn in self._pending

    # -- requests --------------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> _Reply:
        bare_path = urllib.parse.urlsplit(path).path
        if method == "GET" and bare_path in self._certificates:
            self.certificate_requests += 1
            return _Reply(
                200, [("Content-Type", "application/x-pem-file")], self._certificates[bare_path]
            )
        if method == "GET" and bare_path.endswith(".pem") and "Authorization" not in headers:
            headers["Authorization"] = certificate_authorization(self.region)
            self.certificate_requests += 1
        params: dict[str, str] = {}
        if method == "POST" and self.confirm_subscriptions:
            parsed = urllib.parse.parse_qs(body.decode(errors="replace"), keep_blank_values=True)
            params = {key: values[0] for key, values in parsed.items()}
        action = params.get("Action", "")
        if action == "ConfirmSubscription":
            return self._confirm(params)
        reply = self._upstream(method, path, headers, body)
        if reply.status != 200 or not action:
            return reply
        if action == "Subscribe" and params.get("Protocol") in ("http", "https"):
            self._subscribed(params, reply)
        elif action == "GetSubscriptionAttributes" and self.is_pending(
            params.get("SubscriptionArn", "")
        ):
            text = reply.body.decode()
            text = re.sub(
                r"(<key>PendingConfirmation</key>\s*<value>)false(</value>)", r"\1true\2", text
            )
            return _Reply(reply.status, reply.headers, text.encode())
        elif action == "Unsubscribe":
            with self._lock:
                self._pending.pop(params.get("SubscriptionArn", ""), None)
                self._confirmed.discard(params.get("SubscriptionArn", ""))
        return reply

    def _upstream(self, method: str, path: str, headers: dict[str, str], body: bytes) -> _Reply:
        connection = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=60)
        try:
            connection.request(method, path, body=body or None, headers=headers)
            upstream = connection.getresponse()
            payload = upstream.read()
            kept = [(k, v) for k, v in upstream.getheaders() if k.lower() not in _HOP_BY_HOP]
            return _Reply(upstream.status, kept, payload)
        except OSError as error:
            message = f"moto's server is unreachable: {error}".encode()
            return _Reply(502, [("Content-Type", "text/plain")], message)
        finally:
            connection.close()

    # -- the confirmation handshake ----------------------------------------------------------------

    def _subscribed(self, params: dict[str, str], reply: _Reply) -> None:
        found = re.search(r"<SubscriptionArn>([^<]+)</SubscriptionArn>", reply.body.decode())
        if found is None:
            return
        arn = html.unescape(found.group(1))
        with self._lock:
            if arn in self._confirmed or arn in self._pending:
                return
            pending = _Pending(
                topic_arn=params.get("TopicArn", ""),
                endpoint=params.get("Endpoint", ""),
                token=secrets.token_hex(64),
            )
            self._pending[arn] = pending
        threading.Thread(
            target=self._send_confirmation,
            args=(arn, pending),
            name="sns-confirmation",
            daemon=True,
        ).start()

    def _signing(self) -> tuple[Signer, str]:
        with self._lock:
            if self._signer is None:
                self._signer = TestCA("Rehearsal SNS CA").issue_signer()
                name = f"SimpleNotificationService-{uuid.uuid4().hex}.pem"
                self._certificates[f"/{name}"] = self._signer.certificate_pem
                self._cert_url = f"https://sns.{self.region}.amazonaws.com/{name}"
            return self._signer, self._cert_url

    def _send_confirmation(self, arn: str, pending: _Pending) -> None:
        signer, cert_url = self._signing()
        envelope = build_envelope(
            "SubscriptionConfirmation",
            signer=signer,
            cert_url=cert_url,
            topic_arn=pending.topic_arn,
            token=pending.token,
            signature_version="2",
        )
        for attempt in range(CONFIRMATION_ATTEMPTS):
            if attempt:
                time.sleep(CONFIRMATION_RETRY_SECONDS)
            if not self.is_pending(arn):
                return
            self.confirmation_attempts[arn] = attempt + 1
            request = urllib.request.Request(  # noqa: S310 - the subscriber's endpoint
                pending.endpoint,
                data=json.dumps(envelope).encode(),
                method="POST",
                headers={
                    "Content-Type": "text/plain; charset=UTF-8",
                    "x-amz-sns-message-type": "SubscriptionConfirmation",
                    "x-amz-sns-message-id": envelope["MessageId"],
                    "x-amz-sns-topic-arn": pending.topic_arn,
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=15):  # noqa: S310
                    pass
            except urllib.error.HTTPError as error:
                if error.code < 500:
                    return  # SNS does not retry a 4xx
            except OSError:
                continue
            else:
                return

    def _confirm(self, params: dict[str, str]) -> _Reply:
        topic_arn, token = params.get("TopicArn", ""), params.get("Token", "")
        with self._lock:
            for arn, pending in self._pending.items():
                if pending.topic_arn == topic_arn and secrets.compare_digest(pending.token, token):
                    del self._pending[arn]
                    self._confirmed.add(arn)
                    break
            else:
                return _error("InvalidParameter", "Invalid parameter: Token")
        return _xml(
            200,
            f'<ConfirmSubscriptionResponse xmlns="{_XMLNS}"><ConfirmSubscriptionResult>'
            f"<SubscriptionArn>{html.escape(arn)}</SubscriptionArn></ConfirmSubscriptionResult>"
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
            "</ConfirmSubscriptionResponse>",
        )

    # -- the server --------------------------------------------------------------------------------

    def start(self) -> Self:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: ARG002
                return

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {
                    name: value
                    for name, value in self.headers.items()
                    if name.lower() not in _HOP_BY_HOP
                }
                reply = proxy.handle(self.command, self.path, headers, body)
                self.send_response(reply.status)
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

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
        stop_server_thread(self._server, self._thread)
        self._server = None
        self._thread = None
