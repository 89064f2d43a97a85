"""The load generator: a fixed number of POSTs at a fixed concurrency, from its own process.

Run by `bench.b1` as `python -m bench.loadgen --port P --path /jobs --bodies FILE --concurrency 16
--out FILE`: `FILE` holds one request body per line, each sent once. It opens `concurrency`
keep-alive connections first, then starts the clock; each connection sends its next request as
soon as the previous answer is read (HTTP/1.1 on raw asyncio streams: the generator's own cost
per request is a few tens of microseconds, small beside the server's). It writes every latency,
every status and the wall time to `--out` as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class LoadResult:
    requests: int
    concurrency: int
    wall_seconds: float
    latencies_ns: list[int] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status != "200")


def build_request(host: str, port: int, path: str, body: bytes) -> bytes:
    """A request as SNS sends it: JSON body as text/plain with SNS's message-type header."""
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "User-Agent: Amazon Simple Notification Service Agent\r\n"
        "Content-Type: text/plain; charset=UTF-8\r\n"
        "x-amz-sns-message-type: Notification\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode("ascii") + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    close = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        if key == "content-length":
            length = int(value.strip())
        elif key == "connection" and value.strip().lower() == "close":
            close = True
    body = await reader.readexactly(length) if length else b""
    return status, body, close


async def _run(host: str, port: int, requests: Sequence[bytes], concurrency: int) -> LoadResult:
    work: Iterator[bytes] = iter(requests)
    latencies: list[int] = []
    statuses: Counter[str] = Counter()
    errors: list[str] = []
    connections = [
        await asyncio.open_connection(host, port) for _ in range(min(concurrency, len(requests)))
    ]

    async def worker(
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        reader, writer = connection
        for request in work:
            started = time.perf_counter_ns()
            try:
                writer.write(request)
                await writer.drain()
                status, body, close = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError) as error:
                latencies.append(time.perf_counter_ns() - started)
                statuses["connection-error"] += 1
                if len(errors) < 5:
                    errors.append(f"{type(error).__name__}: {error}")
                close = True
            else:
                latencies.append(time.perf_counter_ns() - started)
                statuses[str(status)] += 1
                if status != 200 and len(errors) < 5:
                    errors.append(f"{status}: {body[:300].decode(errors='replace')}")
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(connection) for connection in connections))
    wall = time.perf_counter() - started
    return LoadResult(
        requests=len(requests),
        concurrency=len(connections),
        wall_seconds=wall,
        latencies_ns=latencies,
        statuses=dict(statuses),
        error_samples=errors,
    )


def run_load(
    host: str, port: int, path: str, bodies: Sequence[bytes], concurrency: int
) -> LoadResult:
    requests = [build_request(host, port, path, body) for body in bodies]
    return asyncio.run(_run(host, port, requests, concurrency))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--bodies", type=Path, required=True, help="one request body per line")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    bodies = [line for line in args.bodies.read_bytes().splitlines() if line]
    if not bodies:
        print(f"{args.bodies} holds no request bodies", file=sys.stderr)
        return 2
    if args.concurrency < 1:
        print("--concurrency must be at least 1", file=sys.stderr)
        return 2
    result = run_load(args.host, args.port, args.path, bodies, args.concurrency)
    args.out.write_text(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
