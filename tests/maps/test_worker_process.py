"""The worker of `execsvc serve` in a process of its own: maps stored from there, a clean
stop (leases released, registry left); on the API's loop only with the in-process store or a
source object."""

from __future__ import annotations

import asyncio
import os

from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from execsvc.maps import worker_process
from execsvc.maps.worker import MapWorker
from execsvc.maps.worker_process import WorkerProcess
from execsvc.market.replay import ReplaySource
from execsvc.runtime import make_store, worker_off_the_loop
from execsvc.settings import Settings
from execsvc.store import BandStore

CONFIG = Settings(_env_file=None, symbols="BTCUSDT,ETHUSDT", windows="1d,7d",
                  refresh_interval_s=0.2, log_level="WARNING")


async def until_stored(store: BandStore, symbol: str, version: int,
                       timeout_s: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        fresh = await store.map_freshness("hyperliquid", symbol, "7d")
        if fresh is not None and fresh.version >= version:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no map version {version} of {symbol} within {timeout_s} s")


async def test_the_worker_refreshes_from_its_own_process_and_stops_cleanly(
        redis_client: Redis) -> None:
    store = BandStore(redis_client, prefix="p12")
    worker = worker_off_the_loop(CONFIG, store, CollectorRegistry())
    assert isinstance(worker, WorkerProcess)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await until_stored(store, "ETHUSDT", 2)  # it goes on ticking: this loop only waits
    assert worker.process is not None and worker.process.is_alive()
    assert worker.process.pid != os.getpid()
    assert len(await store.live_workers()) == 1
    stop.set()
    await asyncio.wait_for(running, 60)
    assert worker.process.exitcode == 0
    assert await store.live_workers() == []  # a clean stop leaves the registry
    assert await redis_client.keys("p12:lease:*") == []


async def test_a_stop_before_the_start_starts_nothing(redis_client: Redis) -> None:
    worker = worker_off_the_loop(CONFIG, BandStore(redis_client), CollectorRegistry())
    stop = asyncio.Event()
    stop.set()
    await asyncio.wait_for(worker.run(stop), 60)
    assert worker.process is None


def record_start_and_exit(path: str, code: int, parent_pid: int) -> None:
    """A child main that records its start and its parent, then ends with `code`."""
    with open(path, "a") as out:
        out.write(f"{parent_pid}\n")
    raise SystemExit(code)


async def test_a_child_that_ends_by_itself_is_started_again(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(worker_process, "RESTART_S", 0.05)
    starts = tmp_path / "starts"
    worker = WorkerProcess(record_start_and_exit, str(starts), 3)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    deadline = asyncio.get_running_loop().time() + 60
    while not starts.exists() or len(starts.read_text().split()) < 2:
        assert asyncio.get_running_loop().time() < deadline, "not started again"
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(running, 60)
    assert set(starts.read_text().split()) == {str(os.getpid())}
    assert worker.process is not None and not worker.process.is_alive()


def test_the_in_process_store_or_a_source_object_keeps_the_worker_on_the_loop(
        redis_server) -> None:
    assert isinstance(worker_off_the_loop(CONFIG, make_store(CONFIG), CollectorRegistry()),
                      MapWorker)
    store = BandStore(Redis.from_url(redis_server.url))
    source = ReplaySource(speed=720, symbols=["BTCUSDT", "ETHUSDT"])
    assert isinstance(worker_off_the_loop(CONFIG, store, CollectorRegistry(), source),
                      MapWorker)
