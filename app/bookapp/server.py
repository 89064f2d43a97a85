"""The production server: uvicorn with worker processes, timeouts sized for App Runner.

App Runner ends a request after 120 s and sends SIGTERM before replacing an instance. Keep-alive
outlives the front proxy's idle connections; graceful shutdown lets running requests (jobs) finish.
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
        proxy_headers=True,
        forwarded_allow_ips="*",
        log_config=None,
        access_log=False,
        server_header=False,
    )
