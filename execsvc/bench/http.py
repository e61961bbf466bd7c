"""HTTP load benchmarks, each endpoint against `/healthz` on the same server and client.

The server is `execsvc serve` in a child process on a free loopback port (replay data, 7d
maps); the client is aiohttp with that many connections, each sending one request after
another. The endpoints compared at one concurrency are measured in turns (`ROUNDS` slices of
`seconds / ROUNDS` each, round robin, each after a short warm-up) and each one's slices summed:
the machine's load drifts over a run (another process, the worker's recompute, CPU frequency),
and measured one after the other, a drift lands in the ratio of the one measured later.

- `stop` (`bench_suggest_stop`): `/suggest/stop` at 16 concurrent requests on the in-process
  store; the figures that matter are its throughput ratio to `/healthz` and its p99.
- `load` (`bench_load`): `/healthz`, `/readyz`, `/suggest/stop` and `/map` at 16, 64 and 256
  concurrent clients on a real Redis (`EXECSVC_REDIS_URL` when set, else the embedded Valkey
  server in a temporary data directory, removed afterwards), so the Redis connection pool is
  the one production runs: throughput, p50 and p99 latency, errors (any status but 200, and
  transport failures; target 0) and the throughput ratio to `/healthz`; and the CPU time the
  server's API process spent per request (Linux), which tells the server's cost from the
  client's (on two cores the client, inflating each gzip `/map` answer, is a large part of
  what the requests per second measure).
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from execsvc.bench.figures import Figure, Section, Target

STOP_BODY = {"symbol": "BTCUSDT", "side": "long", "risk_usd": 500}
Body = dict | Callable[[], dict] | None
ROUNDS = 5
FIRST_WARMUP_S = 1.0
WARMUP_S = 0.2


@dataclass(frozen=True)
class Endpoint:
    """One request to load: `label` names it in the figures; `body` is its JSON body, or
    makes a new one for each request; `headers` are sent with it."""

    label: str
    method: str
    path: str
    body: Body = None
    headers: dict[str, str] | None = None


HEALTHZ = Endpoint("/healthz", "GET", "/healthz")
MAP_PATH = "/map/BTCUSDT?window=7d"
MAP_GZIP = Endpoint("/map", "GET", MAP_PATH)
"""aiohttp asks for gzip (`Accept-Encoding: gzip, deflate`) and inflates each answer."""
MAP_IDENTITY = Endpoint("/map identity", "GET", MAP_PATH, headers={"Accept-Encoding": "identity"})
LOAD_ENDPOINTS: tuple[Endpoint, ...] = (
    HEALTHZ,
    Endpoint("/readyz", "GET", "/readyz"),
    Endpoint("/suggest/stop", "POST", "/suggest/stop", STOP_BODY),
    MAP_GZIP,
    MAP_IDENTITY,
)
LOAD_CLIENTS = (16, 64, 256)


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    server_cpu_s: float | None = None
    """CPU time (user + system) of the server's API process over the timed part, when known."""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def server_us_per_request(self) -> float:
        """The server's CPU time per request in microseconds (NaN when not measured)."""
        if self.server_cpu_s is None or not self.requests:
            return float("nan")
        return self.server_cpu_s / self.requests * 1e6

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms) or [float("nan")]
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    @classmethod
    def summed(cls, parts: list[LoadResult]) -> LoadResult:
        """The slices of one endpoint's load as one result (server CPU when every slice
        measured it)."""
        cpu = [p.server_cpu_s for p in parts]
        return cls(sum(p.requests for p in parts), sum(p.errors for p in parts),
                   sum(p.seconds for p in parts),
                   [ms for p in parts for ms in p.latencies_ms],
                   None if None in cpu else sum(c for c in cpu if c is not None))


def process_cpu_s(pid: int | None) -> float | None:
    """CPU seconds (user + system) process `pid` has used (Linux `/proc`), None elsewhere:
    the share of a run's machine the server itself took, apart from the client on the same
    cores."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(port: int, data_dir: str = "", log: Path | None = None,
                 redis_url: str | None = None, command: str = "serve",
                 settings: dict[str, str] | None = None) -> subprocess.Popen:
    """`execsvc <command>` (serve, api or worker) on `port`: on `redis_url`, else the embedded
    store in `data_dir` (empty: in-process); 7d maps unless `settings` (EXECSVC_* variables)
    say otherwise; stderr to `log`."""
    env = {**os.environ, "EXECSVC_PORT": str(port), "EXECSVC_HOST": "127.0.0.1",
           "EXECSVC_LOG_LEVEL": "WARNING", "EXECSVC_WINDOWS": "7d",
           "EXECSVC_DATA_DIR": data_dir, **(settings or {})}
    env.pop("EXECSVC_REDIS_URL", None)
    if redis_url:
        env["EXECSVC_REDIS_URL"] = redis_url
    stderr = subprocess.DEVNULL if log is None else log.open("ab")
    return subprocess.Popen([sys.executable, "-m", "execsvc.cli", command], env=env,
                            stdout=subprocess.DEVNULL, stderr=stderr)


async def _wait_ready(base: str, server: subprocess.Popen | None = None,
                      log: Path | None = None, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline and (server is None or server.poll() is None):
            try:
                async with session.get(f"{base}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    detail = log.read_text(errors="replace")[-1000:] if log is not None and log.exists() else ""
    raise RuntimeError(f"the benchmark server did not become ready {detail}".rstrip())


async def _load(base: str, endpoint: Endpoint, concurrency: int, seconds: float,
                warmup_s: float, server_pid: int | None = None) -> LoadResult:
    """`concurrency` clients sending `endpoint`'s request one after another for `seconds`
    after `warmup_s`; with `server_pid`, the CPU time that process used meanwhile."""
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        async def one() -> None:
            nonlocal errors
            started = time.perf_counter()
            try:
                body = endpoint.body
                payload = body() if callable(body) else body
                async with session.request(endpoint.method, f"{base}{endpoint.path}",
                                           json=payload, headers=endpoint.headers) as response:
                    await response.read()
                    ok = response.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            errors += not ok
            latencies.append((time.perf_counter() - started) * 1000)

        async def client(stop_at: float) -> None:
            while time.perf_counter() < stop_at:
                await one()

        warm_until = time.perf_counter() + warmup_s
        await asyncio.gather(*(client(warm_until) for _ in range(concurrency)))
        latencies.clear()
        errors = 0
        cpu_before = process_cpu_s(server_pid)
        started = time.perf_counter()
        await asyncio.gather(*(client(started + seconds) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu_after = process_cpu_s(server_pid)
    cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return LoadResult(len(latencies), errors, elapsed, latencies, cpu)


async def _in_turns(base: str, endpoints: tuple[Endpoint, ...], concurrency: int,
                    seconds: float, server_pid: int | None = None) -> dict[str, LoadResult]:
    """Each endpoint loaded for `seconds` in all, in `ROUNDS` turns (module docstring), by
    label."""
    slices: dict[str, list[LoadResult]] = {e.label: [] for e in endpoints}
    for turn in range(ROUNDS):
        for endpoint in endpoints:
            warmup = FIRST_WARMUP_S if turn == 0 else WARMUP_S
            slices[endpoint.label].append(await _load(
                base, endpoint, concurrency, seconds / ROUNDS, warmup, server_pid))
    return {label: LoadResult.summed(parts) for label, parts in slices.items()}


def _latencies(result: LoadResult) -> str:
    return (f"p50 {result.percentile(50):.2f} ms, p99 {result.percentile(99):.2f} ms, "
            f"errors {result.errors}")


async def _map_price(base: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(
            f"{base}/map/BTCUSDT?window=7d") as response:
        return float((await response.json())["price"])


def varied_stop_bodies(price: float, seed: int = 11) -> Callable[[], dict]:
    """Stop requests as a bot sends them: each with its own entry price (on the 0.1 tick,
    within 2 % of the map's `price`), side and risk."""
    rng = random.Random(seed)

    def body() -> dict:
        return {"symbol": "BTCUSDT", "side": rng.choice(("long", "short")),
                "risk_usd": rng.choice((100, 250, 500, 1000)),
                "entry_price": round(price * rng.uniform(0.98, 1.02), 1)}

    return body


def bench_suggest_stop(seconds: float = 5.0, concurrency: int = 16) -> Section:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(port)
    try:
        asyncio.run(_wait_ready(base, server))
        bodies = varied_stop_bodies(asyncio.run(_map_price(base)))
        varied_stop = Endpoint("varied", "POST", "/suggest/stop", bodies)
        repeated_stop = Endpoint("repeated", "POST", "/suggest/stop", STOP_BODY)
        results = asyncio.run(_in_turns(base, (HEALTHZ, varied_stop, repeated_stop),
                                        concurrency, seconds, server.pid))
        health, varied, repeated = (results[e.label]
                                    for e in (HEALTHZ, varied_stop, repeated_stop))
    finally:
        server.terminate()
        server.wait(timeout=10)

    return Section(
        key="stop",
        title=(f"/suggest/stop under load: {concurrency} concurrent requests, {seconds:g} s "
               f"each in {ROUNDS} turns, one uvicorn process (execsvc serve), loopback"),
        figures=[
            Figure("/healthz", health.rps, "req/s", note=_latencies(health)),
            Figure("/suggest/stop, varied entries", varied.rps, "req/s",
                   note=f"{_latencies(varied)}; every request its own entry price, side and "
                        "risk"),
            Figure("/suggest/stop varied / /healthz", varied.rps / health.rps, "x",
                   Target(">=", 0.6)),
            Figure("/suggest/stop varied p99", varied.percentile(99), "ms", Target("<=", 10.0)),
            Figure("/healthz / /suggest/stop varied server CPU per request",
                   health.server_us_per_request / varied.server_us_per_request, "x",
                   note=f"the server's CPU time per request: varied stops "
                        f"{varied.server_us_per_request:.0f} us, /healthz "
                        f"{health.server_us_per_request:.0f} us"),
            Figure("/suggest/stop, one repeated body", repeated.rps, "req/s",
                   note=f"{_latencies(repeated)}, x{repeated.rps / health.rps:.2f} of /healthz"),
        ],
    )


async def _load_levels(base: str, seconds: float, server_pid: int | None = None
                       ) -> dict[int, dict[str, LoadResult]]:
    return {clients: await _in_turns(base, LOAD_ENDPOINTS, clients, seconds, server_pid)
            for clients in LOAD_CLIENTS}


def bench_load(seconds: float = 5.0) -> Section:
    """Every endpoint of `LOAD_ENDPOINTS` at every concurrency of `LOAD_CLIENTS` (see the
    module docstring)."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    redis_url = os.environ.get("EXECSVC_REDIS_URL")
    with tempfile.TemporaryDirectory(prefix="execsvc-bench-") as data_dir:
        log = Path(data_dir) / "serve.log"
        server = start_server(port, str(Path(data_dir) / "store"), log, redis_url)
        try:
            asyncio.run(_wait_ready(base, server, log))
            results = asyncio.run(_load_levels(base, seconds, server.pid))
        finally:
            server.terminate()
            server.wait(timeout=30)
    figures = []
    for clients, by_label in results.items():
        health = by_label[HEALTHZ.label]
        for label, result in by_label.items():
            figures.append(Figure(f"{label} at {clients}", result.rps, "req/s",
                                  note=f"{_latencies(result)}, x{result.rps / health.rps:.2f}"
                                       " of /healthz"))
            figures.append(Figure(f"{label} at {clients}: errors", result.errors, "",
                                  Target("<=", 0)))
    health = results[16][HEALTHZ.label]
    for endpoint, how in ((MAP_GZIP, "gzip, inflated by the client"),
                          (MAP_IDENTITY, "identity: the client reads it as sent")):
        served = results[16][endpoint.label]
        figures.append(Figure(
            f"{endpoint.label} / /healthz at 16", served.rps / health.rps, "x", Target(">=", 0.6),
            note=f"the 7d BTCUSDT document (about 100 KB; {how})"))
        figures.append(Figure(
            f"/healthz / {endpoint.label} server CPU per request at 16",
            health.server_us_per_request / served.server_us_per_request, "x",
            note=f"the API process's CPU time per request: {endpoint.label} "
                 f"{served.server_us_per_request:.0f} us, /healthz "
                 f"{health.server_us_per_request:.0f} us"))
    store = "EXECSVC_REDIS_URL" if redis_url else "the embedded Valkey server"
    return Section(
        key="load",
        title=(f"HTTP under load: {', '.join(map(str, LOAD_CLIENTS))} concurrent clients, "
               f"{seconds:g} s per figure in {ROUNDS} turns, one uvicorn process on {store}, "
               "loopback"),
        figures=figures,
        notes=["errors: any status but 200 and transport failures (a readiness probe that "
               "fails under load pulls the pod at peak traffic)"],
    )
