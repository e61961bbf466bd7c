"""The worker of `execsvc serve` off the API's event loop: its own thread, loop and Redis
client, maps stored from there, a clean stop; on the API's loop only with the in-process
store."""

from __future__ import annotations

import asyncio
import threading

from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from execsvc.maps.worker import MapWorker
from execsvc.maps.worker_thread import WorkerThread
from execsvc.runtime import make_store, worker_off_the_loop
from execsvc.settings import Settings
from execsvc.store import BandStore

CONFIG = Settings(_env_file=None, symbols="BTCUSDT,ETHUSDT", windows="1d,7d",
                  refresh_interval_s=0.2)


async def until_stored(store: BandStore, symbol: str, version: int,
                       timeout_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        fresh = await store.map_freshness("binanceusdm", symbol, "7d")
        if fresh is not None and fresh.version >= version:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no map version {version} of {symbol} within {timeout_s} s")


async def test_the_worker_refreshes_from_its_own_thread_and_stops_cleanly(
        redis_client: Redis) -> None:
    store = BandStore(redis_client)
    worker = worker_off_the_loop(CONFIG, store, CollectorRegistry())
    assert isinstance(worker, WorkerThread)
    assert worker.worker.store.redis is not store.redis
    assert worker.worker.store.prefix == store.prefix
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await until_stored(store, "ETHUSDT", 2)  # ticks go on while this loop waits
    assert worker.thread is not None and worker.thread is not threading.current_thread()
    assert worker.thread.is_alive()
    stop.set()
    await asyncio.wait_for(running, 30)
    assert not worker.thread.is_alive()
    assert await store.live_workers() == []  # a clean stop leaves the registry


async def test_a_stop_before_the_first_tick_ends_the_thread(redis_client: Redis) -> None:
    worker = worker_off_the_loop(CONFIG, BandStore(redis_client), CollectorRegistry())
    stop = asyncio.Event()
    stop.set()
    await asyncio.wait_for(worker.run(stop), 30)
    assert worker.thread is not None and not worker.thread.is_alive()


def test_with_the_in_process_store_the_worker_stays_on_the_loop() -> None:
    worker = worker_off_the_loop(CONFIG, make_store(CONFIG), CollectorRegistry())
    assert isinstance(worker, MapWorker)
