"""Under steady concurrent load the engine reuses its connections instead of opening new ones.

Found by `make bench` (B1): with `pool_size=5, max_overflow=10`, 16 concurrent deliveries made
SQLAlchemy close each overflow connection on return and open a new one (TLS and SCRAM included)
for nearly every request.
"""

from __future__ import annotations

import random
import threading
import time

import sqlalchemy as sa

from bookapp.config import parse_database_url
from bookapp.db import POOL_SIZE, create_engine
from harness.postgres import PostgresServer


def test_sixteen_concurrent_users_open_no_more_connections_than_the_pool_holds(
    pg: PostgresServer,
) -> None:
    engine = create_engine(parse_database_url(pg.url()))
    opened: list[int] = []
    sa.event.listen(engine, "connect", lambda *_: opened.append(1))
    start = threading.Barrier(16)

    def user(index: int) -> None:
        pause = random.Random(index)  # noqa: S311 - jitter, not cryptography
        start.wait()
        for _ in range(25):
            with engine.begin() as connection:
                connection.execute(sa.text("SELECT 1"))
            # The rest of a request (parse, verify, respond) happens between checkouts.
            time.sleep(pause.uniform(0, 0.004))

    threads = [threading.Thread(target=user, args=(i,)) for i in range(16)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        engine.dispose()
    assert 1 <= len(opened) <= POOL_SIZE
