"""An HTTP endpoint on loopback that records the JSON bodies SNS (moto) posts to it.

moto signs each subscription's copy of a message with the same MessageId, so a captured envelope
is what SNS would send the app again when it retries a delivery.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from harness.processes import stop_server_thread


class CapturingSubscriber:
    """Records every POSTed JSON body in `bodies`; subscribe `url` over http."""

    def __init__(self, path: str = "/capture") -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def envelope_of(self, message_id: str) -> dict[str, Any]:
        for envelope in self.bodies:
            if envelope["MessageId"] == message_id:
                return envelope
        raise AssertionError(f"no envelope captured for {message_id}")

    def close(self) -> None:
        stop_server_thread(self.server, self.thread)
