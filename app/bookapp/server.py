"""The production server: uvicorn with worker processes, timeouts sized for App Runner.

App Runner ends a request after 120 s and sends SIGTERM before replacing an instance. Keep-alive
outlives the front proxy's idle connections; graceful shutdown lets running requests (jobs) finish.

X-Forwarded-For and X-Forwarded-Proto are not trusted from anyone. The app decides nothing by the
client's address or scheme (TLS ends at App Runner's or the load balancer's front end, and the
signature, not the sender, authenticates a job), and the front ends' addresses are not a fixed
set the app could name: trusting the headers from any address, as before, let every client write
the address and scheme that logs and traces record.
"""

from __future__ import annotations

import uvicorn

from bookapp.config import Settings

KEEP_ALIVE_SECONDS = 75
GRACEFUL_SHUTDOWN_SECONDS = 30


def serve(settings: Settings) -> None:
    uvicorn.run(
        "bookapp.web:create_app",
        factory=True,
        host=settings.host,  # 0.0.0.0 unless HOST says otherwise (local stacks: 127.0.0.1)
        port=settings.port,
        workers=settings.web_concurrency,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        proxy_headers=False,
        forwarded_allow_ips="",
        log_config=None,
        access_log=False,
        server_header=False,
    )
