"""A small closed-loop HTTP/1.1 load generator (the fallback when ``wrk`` is absent).

Each connection sends a request, waits for the whole response, records the latency, and sends
the next one (keep-alive), like ``wrk``: ``concurrency`` = connections in flight. Requests are
pre-encoded bytes and responses are parsed just enough (status line, ``Content-Length``) to
keep the generator's own cost low; it still costs more CPU than ``wrk``, and on a 2-core box
that CPU is taken from the server, so figures measured with it are lower bounds.

Several processes (``processes > 1``) split the connections between them, so the generator is
not limited to one core at high concurrency. Used by ``benchmarks/api_bench.py`` and by the
loopback load test (``tests/api/test_load.py``).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import uvloop  # ships with uvicorn[standard], a serving dependency


def http_request(
    method: str, path: str, body: bytes = b"", host: str = "127.0.0.1", port: int = 8000
) -> bytes:
    """A keep-alive HTTP/1.1 request as raw bytes (JSON body when given)."""
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode("ascii") + body


@dataclass
class LoadResult:
    """Outcome of one run: latencies (seconds) of completed requests, status counts, errors."""

    elapsed: float
    latencies: np.ndarray
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0  # connection/protocol failures (no HTTP status)
    bad_bodies: int = 0  # 200 answers whose body failed the caller's check

    @property
    def n(self) -> int:
        return int(self.latencies.size)

    @property
    def non_2xx(self) -> int:
        return sum(v for k, v in self.statuses.items() if not 200 <= k < 300)

    @property
    def rps(self) -> float:
        return self.n / self.elapsed if self.elapsed > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies, q) * 1e3) if self.n else float("nan")

    @staticmethod
    def merge(parts: Sequence[LoadResult]) -> LoadResult:
        statuses: dict[int, int] = {}
        for p in parts:
            for k, v in p.statuses.items():
                statuses[k] = statuses.get(k, 0) + v
        return LoadResult(
            elapsed=max((p.elapsed for p in parts), default=0.0),
            latencies=np.concatenate([p.latencies for p in parts]) if parts else np.empty(0),
            statuses=statuses,
            errors=sum(p.errors for p in parts),
            bad_bodies=sum(p.bad_bodies for p in parts),
        )


async def _connection(
    host: str,
    port: int,
    requests: Sequence[bytes],
    expect: bytes | None,
    start: int,
    deadline: float,
    warmup_until: float,
    max_requests: int | None,
    out: LoadResult,
    lat: list[float],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = start
    sent = 0
    try:
        while True:
            now = time.perf_counter()
            if now >= deadline or (max_requests is not None and sent >= max_requests):
                return
            req = requests[i % len(requests)]
            i += 1
            sent += 1
            t0 = time.perf_counter()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
                    break
            body = await reader.readexactly(length) if length else b""
            t1 = time.perf_counter()
            if t0 < warmup_until:
                continue
            lat.append(t1 - t0)
            out.statuses[status] = out.statuses.get(status, 0) + 1
            if expect is not None and status == 200 and expect not in body:
                out.bad_bodies += 1
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
        out.errors += 1
    finally:
        writer.close()


async def _run(
    host: str,
    port: int,
    requests: Sequence[bytes],
    concurrency: int,
    duration: float | None,
    warmup: float,
    n_requests: int | None,
    expect: bytes | None,
    offset: int,
) -> LoadResult:
    out = LoadResult(elapsed=0.0, latencies=np.empty(0))
    lat: list[float] = []
    t_start = time.perf_counter()
    warmup_until = t_start + warmup
    deadline = t_start + warmup + duration if duration is not None else float("inf")
    per_conn = None if n_requests is None else -(-n_requests // concurrency)
    await asyncio.gather(
        *(
            _connection(
                host,
                port,
                requests,
                expect,
                offset + k,
                deadline,
                warmup_until,
                per_conn,
                out,
                lat,
            )
            for k in range(concurrency)
        )
    )
    out.elapsed = time.perf_counter() - max(t_start + warmup, t_start)
    out.latencies = np.asarray(lat)
    return out


def _worker(args: tuple[Any, ...]) -> LoadResult:
    return uvloop.run(_run(*args))


def run_load(
    host: str,
    port: int,
    requests: Sequence[bytes],
    *,
    concurrency: int,
    duration: float | None = None,
    warmup: float = 0.0,
    n_requests: int | None = None,
    expect: bytes | None = None,
    processes: int = 1,
) -> LoadResult:
    """Drive ``host:port`` with ``requests`` (cycled) on ``concurrency`` keep-alive connections.

    Stops after ``duration`` seconds (after ``warmup`` seconds whose requests are not counted)
    or ``n_requests`` requests. ``expect``: bytes every 200 body must contain (e.g. the
    expected decision), counted in ``bad_bodies`` otherwise.
    """
    if duration is None and n_requests is None:
        raise ValueError("give duration or n_requests")
    processes = max(1, min(processes, concurrency))
    shares = [concurrency // processes + (k < concurrency % processes) for k in range(processes)]
    n_shares = (
        [None] * processes
        if n_requests is None
        else [n_requests * s // concurrency for s in shares]
    )
    jobs = [
        (host, port, requests, s, duration, warmup, n, expect, 1000 * k)
        for k, (s, n) in enumerate(zip(shares, n_shares, strict=True))
    ]
    if processes == 1:
        return _worker(jobs[0])
    with mp.get_context("fork").Pool(processes) as pool:
        return LoadResult.merge(pool.map(_worker, jobs))
