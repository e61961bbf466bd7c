"""HTTP load benchmark: `/suggest/stop` against `/healthz` on the same server and client.

The server is `execsvc serve` in a child process on a free loopback port (replay data,
embedded store); the client is aiohttp with `concurrency` requests in flight. Each endpoint is
measured for `seconds` after a warm-up; the figure that matters is the ratio of `/suggest/stop`
throughput to `/healthz` throughput (same server, same client, same run), plus its latency
percentiles.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import aiohttp

from execsvc.bench.figures import Figure, Section, Target

STOP_BODY = {"symbol": "BTCUSDT", "side": "long", "risk_usd": 500}


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(port: int) -> subprocess.Popen:
    env = {**os.environ, "EXECSVC_PORT": str(port), "EXECSVC_HOST": "127.0.0.1",
           "EXECSVC_LOG_LEVEL": "WARNING", "EXECSVC_WINDOWS": "7d", "EXECSVC_DATA_DIR": ""}
    env.pop("EXECSVC_REDIS_URL", None)
    return subprocess.Popen([sys.executable, "-m", "execsvc.cli", "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _wait_ready(base: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(f"{base}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the benchmark server did not become ready")


async def _load(base: str, method: str, path: str, body: dict | None, concurrency: int,
                seconds: float, warmup_s: float) -> LoadResult:
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one() -> None:
            nonlocal errors
            started = time.perf_counter()
            async with session.request(method, f"{base}{path}", json=body) as response:
                await response.read()
                if response.status != 200:
                    errors += 1
            latencies.append((time.perf_counter() - started) * 1000)

        async def client(stop_at: float) -> None:
            while time.perf_counter() < stop_at:
                await one()

        warm_until = time.perf_counter() + warmup_s
        await asyncio.gather(*(client(warm_until) for _ in range(concurrency)))
        latencies.clear()
        errors = 0
        started = time.perf_counter()
        await asyncio.gather(*(client(started + seconds) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return LoadResult(len(latencies), errors, elapsed, latencies)


def bench_suggest_stop(seconds: float = 5.0, concurrency: int = 16) -> Section:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(port)
    try:
        asyncio.run(_wait_ready(base))
        health = asyncio.run(_load(base, "GET", "/healthz", None, concurrency, seconds, 1.0))
        stop = asyncio.run(
            _load(base, "POST", "/suggest/stop", STOP_BODY, concurrency, seconds, 1.0)
        )
    finally:
        server.terminate()
        server.wait(timeout=10)

    def line(result: LoadResult) -> str:
        return (f"p50 {result.percentile(50):.2f} ms, p99 {result.percentile(99):.2f} ms, "
                f"errors {result.errors}")

    return Section(
        key="stop",
        title=(f"/suggest/stop under load: {concurrency} concurrent requests, {seconds:g} s "
               "each, one uvicorn process (execsvc serve), loopback"),
        figures=[
            Figure("/healthz", health.rps, "req/s", note=line(health)),
            Figure("/suggest/stop", stop.rps, "req/s",
                   note=f"{line(stop)}, median {statistics.median(stop.latencies_ms):.2f} ms"),
            Figure("/suggest/stop / /healthz", stop.rps / health.rps, "x", Target(">=", 0.6)),
            Figure("/suggest/stop p99", stop.percentile(99), "ms", Target("<=", 10.0)),
        ],
    )
